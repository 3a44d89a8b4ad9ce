"""The request scope: the write tools follow what the user asked for and has not settled yet.

The reader (the keyword reader here, ``read_as`` where a test needs a reading) says which requests a
message makes; ``understanding.requests`` says which tools each needs; a request closes when its write
succeeds, is refused or is declined (scripted model)."""
from __future__ import annotations

import yaml

from agentspec.graph import AgentSession
from agentspec.graph.narrowing import words_for
from agentspec.spec import check_spec, find_spec, load_spec

from conftest import call, changed, read_as, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
WRITES = {"cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
          "modify_pending_order_payment", "modify_user_address", "return_delivered_order_items",
          "exchange_delivered_order_items"}


def offered_writes(entry) -> set[str]:
    return set(entry["tools_offered"]) & WRITES


def test_a_cancel_request_offers_only_the_cancel_write(spec, scripted, shop_db):
    # The expert's mistake this prevents: answering a cancel request with an item modification.
    # (The model's own steps: the graph would state this fully named cancel itself, see test_determined.)
    spec = changed(spec, policy={"confirmation": {"determine": False}})
    modify = call("modify_pending_order_items", order_id="#W0000002", item_ids=["5555555555"],
                  new_item_ids=["6666666666"], payment_method_id="gift_card_1000002")
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000002"), modify,
                     call("cancel_pending_order", order_id="#W0000002", reason="no longer needed"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("Hi, please cancel my order #W0000002, I no longer need it. My email is alice@example.com")
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        assert offered_writes(decides[1]) == {"cancel_pending_order"}
        offered = set(decides[1]["tools_offered"])
        assert {"get_order_details", "get_user_details"} <= offered
        assert "transfer_to_human_agents" not in offered  # nobody asked for a person
        assert not offered & {"get_product_details", "get_item_details", "calculate"}  # a cancel reads no catalogue
        assert decides[2]["errors"] == ["unknown_tool"]  # the modification is not in the grammar: retried
        assert turn.reply.startswith("I'm about to cancel order #W0000002")
        requests = [e for e in s.trace() if e["kind"] == "request"]
        assert requests[0]["output"] == ["cancel"] and requests[0]["scores"]["cancel"] >= 0.5
        assert s.state["open_requests"] == ["cancel"]


def test_requests_accumulate_and_an_unrecognised_conversation_keeps_every_tool(spec, scripted, shop_db):
    # The model's steps only: no act_on_requests, no determined writes, no question for a request or
    # for the items of one.
    spec = changed(spec, policy={"act_on_requests": False, "ask_for_request": False,
                                 "confirmation": {"determine": False}, "targets": {"said": []}})
    scripted.enqueue(AUTH, reply("How can I help?"), reply("Sure."), reply("Which item?"), reply("Okay."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("hello, alice@example.com here")
        first = [e for e in s.trace() if e["kind"] == "decide"][-1]
        assert offered_writes(first) == WRITES  # nothing asked yet: the scope does not strand the user
        s.send("Please cancel my order #W0000002; I no longer need it.")
        s.send("Also, I want to return the T-Shirt from order #W0000001.")
        assert s.state["open_requests"] == ["cancel", "return"]
        last = [e for e in s.trace() if e["kind"] == "decide"][-1]
        assert offered_writes(last) == {"cancel_pending_order", "return_delivered_order_items"}
        assert "calculate" in last["tools_offered"] and "get_product_details" not in last["tools_offered"]
        s.send("yes")  # with nothing stated, a yes asks for nothing new: the requests stay
        assert s.state["open_requests"] == ["cancel", "return"]


def test_a_new_request_is_acted_on_before_any_reply(spec, scripted, shop_db):
    # After a first request was served, the expert answered the next one with words that sounded done.
    scripted.enqueue(AUTH,
                     reply("The return has been requested."), call("get_order_details", order_id="#W0000001"),
                     reply("Glad to help."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("hello, alice@example.com here")
        turn = s.send("Also, I want to return the T-Shirt from order #W0000001.")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert decides[0]["errors"] == ["reply_not_allowed"]  # the first step of the request is a call
        assert [c["name"] for c in turn.tool_calls] == ["get_order_details"]
        # The return is then given but for the refund's method: the graph asks for it.
        assert turn.reply.startswith("Which payment method should receive the refund")
        assert s.send("thanks, that's all").reply == "Glad to help."  # no request: a reply at once


def test_the_hand_off_waits_for_a_customer_who_asks_for_a_person(spec, scripted, shop_db):
    # The expert transferred a customer whose order was already cancelled instead of saying so.
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000003"), reply("That order was already cancelled."),
                     call("transfer_to_human_agents", summary="The customer asks for a manager."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("hello, alice@example.com here")
        s.send("What is the status of my order #W0000003? I want to cancel it.")
        offered = [e for e in s.trace() if e["kind"] == "decide"][-1]["tools_offered"]
        assert set(s.state["asked"]) == {"status", "cancel"} and "transfer_to_human_agents" not in offered
        turn = s.send("I want to file a complaint and talk to a human manager.")
        assert s.state["asked"] == ["transfer"]
        assert [c["name"] for c in turn.tool_calls] == ["transfer_to_human_agents"]
        assert turn.reply == spec.messages.handoff


def test_a_request_on_another_users_order_is_answered_in_words_after_a_read(spec, scripted, shop_db):
    # "Cancel my friend's order": the cancel is offered (the request sounds like the write it asks for),
    # the turn starts with a call, and the guard refuses the other user's order.
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("cancel_pending_order", order_id="#W0000003", reason="no longer needed"),
                     reply("I can only help with orders on your own account."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("hello, alice@example.com here")
        turn = s.send("Please cancel order #W0000003; it is my friend's order and she asked me to do it.")
        assert s.state["asked"] == ["cancel"] and s.state["pending"] is None
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == ["refused: other_user"]
        assert turn.reply == "I can only help with orders on your own account."


def test_a_request_that_is_done_closes_and_the_next_one_is_scoped_afresh(spec, scripted, shop_db):
    # The REPL failure: after the cancel was done the scope still held the cancel, and the customer's
    # next request (an exchange) got the cancel stated again.
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("Please cancel my order #W0000002, I ordered it by mistake. My email is alice@example.com")
        assert s.state["pending"]["calls"][0]["name"] == "cancel_pending_order"
        assert [c["name"] for c in s.send("yes").tool_calls] == ["cancel_pending_order"]
        assert s.state["open_requests"] == [] and s.state["said"] == [] and s.state["choices"] == {}
        exchange = "Now I want to exchange the T-Shirt in order #W0000001 for the red one."
        turn = s.send(exchange)
        assert s.state["open_requests"] == ["exchange"] and s.state["said"] == [exchange]
        assert s.state["pending"] is None and turn.reply.startswith("Which payment method should pay or receive")
        # Nothing stated, nothing refused: the exchange (not the cancel) waits for its payment method.
        assert [e["outcome"] for e in turn.entries if e["kind"] == "graph"] == ["choose"]


def test_a_request_asked_again_after_another_is_done_speaks_from_there(spec, scripted, shop_db):
    # An exchange is done while a question stays open, so the words are kept; the change of items asked
    # next shares the exchange's tools. Its words start at its own message, not at the exchange's, whose
    # order read a refused change of the delivered order (cedar piecemeal, development).
    exchange = "exchange the T-Shirt in order #W0000001 for the red one, with my gift card"
    again = "Now change the items in my pending order, please."
    state = {"said": [exchange, "what colours does the mug come in?", again], "slots": [{}, {}, {}],
             "asks": [["exchange"], ["product"], ["modify_items"]], "settled_at": 2}
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        assert words_for(state, s.deps, "modify_pending_order_items", True)[0] == [again]
        # Not asked again since: the words start where the request was first asked, as before.
        assert words_for({**state, "settled_at": 3}, s.deps, "modify_pending_order_items", True)[0] == state["said"]
        assert words_for({**state, "settled_at": 0}, s.deps, "modify_pending_order_items", True)[0] == state["said"]


def test_a_request_made_before_authentication_is_acted_on_after_it(spec, scripted, shop_db):
    # The cancel asked before anyone was verified stays open: once verified, the customer is not asked
    # what they need, and the words they said then determine the write.
    scripted.enqueue(reply("Sure, go to the order pages."), AUTH)
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        first = s.send("Hi, I want to cancel my order #W0000002, I ordered it by mistake.")
        assert first.reply == spec.messages.identity_request and s.state["open_requests"] == ["cancel"]
        turn = s.send("My email is alice@example.com")
        assert turn.reply.startswith("I'm about to cancel order #W0000002 (reason: ordered by mistake)")
        assert [e["outcome"] for e in s.trace() if e["kind"] == "graph"] == ["identity", "determined", "confirm"]
        assert s.state["request_asked"]  # a request was said: the question for one is never asked


def test_the_baselines_have_no_scope(scripted, shop_db):
    base = load_spec("retail-base")
    assert base.understanding.requests == {} and load_spec("retail-gemma").understanding.requests == {}
    scripted.enqueue(AUTH, reply("Sure."))
    with AgentSession(base, model=scripted, data=shop_db) as s:
        s.send("Please cancel my order #W0000002, alice@example.com")
        assert s.state["open_requests"] == ["cancel"]  # read, yet it scopes nothing
        assert offered_writes([e for e in s.trace() if e["kind"] == "decide"][-1]) == WRITES


def test_without_a_scope_a_write_done_still_closes_what_was_asked(scripted, shop_db):
    # retail-base reads requests but scopes no tool, so no request "needs" the cancel; once it is done,
    # the words and the reason said for it must not bound the next request's write.
    scripted.enqueue(AUTH, call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake"))
    with AgentSession(load_spec("retail-base"), model=scripted, data=shop_db) as s:
        s.send("Please cancel #W0000002, I ordered it by mistake. alice@example.com")
        assert s.state["open_requests"] == ["cancel"] and s.state["choices"] == {"reason": "ordered by mistake"}
        assert [c["name"] for c in s.send("yes").tool_calls] == ["cancel_pending_order"]
        assert s.state["open_requests"] == [] and s.state["said"] == [] and s.state["choices"] == {}


def scoped_spec(tmp_path, **understanding):
    data = yaml.safe_load(find_spec("retail").read_text())
    reader = find_spec("retail").parent / data["understanding"]["reader"]
    data["adapters"] = []
    data["prompts"] = {"system": "retail_system.j2"}
    data["understanding"] = {"reader": str(reader), "requests": {"cancel": ["cancel_pending_order"]}, **understanding}
    path = tmp_path / "scoped.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_spec_checks_the_scope_against_the_reader_and_the_tools(tmp_path):
    assert check_spec(str(scoped_spec(tmp_path)))[1] == []
    _, problems = check_spec(str(scoped_spec(tmp_path, requests={"cancl": ["cancel_pending_order"],
                                                                 "return": ["return_items"]})))
    by_path = {p.path: p.message for p in problems}
    assert set(by_path) == {"understanding.requests.cancl", "understanding.requests.return[0]"}
    assert "knows no request 'cancl'" in by_path["understanding.requests.cancl"]
    assert "cancel" in by_path["understanding.requests.cancl"]  # what it does know
    assert "unknown tool 'return_items'" in by_path["understanding.requests.return[0]"]
    _, problems = check_spec(str(scoped_spec(tmp_path, reader=str(tmp_path / "none"))))
    assert [p.path for p in problems] == ["understanding.reader"] and "not a trained reader" in problems[0].message
    _, problems = check_spec(str(scoped_spec(tmp_path, choices={"reason": "reasons"}, slots={"zip": "postcode"})))
    assert [p.path for p in problems] == ["understanding.choices.reason", "understanding.slots.zip"]
    _, problems = check_spec(str(scoped_spec(tmp_path, request_threshold=1.5)))
    assert [p.path for p in problems] == ["understanding.request_threshold"]


def test_a_spec_extending_retail_elsewhere_keeps_the_reader(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: retail\nname: mine\n")
    spec = load_spec(str(tmp_path / "mine.yaml"))
    packaged = find_spec("retail").parent / "adapters" / "reader"
    assert spec.resolve_path(spec.understanding.reader).resolve() == packaged.resolve()


def test_a_verified_customer_who_asked_for_nothing_is_asked_once(spec, scripted, shop_db):
    # A model trained on customers who open with their request guessed one here and acted on it.
    assert spec.messages.request_question == "Thank you, you are verified. How can I help you today?"
    scripted.enqueue(reply("Hello! What can I do?"), AUTH, reply("Sure, what can I do?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        opening = s.send("Hello, I have a question about my orders.")
        assert opening.reply == spec.messages.identity_request and not opening.tool_calls
        turn = s.send("My email is alice@example.com")
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email"]
        assert turn.reply == spec.messages.request_question
        graph = [e["outcome"] for e in s.trace() if e["kind"] == "graph"]
        assert graph == ["identity", "ask"] and s.state["request_asked"]
        # Once only: a message the reader reads as no request is the model's to answer.
        assert s.send("Well, it's complicated.").reply == "Sure, what can I do?"


def test_the_answer_to_the_request_question_is_read_as_a_request(spec, scripted, shop_db):
    scripted.enqueue(reply("Hello!"), AUTH)
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("Hi, I need some help with an order.")
        assert s.send("My email is alice@example.com").reply == spec.messages.request_question
        turn = s.send("Here it is: The order I placed with the Mug has to be cancelled.")
        assert s.state["open_requests"] == ["cancel"]
        # Acted on (the described order read, then its reason asked), not asked for a request again.
        assert turn.reply.startswith("Why would you like to cancel order #W0000002")
        assert [e["outcome"] for e in s.trace() if e["kind"] == "graph"] == ["identity", "ask", "determined", "choose"]


def test_a_customer_who_opened_with_a_request_is_not_asked(spec, scripted, shop_db):
    off = changed(spec, policy={"confirmation": {"determine": False}})
    scripted.enqueue(AUTH, reply("Which order should I cancel?"))
    with AgentSession(off, model=scripted, data=shop_db) as s:
        turn = s.send("Hi, I want to cancel an order, I no longer need it. My email is alice@example.com")
        assert turn.reply == "Which order should I cancel?"
        assert "ask" not in [e["outcome"] for e in s.trace() if e["kind"] == "graph"]


def test_a_question_no_tool_serves_closes_with_its_turn_and_the_next_request_starts_clean(spec, scripted, shop_db):
    question = "alice@example.com here. Where is my order #W0000001?"
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000001"), reply("It was delivered."),
                     call("get_order_details", order_id="#W0000002"), reply("not reached"))
    spec = changed(spec, understanding={"questions": {}})  # the model answers it (test_questions: the store does)
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(question, requests={"status": 0.9})) as s:
        assert s.send(question).reply == "It was delivered."
        assert s.state["open_requests"] == ["status"]
        s.send("Thanks. Now please cancel my order with the Mug, I no longer need it.")
        assert s.state["open_requests"] == ["cancel"]
        assert s.state["said"] == ["Thanks. Now please cancel my order with the Mug, I no longer need it."]


def test_requests_that_scope_the_same_tools_are_read_together(spec, scripted, shop_db):
    # exchange and modify_items scope the same tools: a reading split between them is still a request.
    split = "alice@example.com: could I trade the shirt for the red one?"
    unsure = "alice@example.com: hmm, the shirt."
    reader = read_as(split, requests={"exchange": 0.39, "modify_items": 0.45})
    scripted.enqueue(AUTH, reply("Which one?"), AUTH, reply("Which one?"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send(split)
        assert s.state["open_requests"] == ["modify_items"]
    reader = read_as(unsure, requests={"exchange": 0.2, "modify_items": 0.1})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send(unsure)
        assert s.state["open_requests"] == []


def test_a_customer_whose_request_is_served_is_not_asked_what_they_need(spec, scripted, shop_db):
    # No order id was ever typed: the order was described. Once a request was said, the question for
    # one is never the graph's answer ("Thanks, that's all." got "How can I help you today?").
    scripted.enqueue(AUTH, reply("You're welcome, have a nice day!"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("alice@example.com here. Please cancel my order with the Mug, I no longer need it.")
        assert s.state["pending"]["calls"][0]["name"] == "cancel_pending_order"
        s.send("yes")
        assert s.state["open_requests"] == [] and s.state["request_asked"]
        turn = s.send("Thanks, that's all.")
        assert turn.reply == "You're welcome, have a nice day!"
        assert "ask" not in [e["outcome"] for e in s.trace() if e["kind"] == "graph"]


def test_a_refused_write_no_request_asked_for_is_not_told_the_customer_is_asked_again(spec, scripted, shop_db):
    # The reader reads no request in "one more thing about order ..."; the model guesses a return of a pending
    # order. Its refusal would answer a request nobody made: the customer is asked to say what they want.
    doomed = call("return_delivered_order_items", order_id="#W0000002", item_ids=["5555555555"],
                  payment_method_id="gift_card_1000002")
    opening = "hi, my email is alice@example.com"
    scripted.enqueue(call("find_user_id_by_email", email="alice@example.com"), reply("How can I help?"),
                     call("get_order_details", order_id="#W0000002"), doomed, doomed, doomed)
    spec = changed(spec, policy={"ask_for_request": False})
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(opening, requests={})) as s:
        s.send(opening)
        turn = s.send("and one more thing about order #W0000002, pls")
        assert s.state["open_requests"] == [] or s.state["open_requests"] is None
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == [
            "refused: precheck", "refused: repeat", "refused: repeat"]
        assert turn.reply == str(spec.messages.stopped)
