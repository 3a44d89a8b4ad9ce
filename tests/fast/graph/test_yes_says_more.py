"""A yes to a stated write confirms it only when it says nothing more than yes to exactly that statement:
a yes that asks for another request, names another target or chooses another option is unsure, and
the write does not run. The readings are given (``read_as``): this is the graph's rule, not the reader's."""
from __future__ import annotations

import dataclasses
import json

from agentspec.graph import AgentSession

from agentspec.runtime.scripted import ScriptedChatModel
from conftest import call, read_as, reply
from fake_reader import KeywordReader

AUTH = call("find_user_id_by_email", email="alice@example.com")
PROFILE = call("get_user_details", user_id="alice_smith_1001")
OPENING = "alice@example.com: please cancel #W0000002, I don't need it any more."
YES = {"yes": 0.999, "no": 0.0, "neutral": 0.0, "other": 0.001}


def status(session, order_id: str) -> str:
    store = session.deps.toolkits["get_order_details"]
    return json.loads(store.invoke("get_order_details", {"order_id": order_id}))["status"]


def _answer(session) -> dict:
    return [e for e in session.trace() if e["kind"] == "answer"][-1]


def _cancel_then(spec, scripted, shop_db, text: str, reader: KeywordReader):
    scripted.enqueue(AUTH, PROFILE, reply("Which order should I cancel?"))
    session = AgentSession(spec, model=scripted, data=shop_db, reader=reader)
    first = session.send(OPENING)
    assert first.reply.startswith("I'm about to cancel order #W0000002 (reason: no longer needed)")
    return session, session.send(text)


def test_a_yes_that_restates_exactly_the_stated_write_runs_it(spec, scripted, shop_db):
    text = "Yes, cancel #W0000002 please, I no longer need it."
    session, turn = _cancel_then(spec, scripted, shop_db, text, read_as(text, answer=YES))
    with session:
        assert [c["name"] for c in turn.tool_calls] == ["cancel_pending_order"]
        assert _answer(session)["output"] == "yes" and "says_more" not in _answer(session)
        assert status(session, "#W0000002") == "cancelled"


def test_a_yes_naming_another_order_does_not_run_the_stated_write(spec, scripted, shop_db):
    text = "Yes, but cancel #W0000001 instead."
    session, turn = _cancel_then(spec, scripted, shop_db, text, read_as(text, answer=YES))
    with session:
        assert "cancel_pending_order" not in [c["name"] for c in turn.tool_calls]
        assert _answer(session)["output"] == "unsure"
        assert _answer(session)["says_more"] == "names another order_id"
        assert status(session, "#W0000002") == "pending"


def test_a_yes_that_asks_for_another_request_or_chooses_another_option_is_unsure(spec, shop_db):
    also = "Yes, and I want to return something too."
    mistake = "Yes, I ordered it by mistake."
    base = KeywordReader()
    reader = KeywordReader(readings={
        also: dataclasses.replace(base.read(also), answer=YES, requests={"cancel": 0.1, "return": 0.9}),
        mistake: dataclasses.replace(base.read(mistake), answer=YES,
                                     choices={"reason": {"ordered by mistake": 0.95, "no longer needed": 0.03,
                                                         "none": 0.02}})})
    for text, why in ((also, "asks return"), (mistake, "chooses another reason")):
        session, turn = _cancel_then(spec, ScriptedChatModel(context_length=8192), shop_db, text, reader)
        with session:
            assert "cancel_pending_order" not in [c["name"] for c in turn.tool_calls], text
            assert _answer(session)["output"] == "unsure" and _answer(session)["says_more"] == why
            assert status(session, "#W0000002") == "pending"
