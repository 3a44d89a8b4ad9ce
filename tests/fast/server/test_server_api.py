"""The HTTP API of ``agentspec serve`` on the real app, pool, backing and graph, with scripted models.

The scripted agent plays a cancel: it authenticates by email, reads the profile and the order, and
asks for the cancel; the graph states it and runs it on the customer's yes (as in tests/fast/graph).
"""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
from starlette.testclient import TestClient

from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.server.app import create_app
from agentspec.server.settings import ServeSettings


def _graph_fixtures():
    """The graph tests' fixture module (its tiny shop), loaded under its own name."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "graph" / "conftest.py"
    spec = importlib.util.spec_from_file_location("graph_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny_shop = _graph_fixtures().tiny_shop

CANCEL = "Please cancel my order #W0000002, I ordered it by mistake. My email is alice@example.com"


def _call(name: str, **arguments) -> str:
    return json.dumps({"calls": [{"name": name, "arguments": arguments}]})


def scripted_agent(messages: list[dict]) -> str:
    """One model step from what the conversation shows so far."""
    seen = " ".join(m.get("content") or "" for m in messages if m["role"] == "user")
    said = " ".join(m.get("content") or "" for m in messages
                    if m["role"] == "user" and not (m.get("content") or "").startswith("Tool result of"))
    if "Tool result of find_user_id_by_email" not in seen and "@" in said:
        email = re.search(r"[\w.]+@[\w.]+\w", said).group(0)
        return _call("find_user_id_by_email", email=email)
    if "human" in said:
        return _call("transfer_to_human_agents", summary="The customer asks for a person.")
    if "#W0000002" not in said:
        return json.dumps({"reply": "How can I help you today?"})
    if "Tool result of get_user_details" not in seen:
        return _call("get_user_details", user_id="alice_smith_1001")
    if "Tool result of get_order_details" not in seen:
        return _call("get_order_details", order_id="#W0000002")
    if "cancel" in said:
        return _call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake")
    return json.dumps({"reply": "How can I help you today?"})


@pytest.fixture
def settings(tmp_path) -> ServeSettings:
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(tiny_shop()))
    return ServeSettings(data=str(db), workers=1, queue=4, rate_per_minute=0)


def _client(settings: ServeSettings, model_factory=None) -> TestClient:
    factory = model_factory or (lambda spec: ScriptedChatModel(context_length=8192, default_reply=scripted_agent))
    return TestClient(create_app(settings, load_model=factory))


def _keys(client: TestClient) -> tuple[dict, dict]:
    ring = client.app.state.services.keys
    integration = {"Authorization": f"Bearer {ring.add('shop', 'integration')}"}
    operator = {"Authorization": f"Bearer {ring.add('desk', 'operator')}"}
    return integration, operator


def _ready(client: TestClient) -> None:
    deadline = time.monotonic() + 20
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.05)


def _events(response) -> list[dict]:
    out = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append({"event": lines["event"], **json.loads(lines["data"])})
    return out


def test_a_cancel_through_the_session_api_streams_its_events_and_runs_once(settings):
    with _client(settings) as client:
        key, _ = _keys(client)
        _ready(client)
        conv = client.post("/v1/conversations", headers=key, json={}).json()
        stated = _events(client.post(f"/v1/conversations/{conv['id']}/messages", headers=key,
                                     json={"content": CANCEL}))
        kinds = [e["event"] for e in stated]
        assert kinds[:2] == ["tool_call", "tool_result"] and kinds[-3:] == ["confirm", "reply", "done"]
        assert stated[-3]["statement"].startswith("I'm about to cancel order #W0000002")
        assert "token" not in kinds  # the reply is the graph's statement, not a model reply

        done = client.post(f"/v1/conversations/{conv['id']}/messages", headers=key,
                           json={"content": "yes", "stream": False}).json()
        results = [e for e in done["events"] if e["event"] == "tool_result"]
        assert [(e["name"], e["outcome"]) for e in results] == [("cancel_pending_order", "ok")]
        assert "cancelled" in done["reply"]

        read = client.get(f"/v1/conversations/{conv['id']}", headers=key).json()
        assert read["user_id"] == "alice_smith_1001"
        assert [m["role"] for m in read["messages"]] == ["user", "assistant", "user", "assistant"]
        assert read["messages"][2]["content"] == "yes"
        trace = client.get(f"/v1/conversations/{conv['id']}/trace", headers=key).json()["trace"]
        cancels = [e for e in trace if e["kind"] == "tool" and e["calls"][0]["name"] == "cancel_pending_order"]
        assert [e["outcome"] for e in cancels] == ["ok"]


def test_model_replies_stream_as_token_drafts_then_the_reply(settings):
    with _client(settings) as client:
        key, _ = _keys(client)
        _ready(client)
        conv = client.post("/v1/conversations", headers=key).json()
        # Authenticated first, so the model's own reply is the answer (no identity request replaces it).
        client.post(f"/v1/conversations/{conv['id']}/messages", headers=key,
                    json={"content": "hello, alice@example.com here", "stream": False})
        events = _events(client.post(f"/v1/conversations/{conv['id']}/messages", headers=key,
                                     json={"content": "thanks"}))
        tokens = "".join(e["text"] for e in events if e["event"] == "token")
        reply = next(e for e in events if e["event"] == "reply")
        assert tokens == reply["text"] == "How can I help you today?"


def test_another_key_cannot_see_or_use_a_conversation(settings):
    with _client(settings) as client:
        key, operator = _keys(client)
        other = {"Authorization": f"Bearer {client.app.state.services.keys.add('other', 'integration')}"}
        conv = client.post("/v1/conversations", headers=key).json()
        for headers in (other,):
            assert client.get(f"/v1/conversations/{conv['id']}", headers=headers).status_code == 404
            r = client.post(f"/v1/conversations/{conv['id']}/messages", headers=headers, json={"content": "hi"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_conversation"
        assert client.get(f"/v1/conversations/{conv['id']}", headers=operator).json()["error"]["code"] == "wrong_role"
        assert client.get("/v1/conversations", headers=other).json() == {"data": []}


@pytest.mark.parametrize("request_kwargs, status, code", [
    ({"headers": {}}, 401, "missing_key"),
    ({"headers": {"Authorization": "Bearer as_i_nope"}}, 401, "bad_key"),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "bad_json"),
    ({"json": {"content": ""}}, 400, "bad_request"),
    ({"json": {"content": "x" * 70_000}}, 413, "body_too_large"),
])
def test_bad_requests_get_a_clear_4xx(settings, request_kwargs, status, code):
    with _client(settings) as client:
        key, _ = _keys(client)
        conv = client.post("/v1/conversations", headers=key).json()
        kwargs = {"headers": key, **request_kwargs}
        r = client.post(f"/v1/conversations/{conv['id']}/messages", **kwargs)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code and "Traceback" not in r.text


def test_unknown_session_and_spec(settings):
    with _client(settings) as client:
        key, _ = _keys(client)
        r = client.post("/v1/conversations/c-000000000000000000000000/messages", headers=key, json={"content": "hi"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_conversation"
        assert client.get("/v1/conversations/../../etc/passwd", headers=key).status_code == 404
        r = client.post("/v1/conversations", headers=key, json={"spec": "nope"})
        assert r.status_code == 404 and "retail" in r.json()["error"]["hint"]
        r = client.post("/v1/chat/completions", headers=key, json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_spec"


def test_openai_clients_continue_a_conversation_by_sending_back_its_history(settings):
    with _client(settings) as client:
        key, _ = _keys(client)
        assert [m["id"] for m in client.get("/v1/models", headers=key).json()["data"]] == ["retail"]
        messages = [{"role": "system", "content": "ignored"}, {"role": "user", "content": CANCEL}]
        first = client.post("/v1/chat/completions", headers=key, json={"model": "retail", "messages": messages})
        body = first.json()
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"].startswith("I'm about to")
        messages += [body["choices"][0]["message"], {"role": "user", "content": "yes"}]
        second = client.post("/v1/chat/completions", headers=key, json={"model": "retail", "messages": messages})
        assert second.headers["x-conversation-id"] == first.headers["x-conversation-id"]
        assert "cancelled" in second.json()["choices"][0]["message"]["content"]
        # A history no conversation has is refused, not run again from the start.
        forged = messages[:2] + [{"role": "assistant", "content": "something else"}, {"role": "user", "content": "yes"}]
        r = client.post("/v1/chat/completions", headers=key, json={"model": "retail", "messages": forged})
        assert r.status_code == 409 and r.json()["error"]["code"] == "unknown_history"
        stream = client.post("/v1/chat/completions", headers=key, json={
            "model": "retail", "stream": True, "messages": [{"role": "user", "content": "hi there"}]})
        lines = [line for line in stream.text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        content = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "") for line in lines[:-1])
        assert content  # the reply (here the graph's request for identity)


def test_a_handoff_goes_to_the_operator_queue_and_back(settings):
    with _client(settings) as client:
        key, operator = _keys(client)
        conv = client.post("/v1/conversations", headers=key).json()["id"]
        done = client.post(f"/v1/conversations/{conv}/messages", headers=key,
                           json={"content": "alice@example.com, I want a human please", "stream": False}).json()
        assert done["holder"] == "human"
        queue = client.get("/v1/operator/handoffs", headers=operator).json()["data"]
        assert [c["id"] for c in queue] == [conv] and queue[0]["handoff"]["summary"]
        # While a person holds it, the customer's messages wait for them; the model is not asked.
        waiting = client.post(f"/v1/conversations/{conv}/messages", headers=key,
                              json={"content": "hello?", "stream": False}).json()
        assert waiting["reply"] is None and [e["event"] for e in waiting["events"]] == ["queued"]
        seen = client.get(f"/v1/operator/conversations/{conv}", headers=operator).json()["messages"]
        assert seen[-1] == {"role": "user", "content": "hello?"}
        client.post(f"/v1/operator/handoffs/{conv}/messages", headers=operator, json={"content": "Hi, Dana here."})
        customer = client.get(f"/v1/conversations/{conv}", headers=key).json()["messages"]
        assert customer[-1] == {"role": "assistant", "content": "Hi, Dana here.", "operator": "desk"}
        client.post(f"/v1/operator/handoffs/{conv}/close", headers=operator)
        assert client.get("/v1/operator/handoffs", headers=operator).json()["data"] == []
        assert client.get(f"/v1/conversations/{conv}", headers=key).json()["holder"] == "agent"
        assert client.get("/v1/operator/handoffs", headers=key).status_code == 403


def test_operator_approval_is_a_typed_endpoint(settings):
    settings = settings.model_copy(update={"approve": True})
    with _client(settings) as client:
        key, operator = _keys(client)
        conv = client.post("/v1/conversations", headers=key).json()["id"]
        client.post(f"/v1/conversations/{conv}/messages", headers=key, json={"content": CANCEL, "stream": False})
        stopped = client.post(f"/v1/conversations/{conv}/messages", headers=key,
                              json={"content": "yes", "stream": False}).json()
        assert stopped["approval"]["call"]["name"] == "cancel_pending_order"
        assert [c["id"] for c in client.get("/v1/operator/approvals", headers=operator).json()["data"]] == [conv]
        r = client.post(f"/v1/conversations/{conv}/messages", headers=key, json={"content": "hi", "stream": False})
        assert r.status_code == 409 and r.json()["error"]["code"] == "approval_pending"
        bad = client.post(f"/v1/operator/approvals/{conv}", headers=operator, json={"type": "maybe"})
        assert bad.status_code == 400
        done = client.post(f"/v1/operator/approvals/{conv}", headers=operator, json={"type": "accept"}).json()
        assert [(e["name"], e["outcome"]) for e in done["events"] if e["event"] == "tool_result"] == [
            ("cancel_pending_order", "ok")]
        assert client.get("/v1/operator/approvals", headers=operator).json()["data"] == []


def test_a_full_queue_answers_429_with_retry_after_and_nothing_hangs(settings):
    release = threading.Event()

    def slow(messages):
        release.wait(10)
        return json.dumps({"reply": "ok"})

    settings = settings.model_copy(update={"queue": 1})
    with _client(settings, lambda spec: ScriptedChatModel(context_length=8192, default_reply=slow)) as client:
        key, _ = _keys(client)
        _ready(client)
        convs = [client.post("/v1/conversations", headers=key).json()["id"] for _ in range(4)]
        results: dict[str, int] = {}

        def send(conv: str) -> None:
            r = client.post(f"/v1/conversations/{conv}/messages", headers=key,
                            json={"content": "alice@example.com", "stream": False})
            results[conv] = r.status_code
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "queue_full"

        threads = [threading.Thread(target=send, args=(c,)) for c in convs]
        for t in threads:
            t.start()
            time.sleep(0.3)  # one running, one queued, then the queue is full
        release.set()
        for t in threads:
            t.join(20)
        assert not any(t.is_alive() for t in threads)
        assert sorted(results.values()) == [200, 200, 429, 429]
        metrics = client.get("/metrics").text
        assert 'agentspec_rejected_total{reason="queue_full"} 2' in metrics
        assert "agentspec_queue_depth 0" in metrics


def test_rate_limit_per_key(settings):
    settings = settings.model_copy(update={"rate_per_minute": 3})
    with _client(settings) as client:
        key, _ = _keys(client)
        codes = [client.get("/v1/conversations", headers=key).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/v1/conversations", headers=key)
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


def test_keys_are_stored_hashed(settings):
    with _client(settings) as client:
        ring = client.app.state.services.keys
        key = ring.add("hashed", "integration")
        stored = json.dumps([i.value for i in client.app.state.services.backing.store.search(("agentspec", "keys"))])
        assert key not in stored and key[8:] not in stored
        assert ring.verify(key).name == "hashed" and ring.verify(key + "x") is None
        assert ring.revoke("hashed") and ring.verify(key) is None
