"""Sessions persist: a new process resumes the conversation and the store; approvals survive a restart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentspec.graph import AgentSession
from agentspec.graph.guard import approved
from agentspec.graph.session import list_sessions, read_session_trace, sessions_dir
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.tools.retail import RetailStore

from conftest import call, reply

CANCEL = {"order_id": "#W0000002", "reason": "ordered by mistake"}

TESTS = Path(__file__).resolve().parents[2]  # tests/: fake_reader.py

# One process = one turn: a scripted model answers with the steps given on the command line; the keyword
# reader reads the messages (the fast tier never loads the trained one, in this process or another).
SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[5])
    from fake_reader import KeywordReader
    from agentspec.graph import AgentSession
    from agentspec.runtime.scripted import ScriptedChatModel
    from agentspec.spec import load_spec

    name, db, text, steps = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    with AgentSession(load_spec("retail"), name=name, model=ScriptedChatModel(steps), data=db,
                      reader=KeywordReader()) as s:
        seen = len(s.history())
        result = s.send(text)
        print(json.dumps({"seen": seen, "reply": result.reply, "user": s.state.get("user_id"),
                          "calls": [c["name"] for c in result.tool_calls]}))
""")


def run_turn(tmp_path, name, db, text, steps):
    script = tmp_path / "turn.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), name, str(db), text, json.dumps(steps), str(TESTS)],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_session_resumes_in_a_new_process(tmp_path, spec, shop_db):
    steps = [call("find_user_id_by_email", email="alice@example.com"),
             call("get_order_details", order_id="#W0000002"), call("cancel_pending_order", **CANCEL)]
    with AgentSession(spec, name="persist", model=ScriptedChatModel(steps), data=shop_db) as s:
        first = s.send("cancel #W0000002, I'm alice@example.com, I ordered it by mistake")
        assert first.reply.startswith("I'm about to cancel order #W0000002")
    # A new process: no model step is needed, the pending action and the user come from the checkpoint.
    second = run_turn(tmp_path, "persist", shop_db, "yes", [])
    assert second["seen"] == 4  # user, the lookup's step and observation, the statement: as the first process left it
    assert second["user"] == "alice_smith_1001"
    assert second["calls"] == ["cancel_pending_order"]
    assert second["reply"].startswith("Order #W0000002 has been cancelled")  # the graph's report
    # The write persisted in the session's own store, not in the db.json it started from.
    with RetailStore.open(sessions_dir() / "persist" / "retail.sqlite") as store:
        assert json.loads(store.invoke("get_order_details", {"order_id": "#W0000002"}))["status"] == "cancelled"
    assert json.loads(shop_db.read_text())["orders"]["#W0000002"]["status"] == "pending"
    assert [m["name"] for m in list_sessions()] == ["persist"]
    assert any(e["kind"] == "tool" for e in read_session_trace("persist"))


def test_interrupted_approval_resumes_after_restart(spec, shop_db):
    steps = [call("find_user_id_by_email", email="alice@example.com"), call("cancel_pending_order", **CANCEL)]
    with AgentSession(spec, name="appr", model=ScriptedChatModel(steps), data=shop_db, approve=True) as s:
        s.send("cancel #W0000002, alice@example.com, I ordered it by mistake")
        paused = s.send("yes")  # the user confirmed; now the operator must approve
        assert paused.reply is None and paused.approval["call"] == {"name": "cancel_pending_order",
                                                                    "arguments": CANCEL}
        assert "cancel order #W0000002" in paused.approval["statement"]
        status = json.loads(s.deps.toolkits["get_order_details"].invoke("get_order_details",
                                                                        {"order_id": "#W0000002"}))["status"]
        assert status == "pending"
    # Restart: the approval is still waiting; answering it finishes the turn.
    model = ScriptedChatModel([])  # the approved write is reported by the graph: no model step
    with AgentSession(spec, name="appr", model=model, data=shop_db, approve=True) as s:
        assert s.pending_approval()["call"]["name"] == "cancel_pending_order"
        done = s.resume({"type": "accept"})
        assert done.reply.startswith("Order #W0000002 has been cancelled") and [
            c["name"] for c in done.tool_calls] == ["cancel_pending_order"]
        assert s.pending_approval() is None


@pytest.mark.parametrize("answer", ["no", "yes", {"type": "ignore"}])
def test_operator_refusal_ends_the_turn_and_the_customer_hears_it(spec, shop_db, answer):
    # Anything but a typed accept rejects: an operator's free-text "yes" is no approval either.
    steps = [call("find_user_id_by_email", email="alice@example.com"), call("cancel_pending_order", **CANCEL),
             call("cancel_pending_order", **CANCEL)]  # the model would state the same write again
    model = ScriptedChatModel(steps)
    with AgentSession(spec, model=model, data=shop_db, approve=True) as s:
        s.send("cancel #W0000002, alice@example.com, I ordered it by mistake")
        before = s.deps.toolkits["get_order_details"].state_hash()
        assert s.send("yes").approval is not None
        asked = len(model.calls)
        done = s.resume(answer)
        # The graph says it (messages.operator_refused), the model is not asked again, and nothing is
        # pending: the customer is not asked to confirm it again.
        assert done.reply == spec.messages.operator_refused
        assert len(model.calls) == asked and s.state["pending"] is None
        assert [e["outcome"] for e in done.entries if e["kind"] == "graph"] == ["cannot"]
        assert s.deps.toolkits["get_order_details"].state_hash() == before
        assert "operator did not approve" in s.history()[-2]["content"]


@pytest.mark.parametrize("answer, accepted", [
    (True, True), ("accept", True), ({"type": "accept"}, True),
    (False, False), (None, False), ("yes", False), ("y", False), ("Accept", False), ("no", False),
    ({"type": "ignore"}, False), ({"type": "response", "args": "accept"}, False), ({"accept": True}, False),
])
def test_operator_approval_is_a_typed_answer(answer, accepted):
    # LangGraph's HumanResponse types: only an accept approves; free text is never read for a yes.
    assert approved(answer) is accepted
