"""The worker pool: a client that leaves cancels its turn; shutdown finishes the turns in flight."""
from __future__ import annotations

import json
import threading
import time

from starlette.testclient import TestClient

from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.server.app import create_app
from agentspec.server.pool import Job
from agentspec.server.settings import ServeSettings

from test_server_api import _ready, tiny_shop

LONG_REPLY = json.dumps({"reply": " ".join(f"word{i}" for i in range(50))})


class Gate:
    """A scripted model step that waits until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, messages: list[dict]) -> str:
        self.entered.set()
        assert self.open.wait(10)
        return LONG_REPLY


def _app(tmp_path, gate: Gate, **changes):
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(tiny_shop()))
    settings = ServeSettings(data=str(db), rate_per_minute=0, **changes)
    return create_app(settings, load_model=lambda spec: ScriptedChatModel(context_length=8192, default_reply=gate))


def _services(client: TestClient):
    return client.app.state.services


def _new_conversation(services) -> str:
    """A new conversation (its record; the session starts on the first message)."""
    record = services.conversations.create("retail", "owner")
    return record["id"]


def test_a_client_that_leaves_stops_its_turn_and_the_conversation_goes_on(tmp_path):
    gate = Gate()
    with TestClient(_app(tmp_path, gate)) as client:
        s = _services(client)
        _ready(client)
        conv = _new_conversation(s)
        events: list[dict] = []
        job = s.pool.submit(Job(conversation=conv, spec="retail", action="send", payload="hello there",
                                emit=events.append))
        assert gate.entered.wait(10)
        job.cancel()  # the client left while the model was deciding
        gate.open.set()
        assert job.done.wait(10)
        assert job.error is not None and job.error.code == "cancelled" and job.result is None
        assert not any(e["event"] == "reply" for e in events)
        # The stopped turn left no reply behind, and the next message is answered as usual.
        after = s.pool.submit(Job(conversation=conv, spec="retail", action="send", payload="hello again"))
        assert after.done.wait(10) and after.error is None and after.result["reply"]
        from agentspec.server.history import read_checkpoint
        from agentspec.server.turns import visible_messages

        shown = visible_messages(read_checkpoint(s.backing, conv)["messages"])
        assert [m["role"] for m in shown] == ["user", "user", "assistant"]


def test_a_queued_job_whose_client_left_never_runs(tmp_path):
    gate = Gate()
    with TestClient(_app(tmp_path, gate)) as client:
        s = _services(client)
        _ready(client)
        first = s.pool.submit(Job(conversation=_new_conversation(s), spec="retail", action="send", payload="one"))
        assert gate.entered.wait(10)
        queued = s.pool.submit(Job(conversation=_new_conversation(s), spec="retail", action="send", payload="two"))
        queued.cancel()
        gate.open.set()
        assert first.done.wait(10) and queued.done.wait(10)
        assert first.error is None and queued.error.code == "cancelled" and queued.started_at is None


def test_shutdown_finishes_the_turns_in_flight_and_refuses_new_ones(tmp_path):
    gate = Gate()
    client = TestClient(_app(tmp_path, gate, shutdown_timeout_s=10))
    client.__enter__()
    s = _services(client)
    _ready(client)
    running = s.pool.submit(Job(conversation=_new_conversation(s), spec="retail", action="send", payload="one"))
    queued = s.pool.submit(Job(conversation=_new_conversation(s), spec="retail", action="send", payload="two"))
    assert gate.entered.wait(10)
    closer = threading.Thread(target=client.__exit__, args=(None, None, None))
    closer.start()  # SIGTERM: uvicorn runs the app's shutdown
    time.sleep(0.3)
    assert not s.pool.accepting
    gate.open.set()
    closer.join(20)
    assert not closer.is_alive()
    assert running.error is None and running.result["reply"]
    assert queued.error is None and queued.result["reply"]
