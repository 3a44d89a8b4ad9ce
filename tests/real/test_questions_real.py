"""Tier 2: a question about an order, asked before identity, is answered from the store by the default agent.

The shipped reader reads the question; the graph keeps it open through the identity lookup, reads
the order the words describe and says the toolkit's summary. The question suite runs end to end on
two development cases (``agentspec eval questions``' code path: report files, no write, no leak).
"""
from __future__ import annotations

import json
from pathlib import Path

from agentspec.evals.question_suite import QuestionSettings, run_questions
from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

REPO = Path(__file__).resolve().parents[2]
BOOTS_ORDER, TRACKING = "#W8488728", "353040585167"  # Liam Thomas's delivered order with the Hiking Boots


def test_a_tracking_question_before_identity_is_answered_after_it(spec, shared_data):
    with RetailStore.from_json(shared_data / "tau2-retail" / "db.json") as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            first = session.send("hey, could you give me the tracking number of my hiking boots order?")
            assert first.reply == spec.messages.identity_request
            second = session.send("sure, it's liam.thomas9081@example.com")
            assert TRACKING in second.reply and BOOTS_ORDER in second.reply
            assert [c["name"] for c in second.tool_calls] == ["find_user_id_by_email", "get_order_details"]


def test_a_question_beside_a_cancel_is_answered_and_the_cancel_stated(spec, shared_data):
    with RetailStore.from_json(shared_data / "tau2-retail" / "db.json") as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hi, my email is liam.thomas9081@example.com")
            turn = session.send("can you tell me where my order with the e-reader is, and also cancel it? "
                                "no longer needed")
            answer, _, statement = turn.reply.partition(" I'm about to cancel")
            assert "#W1654931" in answer and "pending" in answer and "E-Reader" in answer
            assert statement.startswith(" order #W1654931 (reason: no longer needed)")
            assert session.state["pending"]["calls"][0]["name"] == "cancel_pending_order"


def test_the_question_suite_runs_end_to_end(shared_data, tmp_path):
    settings = QuestionSettings(db=str(shared_data / "tau2-retail" / "db.json"),
                                wording=str(REPO / "evals" / "questions" / "dev.yaml"), out=str(tmp_path),
                                n=2, arms=("graph",), threads=2, progress=False)
    report = run_questions(settings)
    graph = report["arms"]["graph"]
    assert graph["n"] == 2 and graph["writes"] == 0 and graph["leaks"] == 0 and graph["errors"] == 0
    assert len((tmp_path / "questions.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "report.png").stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text())["arms"]["graph"]["passed"] == graph["passed"]


def test_a_question_about_a_product_is_answered_from_the_catalogue(spec, shared_data):
    with RetailStore.from_json(shared_data / "tau2-retail" / "db.json") as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hi, my email is liam.thomas9081@example.com")
            turn = session.send("what colors does the water bottle come in, and what does it cost?")
            assert turn.reply.startswith("Water Bottle: 18 versions, 12 available now (")
            assert "color black" in turn.reply and "Available versions cost $" in turn.reply
            assert [(c["name"], c["arguments"]) for c in turn.tool_calls] == [
                ("get_product_details", {"product_id": "8310926033"})]
            assert not session.state.get("pending")


def test_a_question_read_as_about_the_product_and_the_order_is_answered_with_both(spec, shared_data):
    # "how much did I pay for the smart watch?" reads as a product question and an order question: each
    # is answered with its own record (the catalogue's Smart Watch, the order holding hers) in one reply,
    # where the model used to be left two records and asked the customer to say it again. Her thanks
    # then ends the conversation with the spec's closing, not a guessed request.
    with RetailStore.from_json(shared_data / "tau2-retail" / "db.json") as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hi, how much did I pay for the smart watch?")
            answer = session.send("my email is amelia.nguyen6010@example.com").reply
            assert "#W7898533" in answer and "$339.85 paid with PayPal" in answer
            assert answer.count("Is there anything else") == 1 and session.state["open_requests"] == []
            closing = session.send("Thanks, that's all.")
            assert closing.reply == spec.messages.closing and closing.tool_calls == []
