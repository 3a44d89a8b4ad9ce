"""Questions about the customer's own records (``understanding.questions``) are answered from the store.

The graph reads the record the question's words describe and says the toolkit's ``summary`` of it;
the model states no fact there. A question asked before the customer is verified waits for the
identity (scripted model; the keyword reader, ``read_as`` where a test needs a reading)."""
from __future__ import annotations

from agentspec.graph import AgentSession
from agentspec.spec import check_spec
from agentspec.tools.retail import RetailStore

from conftest import MUG, call, changed, read_as, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
WHERE = "Where is my order #W0000001?"


def summary(shop_db, order_id: str) -> str:
    return RetailStore.from_json(shop_db).summary("get_order_details", {"order_id": order_id})


def answered(spec, shop_db, order_id: str) -> str:
    """The reply of a turn the graph answered: the order's summary in ``messages.answered``."""
    return spec.messages.answered.format(answer=summary(shop_db, order_id))


def graph_outcomes(entries) -> list[str]:
    return [e["outcome"] for e in entries if e["kind"] == "graph"]


def test_a_question_before_verification_waits_for_the_identity_then_is_answered_from_the_store(spec, scripted, shop_db):
    # The small model, asked before anyone was verified, stated a tracking number it never read.
    scripted.enqueue(reply("It shipped yesterday, tracking 123456."), AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(WHERE, requests={"status": 0.95})) as s:
        first = s.send(WHERE)
        assert first.reply == spec.messages.identity_request  # the model's guess is never said
        assert s.state["open_requests"] == ["status"]
        second = s.send("sure, alice@example.com")
        assert s.state["user_id"] == "alice_smith_1001"
        assert [c["name"] for c in second.tool_calls] == ["find_user_id_by_email", "get_order_details"]
        assert second.reply == answered(spec, shop_db, "#W0000001")
        assert "delivered" in second.reply and "T-Shirt" in second.reply and "$20.00" in second.reply
        assert graph_outcomes(second.entries) == ["determined", "answered"]
        assert len(scripted.calls) == 2  # the answer needed no model step
        assert s.state["open_requests"] == []  # answered: the next message starts clean


def test_a_verified_customer_asking_about_an_order_by_its_product_hears_that_orders_record(spec, scripted, shop_db):
    question = "how much did I pay for the order with the mug?"
    scripted.enqueue(AUTH, reply("Glad to help."))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(question, requests={"status": 0.9})) as s:
        s.send("hi, alice@example.com")
        turn = s.send(question)
        assert [c["arguments"] for c in turn.tool_calls] == [{"order_id": "#W0000002"}]
        assert turn.reply == answered(spec, shop_db, "#W0000002")
        assert "$5.25 paid with the gift card gift_card_1000002" in turn.reply
        assert len(scripted.calls) == 1  # only the identity lookup was the model's
        s.send("thanks, that's all")  # the answered question does not linger
        assert s.state["open_requests"] == []


def test_another_customers_order_is_never_summarised(spec, scripted, shop_db):
    question = "alice@example.com. What is the status of #W0000003?"
    scripted.enqueue(AUTH, reply("I can only help with your own orders."))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(question, requests={"status": 0.9})) as s:
        turn = s.send(question)
        assert "get_order_details" not in [c["name"] for c in turn.tool_calls]
        assert "answered" not in graph_outcomes(turn.entries)
        assert "Mug" not in (turn.reply or "") and "6.75" not in (turn.reply or "")


def test_a_question_describing_no_single_record_is_left_to_the_model(spec, scripted, shop_db):
    question = "where are my orders?"
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     reply("You have two orders: #W0000001 and #W0000002."))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(question, requests={"status": 0.9})) as s:
        s.send("hello, alice@example.com")
        turn = s.send(question)
        assert turn.reply == "You have two orders: #W0000001 and #W0000002."
        assert "answered" not in graph_outcomes(turn.entries)


def test_a_question_naming_no_record_is_about_the_one_just_read(spec, scripted, shop_db):
    # The cancel of the delivered order is refused; "what's the status of it then?" names no order: it
    # is about the order the last turn read, answered from the store, not by the model.
    cancel = "alice@example.com - please cancel my order #W0000001, I ordered it by mistake."
    question = "oh ok. what's the status of it then?"
    reader = read_as(question, requests={"status": 0.9})
    reader.readings.update(read_as(cancel, requests={"cancel": 0.95}).readings)
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        assert s.send(cancel).reply.startswith("I can't do that: Non-pending order cannot be cancelled")
        turn = s.send(question)
        assert turn.reply == answered(spec, shop_db, "#W0000001") and len(scripted.calls) == 1
        assert graph_outcomes(turn.entries) == ["determined", "answered"]


def test_without_a_summary_the_model_answers_from_the_read(spec, scripted, shop_db, monkeypatch):
    monkeypatch.setattr(RetailStore, "summary", lambda self, name, arguments: None)
    question = "alice@example.com here. " + WHERE
    scripted.enqueue(AUTH, reply("It was delivered."))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(question, requests={"status": 0.9})) as s:
        turn = s.send(question)
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email", "get_order_details"]
        assert turn.reply == "It was delivered."


def test_a_question_the_spec_names_must_be_a_request_and_its_tools_must_exist(tmp_path):
    odd = tmp_path / "odd.yaml"
    odd.write_text("extends: retail\nname: odd\nunderstanding:\n  questions:\n"
                   "    where_is_it: [get_order_details]\n    status: [no_such_tool]\n", encoding="utf-8")
    _, problems = check_spec(odd)
    found = {p.path: p.message for p in problems}
    assert "no request of understanding.requests" in found["understanding.questions.where_is_it"]
    assert found["understanding.questions.status[0]"] == "unknown tool 'no_such_tool'"


def test_a_question_asked_beside_a_task_is_answered_and_the_task_goes_on(spec, scripted, shop_db):
    # "what's the status, and cancel it": the status is read from the store and said first; the cancel
    # is determined and stated in the same reply (the model was never asked).
    text = "what's the status of my order with the mug? and please cancel it, I ordered it by mistake"
    chosen = {"ordered by mistake": 0.9, "no longer needed": 0.05, "none": 0.05}
    scripted.enqueue(AUTH, reply("Glad to help."))
    reader = read_as(text, requests={"status": 0.9, "cancel": 0.9}, choices={"reason": chosen})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send("hi, alice@example.com")
        turn = s.send(text)
        assert [c["arguments"] for c in turn.tool_calls] == [{"order_id": "#W0000002"}]
        answer = summary(shop_db, "#W0000002")
        assert turn.reply.startswith(answer + " I'm about to cancel order #W0000002 (reason: ordered by mistake)")
        assert s.state["pending"]["calls"][0]["name"] == "cancel_pending_order"
        assert s.state["open_requests"] == ["cancel"] and s.state["answers"] == []
        assert graph_outcomes(turn.entries) == ["determined", "answered beside", "determined", "confirm"]
        assert len(scripted.calls) == 1  # the identity lookup only
        done = s.send("yes")
        assert not done.reply.startswith(answer)  # said once


def product_spec(spec):
    """The retail spec with a product question (the packaged reader's labels are not checked here)."""
    requests = {**spec.understanding.requests, "product": ["get_product_details", "list_all_product_types"]}
    return changed(spec, understanding={"requests": requests,
                                        "questions": {"status": ["get_order_details"], "product": ["get_product_details"]}})


def test_a_question_about_a_product_no_lookup_has_listed_is_answered_from_the_catalogue(spec, scripted, shop_db):
    question = "what colours does the mug come in, and what does it cost?"
    scripted.enqueue(AUTH, reply("Glad to help."))
    with AgentSession(product_spec(spec), model=scripted, data=shop_db,
                      reader=read_as(question, requests={"product": 0.9})) as s:
        s.send("hi, alice@example.com")
        turn = s.send(question)
        assert [(c["name"], c["arguments"]) for c in turn.tool_calls] == [("get_product_details", {"product_id": MUG})]
        assert turn.reply.startswith("Mug: 2 versions, 2 available now (color white, black). "
                                     "Available versions cost $5.25 to $6.75.")
        assert graph_outcomes(turn.entries) == ["determined", "answered"] and len(scripted.calls) == 1


def test_two_open_questions_are_each_answered_with_their_own_record(spec, scripted, shop_db):
    # "how much did I pay for the mug?" reads as a product question and an order question both: each is
    # answered with the record its words describe (the product; the order holding it), most probable
    # first, in one reply; the model is never asked (before, two records left the turn to the model).
    question = "how much did I pay for the mug?"
    scripted.enqueue(AUTH, reply("Glad to help."))
    spec = product_spec(spec)
    with AgentSession(spec, model=scripted, data=shop_db,
                      reader=read_as(question, requests={"product": 0.75, "status": 0.7})) as s:
        s.send("hi, alice@example.com")
        turn = s.send(question)
        assert [(c["name"], c["arguments"]) for c in turn.tool_calls] == [
            ("get_product_details", {"product_id": MUG}), ("get_order_details", {"order_id": "#W0000002"})]
        store = RetailStore.from_json(shop_db)
        both = store.summary("get_product_details", {"product_id": MUG}) + " " + summary(shop_db, "#W0000002")
        assert turn.reply == spec.messages.answered.format(answer=both)
        assert "$5.25 paid with the gift card" in turn.reply and turn.reply.count("anything else") == 1
        assert graph_outcomes(turn.entries) == ["determined", "determined", "answered"]
        assert len(scripted.calls) == 1 and s.state["open_requests"] == []


def test_a_question_whose_words_describe_several_records_leaves_both_questions_to_the_model(spec, scripted, shop_db):
    # Both of alice's orders are named: the order question has two records, so no answer is guessed for
    # either question; the turn goes to the model.
    question = "what did I pay for the mug, and what's in #W0000001 and #W0000002?"
    scripted.enqueue(AUTH)
    with AgentSession(product_spec(spec), model=scripted, data=shop_db,
                      reader=read_as(question, requests={"product": 0.8, "status": 0.8})) as s:
        s.send("hi, alice@example.com")
        scripted.enqueue(reply("Let me look at both orders."), reply("Let me look at both orders."),
                         reply("Let me look at both orders."))
        turn = s.send(question)
        assert turn.tool_calls == [] and "answered" not in graph_outcomes(turn.entries)
        assert [e["kind"] for e in turn.entries].count("decide") >= 1
