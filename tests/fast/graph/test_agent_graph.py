"""The agent graph with a scripted model: policy guard, confirmation, narrowing, limits, compaction."""
from __future__ import annotations

import json

import pytest

from agentspec.graph import AgentSession
from agentspec.graph.prompts import SystemPrompt
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import load_spec
from agentspec.tools.retail import RetailStore

from conftest import MUG, SHIRT, call, changed, read_as, reply

EXCHANGE = dict(order_id="#W0000001", item_ids=["1111111111"], new_item_ids=["2222222222"],
                payment_method_id="credit_card_1000001")
AUTH = call("find_user_id_by_email", email="alice@example.com")


@pytest.fixture
def spec():
    """The shipped retail spec without its request scope (nor the question for a request, nor for its
    order and items): these tests drive the guard with tools any request could need (calculate for
    arithmetic, a cancel after "what now?"); test_request_scope covers the scope, test_asking the
    questions. The reader still reads every message (yes/no, slots, choices)."""
    return changed(load_spec("retail"), understanding={"requests": {}},
                   policy={"ask_for_request": False, "targets": {"said": []}})


def session(spec, model, shop_db, **kw):
    return AgentSession(spec, model=model, data=shop_db, **kw)


def store_of(s: AgentSession) -> RetailStore:
    return s.deps.toolkits["get_order_details"]


def test_exchange_walkthrough_states_asks_then_runs_exactly_that(spec, scripted, shop_db):
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000001"), call("get_product_details", product_id=SHIRT),
                     call("exchange_delivered_order_items", **EXCHANGE))
    with session(spec, scripted, shop_db, name="ex") as s:
        before = store_of(s).state_hash()
        first = s.send("Hi, I want to exchange my shirt for the red one. Email alice@example.com")
        assert [c["name"] for c in first.tool_calls] == [
            "find_user_id_by_email", "get_user_details", "get_order_details", "get_product_details"]
        # Every id with what the customer knows it by, so a wrong item or card shows, and the money.
        assert first.reply == ("I'm about to request an exchange in order #W0000001: T-Shirt (blue, M; item "
                               "1111111111) for T-Shirt (red, M; item 2222222222), $2.50 more to pay with the Visa "
                               "card ending in 1111 (credit_card_1000001). An order can be exchanged only once. "
                               "Shall I proceed? (yes/no)")
        assert store_of(s).state_hash() == before  # stated, not run
        assert s.state["pending"]["calls"] == [{"name": "exchange_delivered_order_items", "arguments": EXCHANGE}]

        second = s.send("yes")
        assert [c["name"] for c in second.tool_calls] == ["exchange_delivered_order_items"]
        # The graph, not the model, says it is done: from the store, with the money that moved.
        assert second.reply == ("The exchange in order #W0000001 has been requested: T-Shirt (blue, M; item "
                                "1111111111) for T-Shirt (red, M; item 2222222222), $2.50 more to pay with the Visa "
                                "card ending in 1111 (credit_card_1000001). You will receive an email with the "
                                "return instructions. Is there anything else I can help you with?")
        assert [e["outcome"] for e in second.entries if e["kind"] == "graph"] == ["reported"]
        assert len(scripted.calls) == 5  # the yes ran the pending call and reported it without asking the model
        order = json.loads(store_of(s).invoke("get_order_details", {"order_id": "#W0000001"}))
        assert order["status"] == "exchange requested" and order["exchange_price_difference"] == 2.5
        with RetailStore.from_json(shop_db) as fresh:
            fresh.invoke("exchange_delivered_order_items", EXCHANGE)
            assert store_of(s).state_hash() == fresh.state_hash()


def test_write_without_explicit_yes_is_never_run(spec, scripted, shop_db):
    cancel = call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake")
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000002"), cancel,
                     reply("Okay, I will not cancel it."), cancel, cancel, reply("Understood."))
    with session(spec, scripted, shop_db) as s:
        before = store_of(s).state_hash()
        assert s.send("cancel #W0000002 please, alice@example.com").reply.startswith("I'm about to cancel order "
                                                                                      "#W0000002")
        assert s.send("hmm, let me think").reply == "Okay, I will not cancel it."
        assert s.state["pending"] is None
        # The model calls the write right away: the graph states it again instead of running it.
        assert s.send("what now?").reply.endswith("Shall I proceed? (yes/no)")
        # A hedged yes is not an explicit confirmation of that exact call.
        assert s.send("yes but change the reason").reply.endswith("Shall I proceed? (yes/no)")
        assert store_of(s).state_hash() == before
        assert not [e for e in s.trace() if e["kind"] == "tool" and e["calls"][0]["name"] == "cancel_pending_order"]


def test_a_zip_in_a_new_address_is_no_identity_and_an_email_is_looked_up_before_any_reply(spec, scripted, shop_db):
    # The zip of the address to ship to gives the name lookup a zip, but no name was dictated with it.
    scripted.enqueue(reply("Sure, you can visit the website."), reply("Sure!"), AUTH, reply("Thanks, Alice."))
    with session(spec, scripted, shop_db) as s:
        first = s.send("Can order #W0000002 be delivered to 264 River Road, San Antonio TX 78268?")
        assert first.reply == spec.messages.identity_request
        # An email given: the turn starts with the lookup (the model's "Sure!" is not a call: retried).
        second = s.send("It's alice@example.com")
        decides = [e for e in second.entries if e["kind"] == "decide"]
        assert decides[0]["attempts"] == 2 and s.state["user_id"] == "alice_smith_1001"
        assert second.reply == "Thanks, Alice."


def test_guard_refuses_another_users_order_and_unauthenticated_reads(spec, scripted, shop_db):
    from agentspec.graph.guard import guard

    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000003"), reply("I can't share that."))
    with session(spec, scripted, shop_db) as s:
        turn = s.send("I'm alice@example.com, what is in order #W0000003?")
        assert turn.reply == "I can't share that."
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email"]  # the read never ran
        refusal = [e for e in turn.entries if e["kind"] == "guard"]
        assert refusal[0]["outcome"] == "refused: other_user"
        observation = s.history()[-2]["content"]
        assert "belongs to another user" in observation and "alice_smith_1001" in observation
        assert "#W0000003" not in json.dumps([c["observation"] for c in turn.tool_calls])
        # The model's own words stood; had it kept at it, the customer hears why (below).
        # The guard refuses a user-only tool when nobody is authenticated, whatever the grammar offered.
        state = {"step": {"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W0000001"}}]},
                 "user_id": None}
        update = guard(state, s.deps)
        assert update["verdicts"][0]["reason"] == "unauthenticated"


def test_grammar_narrows_before_authentication(spec, scripted, shop_db):
    # An early call to a user-only tool is not even in the tool set: the decoder rejects and retries it.
    scripted.enqueue(call("get_order_details", order_id="#W0000001"), AUTH, reply("Thanks, Alice."))
    with session(spec, scripted, shop_db) as s:
        s.send("order #W0000001, email alice@example.com")
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        # Only the auth tool the words give values for: an email, no name (the reader tagged none).
        assert decides[0]["tools_offered"] == ["find_user_id_by_email"]
        assert decides[0]["errors"] == ["unknown_tool"] and decides[0]["attempts"] == 2
        assert "get_order_details" in decides[1]["tools_offered"]  # authenticated: everything offered
        # The expert's static prompt lists no tools; a listing prompt (retail-base's) lists the offered ones.
        assert "get_order_details" not in scripted.calls[0]["messages"][0]["content"]
        narrowed = s.deps.offered_tools(None)
    listing = SystemPrompt(load_spec("retail-base")).render(narrowed, None)
    assert "find_user_id_by_email" in listing and "get_order_details" not in listing


def test_repeated_identical_calls_are_refused_then_stop_the_turn(spec, scripted, shop_db):
    same = call("calculate", expression="2 + 2")  # not a one-identifier lookup: the grammar allows the repeat
    scripted.enqueue(AUTH, same, same, same)
    with session(spec, scripted, shop_db) as s:
        turn = s.send("alice@example.com, what is 2 + 2?")
        assert turn.reply == spec.messages.stopped
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email", "calculate"]
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == ["refused: repeat"] * 2
        # The next step's prompt does not show the graph's stop sentence (small models copy it).
        scripted.enqueue(reply("It is 4."))
        s.send("so what is it?")
        prompt = scripted.calls[-1]["messages"]
        assert all(spec.messages.stopped not in (m["content"] or "") for m in prompt)
        assert prompt[-1] == {"role": "user", "content": "so what is it?"}
        # ... but the session keeps it: the user saw it.
        assert any(spec.messages.stopped in m["content"] for m in s.history() if m["role"] == "assistant")


def test_a_lookup_that_ran_this_turn_is_barred_until_a_write_or_the_next_turn(spec, scripted, shop_db):
    first, second = call("get_order_details", order_id="#W0000001"), call("get_order_details", order_id="#W0000002")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"), first, first, second,
                     reply("Found both orders."))
    with session(spec, scripted, shop_db) as s:
        turn = s.send("I am alice@example.com; where is my order?")
        # The repeat is not a call at all: the step is malformed (the grammar would not have offered it)
        # and the corrective retry looks up the next order.
        assert [c["arguments"] for c in turn.tool_calls if c["name"] == "get_order_details"] == [
            {"order_id": "#W0000001"}, {"order_id": "#W0000002"}]
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert [e["errors"] for e in decides] == [[], [], [], ["excluded_identifier"], []]
        assert not [e for e in turn.entries if e["kind"] == "guard" and e["outcome"].startswith("refused")]
        assert s.state["looked_up"] == {"find_user_id_by_email": ["alice@example.com"],
                                        "get_user_details": ["alice_smith_1001"],
                                        "get_order_details": ["#W0000001", "#W0000002"]}
        # A new turn may look it up again.
        scripted.enqueue(first, reply("It is delivered."))
        again = s.send("and the first one?")
        assert [c["arguments"] for c in again.tool_calls] == [{"order_id": "#W0000001"}]


def test_steps_per_turn_are_bounded(spec, shop_db):
    limited = changed(spec, limits={"max_steps_per_turn": 3})
    counter = iter(range(100))
    model = ScriptedChatModel([AUTH, reply("Hello Alice.")],
                              default_reply=lambda m: call("calculate", expression=f"{next(counter)} + 1"))
    with session(limited, model, shop_db) as s:
        s.send("I am alice@example.com")
        turn = s.send("add things forever")
        assert turn.reply == spec.messages.stopped
        assert len([e for e in turn.entries if e["kind"] == "decide"]) == 3
        assert len(turn.tool_calls) == 3


def test_handoff_sends_the_policy_message(spec, scripted, shop_db):
    scripted.enqueue(AUTH, call("transfer_to_human_agents", summary="wants a human"))
    with session(spec, scripted, shop_db) as s:
        assert s.send("alice@example.com, I want a human please").reply == spec.messages.handoff


def test_one_user_per_session_keeps_the_first_user(spec, scripted, shop_db):
    # Once a user is known the lookup tools leave the grammar: a second lookup is not even a step.
    second = call("find_user_id_by_email", email="bob@example.com")
    scripted.enqueue(AUTH, second, second, second, reply("Sorry."))
    with session(spec, scripted, shop_db) as s:
        s.send("alice@example.com and also bob@example.com")
        assert s.state["user_id"] == "alice_smith_1001"
        after = [e for e in s.trace() if e["kind"] == "decide"][1]
        assert "find_user_id_by_email" not in after["tools_offered"] and after["errors"][0] == "unknown_tool"
        assert not [e for e in s.trace() if e["kind"] == "tool" and e["calls"][0]["arguments"].get("email") ==
                    "bob@example.com"]


def test_before_any_identity_the_graph_asks_for_it_instead_of_the_models_reply(spec, scripted, shop_db):
    scripted.enqueue(reply("Sure, go to the order pages."), AUTH, reply("Hello Alice."), reply("Anything else?"))
    with session(spec, scripted, shop_db) as s:
        first = s.send("Hi, I want to cancel an order.")
        assert first.reply == spec.messages.identity_request
        assert [e["outcome"] for e in first.entries if e["kind"] == "graph"] == ["identity"]
        # Given an email, the model can authenticate: its reply stands from then on.
        assert s.send("alice@example.com").reply == "Hello Alice."
        assert s.send("thanks").reply == "Anything else?"
    assert load_spec("retail-base").messages.identity_request == spec.messages.identity_request  # same graph


def test_the_name_lookup_takes_each_name_from_its_place_in_what_the_user_said(spec, scripted, shop_db):
    # Every word the user typed is a name the grammar could offer; the reader's slots (first_name,
    # last_name) decide which is first and which is last (policy.targets.lookups: name).
    wrong = call("find_user_id_by_name_zip", first_name="Alice", last_name="Alice", zip="10001")
    right = call("find_user_id_by_name_zip", first_name="Alice", last_name="Smith", zip="10001")
    scripted.enqueue(wrong, right, reply("Thanks, Alice."))
    with session(spec, scripted, shop_db) as s:
        s.send("Hi! My name is Alice Smith and my zip code is 10001.")
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        assert decides[0]["errors"] == ["excluded_identifier"] and s.state["user_id"] == "alice_smith_1001"


def test_a_name_no_customer_has_is_not_looked_up_again_and_the_user_is_asked_to_check_it(spec, scripted, shop_db):
    # No customer is Alice Jones: the reader's slots give the name, the lookup fails once. The same lookup
    # in a later turn is refused (the store has not changed), and the user hears the spec's sentence.
    wrong = call("find_user_id_by_name_zip", first_name="Alice", last_name="Jones", zip="10001")
    scripted.enqueue(wrong, reply("Let me check."), wrong, wrong, AUTH, reply("Thanks, Alice."))
    with session(spec, scripted, shop_db) as s:
        first = s.send("My name is Alice Jones and my zip code is 10001.")
        assert [c["outcome"] for c in first.tool_calls] == ["error"]
        assert first.reply == spec.messages.identity_not_found
        second = s.send("My name is Alice Jones, zip code 10001, I told you.")
        assert second.tool_calls == []  # refused twice, never run: the turn stops, the user hears why
        assert [e["outcome"] for e in second.entries if e["kind"] == "guard"] == ["refused: repeat"] * 2
        assert second.reply == spec.messages.identity_not_found
        assert s.send("oh, it's alice@example.com").reply == "Thanks, Alice."


def test_a_name_is_the_store_customers_whose_name_and_zip_the_words_give(spec, scripted, shop_db):
    # The reader misses the name; the toolkit finds Alice Smith of 10001 in the store, and the zip of
    # an address dictated in the same words is not hers.
    wrong = call("find_user_id_by_name_zip", first_name="smith", last_name="alice", zip="10001")
    other_zip = call("find_user_id_by_name_zip", first_name="alice", last_name="smith", zip="78268")
    right = call("find_user_id_by_name_zip", first_name="alice", last_name="smith", zip="10001")
    scripted.enqueue(wrong, other_zip, right, reply("Thanks, Alice."))
    with session(spec, scripted, shop_db) as s:  # the keyword reader reads no lowercase name
        s.send("ship #W0000002 to 264 River Road, San Antonio TX 78268. its alice smith, 10001")
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        assert decides[0]["errors"] == ["excluded_identifier"] * 2 and s.state["user_id"] == "alice_smith_1001"


def test_a_write_targets_the_order_the_user_named(spec, scripted, shop_db):
    wrong = call("modify_pending_order_address", order_id="#W0000001", address1="2 Oak St", address2="",
                 city="Springfield", state="IL", country="USA", zip="10001")
    right = call("modify_pending_order_address", order_id="#W0000002", address1="2 Oak St", address2="",
                 city="Springfield", state="IL", country="USA", zip="10001")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000002"), call("get_order_details", order_id="#W0000001"),
                     wrong, right)
    with session(spec, scripted, shop_db) as s:
        turn = s.send("alice@example.com: ship order #W0000002 to 2 Oak St, Springfield, IL 10001, USA instead")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        # Neither a read of the other order (policy.targets.lookups) nor a write on it is in the grammar.
        assert decides[-1]["errors"] == ["excluded_identifier", "excluded_identifier"]
        assert [c["arguments"]["order_id"] for c in turn.tool_calls if c["name"] == "get_order_details"] == [
            "#W0000002"]
        assert s.state["pending"]["calls"][0]["arguments"]["order_id"] == "#W0000002"
        assert s.state["said"] == [
            "alice@example.com: ship order #W0000002 to 2 Oak St, Springfield, IL 10001, USA instead"]
        scripted.enqueue(reply("Done."))
        s.send("yes")
        assert s.state["said"] == []  # served: the next request names its own order (or none)


def test_a_write_targets_the_order_and_payment_method_the_user_described(spec, scripted, shop_db):
    # No id typed: the order is "the one with the mug" and the method "my credit card" (the retail
    # toolkit's mentions hook); the other order and the order's own gift card are excluded.
    wrong_order = call("modify_pending_order_payment", order_id="#W0000001", payment_method_id="credit_card_1000001")
    wrong_method = call("modify_pending_order_payment", order_id="#W0000002", payment_method_id="gift_card_1000002")
    right = call("modify_pending_order_payment", order_id="#W0000002", payment_method_id="credit_card_1000001")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000002"), wrong_order, wrong_method, right)
    with session(spec, scripted, shop_db) as s:
        turn = s.send("alice@example.com: please pay for my order with the mug with my credit card instead")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        # The write on the other order and the write with the order's own card: both retried.
        assert decides[-1]["errors"] == ["excluded_identifier"] * 2
        assert s.state["pending"]["calls"] == [{"name": "modify_pending_order_payment",
                                                "arguments": json.loads(right)["calls"][0]["arguments"]}]
        assert turn.reply == ("I'm about to change the payment method of order #W0000002 to the Visa card ending "
                              "in 1111 (credit_card_1000001). Shall I proceed? (yes/no)")


@pytest.mark.parametrize("chosen, errors, stated", [
    ({"ordered by mistake": 0.8, "no longer needed": 0.1, "none": 0.1}, ["invalid_arguments"], "ordered by mistake"),
    # Below understanding.choice_threshold: no choice, the enum stays open and the model's reason stands.
    ({"ordered by mistake": 0.5, "no longer needed": 0.1, "none": 0.4}, [], "no longer needed"),
])
def test_a_cancel_takes_the_reason_the_reader_chose(spec, scripted, shop_db, chosen, errors, stated):
    # The reason is the reader's choice head (understanding.choices), not a word list: no keyword rule
    # knows this phrasing, the reading says the reason, and the grammar offers only that one.
    text = "alice@example.com here. Please cancel #W0000002, I clicked the wrong button."
    wrong = call("cancel_pending_order", order_id="#W0000002", reason="no longer needed")
    right = call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"), wrong, right)
    with session(spec, scripted, shop_db, reader=read_as(text, choices={"reason": chosen})) as s:
        turn = s.send(text)
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert decides[-1]["errors"] == errors  # the other reason is not in the grammar
        assert turn.reply.startswith(f"I'm about to cancel order #W0000002 (reason: {stated})")
        assert s.state["choices"] == ({"reason": stated} if errors else {})


def test_a_write_the_tool_would_refuse_is_not_stated_and_the_model_reads_why(spec, scripted, shop_db):
    # #W0000002 is pending: a return would fail. The user is never asked to confirm it.
    doomed = call("return_delivered_order_items", order_id="#W0000002", item_ids=["5555555555"],
                  payment_method_id="gift_card_1000002")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000002"), doomed,
                     reply("That order has not been delivered yet, so it cannot be returned."))
    with session(spec, scripted, shop_db) as s:
        before = store_of(s).state_hash()
        turn = s.send("alice@example.com: return the mug of #W0000002")
        assert turn.reply == "That order has not been delivered yet, so it cannot be returned."
        assert s.state["pending"] is None and store_of(s).state_hash() == before
        refused = [e for e in turn.entries if e["kind"] == "guard"]
        assert [(e["outcome"], e["output"]) for e in refused] == [
            ("refused: precheck", "Error: Non-delivered order cannot be returned (order #W0000002 is pending)")]
        assert "Error: Non-delivered order cannot be returned" in scripted.calls[-1]["messages"][-1]["content"]


def test_lookups_read_what_the_request_is_about(spec, scripted, shop_db):
    # Both orders were read; then "the T-Shirt": the Mug's product is not offered for reading.
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000001"), call("get_order_details", order_id="#W0000002"),
                     reply("You have two orders."),
                     call("get_product_details", product_id=MUG), call("get_product_details", product_id=SHIRT),
                     reply("Which colour would you like?"))
    with session(spec, scripted, shop_db) as s:
        s.send("alice@example.com: what are my orders?")
        turn = s.send("I'd like to exchange the T-Shirt")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert [e["errors"] for e in decides] == [["excluded_identifier"], []]
        assert [c["arguments"] for c in turn.tool_calls] == [{"product_id": SHIRT}]


def test_a_model_that_keeps_at_a_refused_write_ends_the_turn_with_the_tools_reason(spec, scripted, shop_db):
    doomed = call("return_delivered_order_items", order_id="#W0000002", item_ids=["5555555555"],
                  payment_method_id="gift_card_1000002")
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000002"), doomed, doomed, doomed)
    with session(spec, scripted, shop_db) as s:
        turn = s.send("alice@example.com: return the mug of #W0000002")
        # The second try is a repeat (refused); the next ends the turn, and the user hears why.
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == [
            "refused: precheck", "refused: repeat", "refused: repeat"]
        assert turn.reply == ("I can't do that: Non-delivered order cannot be returned (order #W0000002 is "
                              "pending). Is there anything else I can help you with?")
        assert s.state["pending"] is None
        scripted.enqueue(reply("Sure."))
        assert s.send("ok, thanks").reply == "Sure."  # a new message starts clean


def test_an_exchange_takes_the_variant_the_user_described_even_before_it_was_read(spec, scripted, shop_db):
    # "the red one": the only T-Shirt seen is the old one, yet the exchange's new item is the red
    # variant (found in the catalogue by the retail toolkit, grounded by the customer's words).
    old_for_old = call("exchange_delivered_order_items", **{**EXCHANGE, "new_item_ids": ["1111111111"]})
    new_for_new = call("exchange_delivered_order_items", **{**EXCHANGE, "item_ids": ["2222222222"]})
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     call("get_order_details", order_id="#W0000001"), old_for_old, new_for_new,
                     call("exchange_delivered_order_items", **EXCHANGE))
    with session(spec, scripted, shop_db) as s:
        turn = s.send("Hi, I want to exchange the T-Shirt of order #W0000001 for the red one. Email alice@example.com")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        # The old item is not its own exchange, and the described new one is grounded for new_item_ids only.
        assert decides[-1]["errors"] == ["excluded_identifier", "excluded_identifier"]
        assert "2222222222" not in s.state["grounding"].get("item", [])  # never read, still offered
        assert s.state["pending"]["calls"] == [{"name": "exchange_delivered_order_items", "arguments": EXCHANGE}]
        assert "T-Shirt (red, M; item 2222222222)" in turn.reply  # the customer confirms what they described


def test_a_call_on_another_users_order_tried_again_ends_the_turn_with_the_reason(spec, scripted, shop_db):
    # "Cancel my friend's order": the expert retried the refused call until the step limit, every
    # turn, and the customer heard a request to rephrase.
    other = call("get_order_details", order_id="#W0000003")
    scripted.enqueue(AUTH, other, other, other)
    with session(spec, scripted, shop_db) as s:
        turn = s.send("I'm alice@example.com. Please cancel order #W0000003, it is my friend's order.")
        assert [e["outcome"] for e in turn.entries if e["kind"] == "guard"] == [
            "refused: other_user", "refused: repeat", "refused: repeat"]
        # The guard's reason is for the model; the customer hears the spec's sentence for it.
        assert turn.reply == spec.messages.not_yours.format(user="alice_smith_1001")
        assert len(scripted.calls) == 4  # the repeats ended the turn (limits.max_repeated_calls), not 8 steps


def test_the_same_reply_twice_in_a_row_is_decoded_again_as_a_call(spec, scripted, shop_db):
    # A model stuck on one sentence answers nothing the customer said since: the step is taken again as a call.
    stuck = reply("I can help you with that.")
    scripted.enqueue(AUTH, stuck, stuck, call("get_order_details", order_id="#W0000002"), reply("It is pending."))
    spec = changed(spec, understanding={"questions": {}})  # the model answers the question (test_questions)
    with session(spec, scripted, shop_db) as s:
        assert s.send("alice@example.com, I have a question about #W0000002").reply == "I can help you with that."
        second = s.send("what is the status of #W0000002?")
        assert [c["name"] for c in second.tool_calls] == ["get_order_details"]
        assert second.reply == "It is pending."
        assert [e.get("repeated_reply") for e in second.entries if e["kind"] == "decide"][0] is True


def test_a_near_copy_of_an_earlier_reply_is_decoded_again_as_a_call(spec, scripted, shop_db):
    # A small model copies an earlier sentence with another id ("order #W0000001 holds ..." said again
    # for #W0000002): it read nothing that says so. The step is taken again as a call.
    said = "Order #W0000001 holds one Mug (white), paid with the gift card; you will receive an email."
    claim = said.replace("#W0000001", "#W0000002")
    scripted.enqueue(AUTH, reply(said), call("get_order_details", order_id="#W0000002"), reply(claim),
                     call("get_order_details", order_id="#W0000001"), reply("Anything else?"))
    with session(spec, scripted, shop_db) as s:
        assert s.send("alice@example.com, I have a question about #W0000001").reply == said
        second = s.send("and what about #W0000002?")
        assert second.reply == "Anything else?"
        assert [e.get("repeated_reply") for e in second.entries if e["kind"] == "decide"] == [None, True, None]


def test_a_reply_saying_a_write_is_done_when_none_ran_is_decoded_again_as_a_call(spec, scripted, shop_db):
    # The 135M model once answered "address on my order needs changing" with "The email from the exchange
    # in order #W5382576 has been requested: ...": a write nobody ran, in the toolkit's report words.
    claim = "The shipping address of order #W0000002 has been updated."
    scripted.enqueue(AUTH, reply(claim), call("get_order_details", order_id="#W0000002"), reply("It is pending."))
    spec = changed(spec, understanding={"questions": {}})
    with session(spec, scripted, shop_db) as s:
        turn = s.send("alice@example.com, what about #W0000002?")
        assert turn.reply == "It is pending."
        assert [c["name"] for c in turn.tool_calls] == ["find_user_id_by_email", "get_order_details"]
        assert [e.get("claimed_write") for e in turn.entries if e["kind"] == "decide"] == [None, True, None]
        assert claim not in [m.get("content") for m in s.state["messages"]]


def test_a_false_claim_with_nothing_to_call_gives_way_to_the_stopped_sentence(spec, scripted, shop_db):
    # Before authentication with nothing to authenticate with, no tool can be called: the customer is
    # asked again rather than told a write was done.
    scripted.enqueue(reply("Your order has been cancelled."))
    with session(spec, scripted, shop_db) as s:
        turn = s.send("hi, I need help with an order")
        assert turn.reply == spec.messages.stopped and not turn.tool_calls
        assert [e.get("claimed_write") for e in turn.entries if e["kind"] == "decide"] == [True]
