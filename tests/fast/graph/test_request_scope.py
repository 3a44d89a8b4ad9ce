"""The request scope: the write tools follow what the user asked for (shipped classifier, scripted model)."""
from __future__ import annotations

import yaml

from agentspec.graph import AgentSession
from agentspec.spec import check_spec, find_spec, load_spec

from conftest import call, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
WRITES = {"cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
          "modify_pending_order_payment", "modify_user_address", "return_delivered_order_items",
          "exchange_delivered_order_items"}


def offered_writes(entry) -> set[str]:
    return set(entry["tools_offered"]) & WRITES


def test_a_cancel_request_offers_only_the_cancel_write(spec, scripted, shop_db):
    # The expert's mistake this prevents: answering a cancel request with an item modification.
    # (The model's own steps: the graph would state this fully named cancel itself, see test_determined.)
    spec = spec.model_copy(update={"policy": spec.policy.model_copy(update={"writes_when_determined": False})})
    modify = call("modify_pending_order_items", order_id="#W0000002", item_ids=["5555555555"],
                  new_item_ids=["6666666666"], payment_method_id="gift_card_1000002")
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000002"), modify,
                     call("cancel_pending_order", order_id="#W0000002", reason="no longer needed"))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
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
        assert requests[0]["output"] == ["cancel"] and requests[0]["scores"]["cancel"] > 0.5
        assert s.state["requests"] == ["cancel"]


def test_requests_accumulate_and_an_unrecognised_conversation_keeps_every_tool(spec, scripted, shop_db):
    policy = {"act_on_requests": False, "writes_when_determined": False, "request_question": None}  # the model's steps
    spec = spec.model_copy(update={"policy": spec.policy.model_copy(update=policy)})
    scripted.enqueue(AUTH, reply("How can I help?"), reply("Sure."), reply("Which item?"), reply("Okay."))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        s.send("hello, alice@example.com here")
        first = [e for e in s.trace() if e["kind"] == "decide"][-1]
        assert offered_writes(first) == WRITES  # nothing asked yet: the scope does not strand the user
        s.send("Please cancel my order #W0000002; I no longer need it.")
        s.send("Also, I want to return the T-Shirt from order #W0000001.")
        assert s.state["requests"] == ["cancel", "return"]
        last = [e for e in s.trace() if e["kind"] == "decide"][-1]
        assert offered_writes(last) == {"cancel_pending_order", "return_delivered_order_items"}
        assert "calculate" in last["tools_offered"] and "get_product_details" not in last["tools_offered"]
        s.send("yes")  # a confirmation asks for nothing new: the requests stay
        assert s.state["requests"] == ["cancel", "return"]


def test_a_new_request_is_acted_on_before_any_reply(spec, scripted, shop_db):
    # After a first request was served, the expert answered the next one with words that sounded done.
    scripted.enqueue(AUTH,
                     reply("The return has been requested."), call("get_order_details", order_id="#W0000001"),
                     reply("Which item of order #W0000001 would you like to return?"), reply("Glad to help."))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        s.send("hello, alice@example.com here")
        turn = s.send("Also, I want to return the T-Shirt from order #W0000001.")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert decides[0]["errors"] == ["reply_not_allowed"]  # the first step of the request is a call
        assert [c["name"] for c in turn.tool_calls] == ["get_order_details"]
        assert turn.reply == "Which item of order #W0000001 would you like to return?"  # then words are fine
        assert s.send("thanks, that's all").reply == "Glad to help."  # no request: a reply at once


def test_the_hand_off_waits_for_a_customer_who_asks_for_a_person(spec, scripted, shop_db):
    # The expert transferred a customer whose order was already cancelled instead of saying so.
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000003"), reply("That order was already cancelled."),
                     call("transfer_to_human_agents", summary="The customer asks for a manager."))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        s.send("hello, alice@example.com here")
        s.send("What is the status of my order #W0000003? I want to cancel it.")
        offered = [e for e in s.trace() if e["kind"] == "decide"][-1]["tools_offered"]
        assert s.state["asked"] == ["forbidden"] and "transfer_to_human_agents" not in offered
        turn = s.send("I want to file a complaint and talk to a human manager.")
        assert s.state["asked"] == ["transfer"]
        assert [c["name"] for c in turn.tool_calls] == ["transfer_to_human_agents"]
        assert turn.reply == spec.policy.handoff_message


def test_a_forbidden_request_is_answered_in_words_after_a_read(spec, scripted, shop_db):
    # "Cancel my friend's order": the cancel is offered (a forbidden request sounds like the write it
    # asks for), the turn starts with a call, and the guard refuses the other user's order.
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("cancel_pending_order", order_id="#W0000003", reason="no longer needed"),
                     reply("I can only help with orders on your own account."))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        s.send("hello, alice@example.com here")
        turn = s.send("Please cancel order #W0000003; it is my friend's order and she asked me to do it.")
        assert s.state["asked"] == ["forbidden"] and s.state["pending"] is None
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == ["refused: other_user"]
        assert turn.reply == "I can only help with orders on your own account."


def test_the_baselines_have_no_scope(scripted, shop_db):
    base = load_spec("retail-base")
    assert base.routing.requests is None and load_spec("retail-gemma").routing.requests is None
    scripted.enqueue(AUTH, reply("Sure."))
    with AgentSession(base, model=scripted, db=shop_db) as s:
        s.send("Please cancel my order #W0000002, alice@example.com")
        assert offered_writes([e for e in s.trace() if e["kind"] == "decide"][-1]) == WRITES
        assert not [e for e in s.trace() if e["kind"] == "request"]


def scoped_spec(tmp_path, **requests):
    data = yaml.safe_load(find_spec("retail").read_text())
    classifier = find_spec("retail").parent / "adapters" / "requests.json"
    data["adapters"] = []
    data["prompts"] = {"system": "retail_system.j2"}
    data["routing"] = {"requests": {"classifier": str(classifier), "tools": {"cancel": ["cancel_pending_order"]},
                                    **requests}}
    path = tmp_path / "scoped.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_spec_checks_the_scope_against_the_classifier_and_the_tools(tmp_path):
    assert check_spec(str(scoped_spec(tmp_path)))[1] == []
    _, problems = check_spec(str(scoped_spec(tmp_path, tools={"cancl": ["cancel_pending_order"],
                                                               "return": ["return_items"]})))
    assert [p.path for p in problems] == ["routing.requests.tools.cancl", "routing.requests.tools.return[0]"]
    assert "knows no request 'cancl'" in problems[0].message and "cancel" in problems[0].message
    assert "unknown tool 'return_items'" in problems[1].message
    _, problems = check_spec(str(scoped_spec(tmp_path, classifier=str(tmp_path / "none.json"))))
    assert [p.path for p in problems] == ["routing.requests.classifier"] and "No request classifier" in problems[0].message
    _, problems = check_spec(str(scoped_spec(tmp_path, threshold=1.5)))
    assert [p.path for p in problems] == ["routing.requests.threshold"]


def test_a_spec_extending_retail_elsewhere_keeps_the_classifier(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: retail\nname: mine\n")
    spec = load_spec(str(tmp_path / "mine.yaml"))
    assert spec.resolve_path(spec.routing.requests.classifier) == find_spec("retail").parent / "adapters" / "requests.json"


def test_a_verified_customer_who_asked_for_nothing_is_asked_once(spec, scripted, shop_db):
    # A model trained on customers who open with their request guessed one here and acted on it.
    assert spec.policy.request_question == "Thank you, you are verified. How can I help you today?"
    scripted.enqueue(reply("Hello! What can I do?"), AUTH, reply("Sure, what can I do?"))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        opening = s.send("Hello, I have a question about my orders.")
        assert opening.reply == spec.policy.identity_request and not opening.tool_calls
        turn = s.send("My email is alice@example.com")
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email"]
        assert turn.reply == spec.policy.request_question
        graph = [e["outcome"] for e in s.trace() if e["kind"] == "graph"]
        assert graph == ["identity", "ask"] and s.state["request_asked"]
        # Once only: a message the classifier reads as no request is the model's to answer.
        assert s.send("Well, it's complicated.").reply == "Sure, what can I do?"


def test_the_answer_to_the_request_question_is_read_as_a_request(spec, scripted, shop_db):
    scripted.enqueue(reply("Hello!"), AUTH, call("get_user_details", user_id="alice_smith_1001"), reply("Which reason?"))
    with AgentSession(spec, model=scripted, db=shop_db) as s:
        s.send("Hi, I need some help with an order.")
        assert s.send("My email is alice@example.com").reply == spec.policy.request_question
        answer = "Here it is: The order I placed with the Mug has to be cancelled, it's not needed now."
        assert s.deps.requests_in(answer)[0] == []  # alone, the classifier reads no request in it
        s.send(answer)
        assert s.state["requests"] == ["cancel"]


def test_a_customer_who_opened_with_a_request_is_not_asked(spec, scripted, shop_db):
    off = spec.model_copy(update={"policy": spec.policy.model_copy(update={"writes_when_determined": False})})
    scripted.enqueue(AUTH, reply("Which order should I cancel?"))
    with AgentSession(off, model=scripted, db=shop_db) as s:
        turn = s.send("Hi, I want to cancel an order, I no longer need it. My email is alice@example.com")
        assert turn.reply == "Which order should I cancel?"
        assert "ask" not in [e["outcome"] for e in s.trace() if e["kind"] == "graph"]
