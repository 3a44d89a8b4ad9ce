"""Two ``agentspec serve`` replicas on one PostgreSQL continue each other's conversations."""
from __future__ import annotations

import json

from starlette.testclient import TestClient

from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.server.app import create_app
from agentspec.server.settings import ServeSettings

from pg_cluster import postgres_dsn  # noqa: F401
from test_server_api import CANCEL, _events, _ready, scripted_agent, tiny_shop


def _replica(settings: ServeSettings) -> TestClient:
    return TestClient(create_app(settings, load_model=lambda spec: ScriptedChatModel(
        context_length=8192, default_reply=scripted_agent)))


def test_a_conversation_started_on_one_replica_is_finished_on_the_other(postgres_dsn, tmp_path):
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(tiny_shop()))
    settings = ServeSettings(data=str(db), rate_per_minute=0, database=postgres_dsn)
    with _replica(settings) as a, _replica(settings) as b:
        key = {"Authorization": f"Bearer {a.app.state.services.keys.add('shop', 'integration')}"}
        _ready(a)
        _ready(b)
        conv = a.post("/v1/conversations", headers=key).json()["id"]
        stated = _events(a.post(f"/v1/conversations/{conv}/messages", headers=key, json={"content": CANCEL}))
        assert stated[-3]["event"] == "confirm"
        # The key, the record and the checkpoint are PostgreSQL's: replica B knows all three.
        done = b.post(f"/v1/conversations/{conv}/messages", headers=key,
                      json={"content": "yes", "stream": False}).json()
        assert [(e["name"], e["outcome"]) for e in done["events"] if e["event"] == "tool_result"] == [
            ("cancel_pending_order", "ok")]
        seen_by_a = a.get(f"/v1/conversations/{conv}", headers=key).json()
        assert [m["content"] for m in seen_by_a["messages"]][2:] == ["yes", done["reply"]]
        assert seen_by_a["user_id"] == "alice_smith_1001"
        # Nothing of the conversation went to a local checkpoint file: the replicas share one store.
        from agentspec.graph.session import sessions_dir

        assert not (sessions_dir() / conv / "checkpoints.sqlite").exists()
