"""policy.confirmation.determine: a write the customer's words fully give is stated by the graph itself.

What the words give is the reader's (the keyword reader here; ``read_as`` where a test needs a reading)
and the retail toolkit's verifier against its store."""
from __future__ import annotations

import json
from pathlib import Path

from agentspec.graph import AgentSession
from agentspec.graph.state import call_fingerprint
from agentspec.tools.retail import RetailStore

from conftest import SHIRT, _variant, call, changed, read_as, reply, tiny_shop

AUTH = call("find_user_id_by_email", email="alice@example.com")
PROFILE = call("get_user_details", user_id="alice_smith_1001")
READ_SHIRT = call("get_product_details", product_id="8310926033")
EXCHANGE = ("Hi, I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the red one. "
            "Use my gift card for any difference. My email is alice@example.com")


def status(session, order_id: str) -> str:
    store = session.deps.toolkits["get_order_details"]
    return json.loads(store.invoke("get_order_details", {"order_id": order_id}))["status"]


def _steps(session) -> list[tuple[str, str]]:
    return [(e["kind"], e["outcome"]) for e in session.trace() if e["kind"] in ("decide", "graph")]


def test_an_exchange_the_words_determine_is_stated_without_waiting_for_the_model(spec, scripted, shop_db):
    # The expert read every variant of the product instead of writing "the grey one" (REPL demo-1129i).
    # The order, its item, the variant and the verified user's gift card are all the store's: stated
    # right after authentication.
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send(EXCHANGE)
        assert _steps(s) == [("decide", "calls"), ("graph", "determined"), ("graph", "confirm")]
        assert turn.reply.startswith("I'm about to request an exchange in order #W0000001: T-Shirt (blue, M; "
                                     "item 1111111111) for T-Shirt (red, M; item 2222222222)")
        assert "gift card gift_card_1000002" in turn.reply and turn.reply.endswith("Shall I proceed? (yes/no)")
        done = s.send("yes")
        assert [c["name"] for c in done.tool_calls] == ["exchange_delivered_order_items"]
        assert done.tool_calls[0]["arguments"] == {"order_id": "#W0000001", "item_ids": ["1111111111"],
                                                   "new_item_ids": ["2222222222"],
                                                   "payment_method_id": "gift_card_1000002"}
        assert status(s, "#W0000001") == "exchange requested"


def test_a_plain_no_settles_the_request_and_the_graph_says_so(spec, scripted, shop_db):
    scripted.enqueue(AUTH, PROFILE)
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send(EXCHANGE)
        asked = len(scripted.calls)
        turn = s.send("No.")
        assert turn.reply == spec.messages.declined and not turn.tool_calls
        assert len(scripted.calls) == asked  # the graph's answer: the model is not asked
        assert [e["outcome"] for e in turn.entries if e["kind"] == "graph"] == ["declined"]
        # Settled: nothing stays open, and the next request names its own targets.
        assert s.state["open_requests"] == [] and s.state["said"] == [] and s.state["pending"] is None
        assert status(s, "#W0000001") == "delivered"


def test_a_no_that_gives_another_value_is_a_correction_and_the_write_is_stated_again(spec, scripted, shop_db):
    # "No" with a choice the reader read in it: not a decline; the same cancel with that reason is stated.
    opening = "alice@example.com: please cancel #W0000002, I don't need it any more."
    correction = "No, the reason is that I ordered it by mistake."
    mistake = {"ordered by mistake": 0.9, "no longer needed": 0.05, "none": 0.05}
    reader = read_as(correction, answer={"yes": 0.0, "no": 0.95, "other": 0.05}, choices={"reason": mistake})
    scripted.enqueue(AUTH, PROFILE)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        first = s.send(opening)
        assert first.reply.startswith("I'm about to cancel order #W0000002 (reason: no longer needed)")
        turn = s.send(correction)
        assert turn.reply.startswith("I'm about to cancel order #W0000002 (reason: ordered by mistake)")
        assert s.state["open_requests"] == ["cancel"]


def test_a_no_that_names_another_variant_corrects_the_statement(spec, scripted, tmp_path):
    # "No, but in size L": no slot, no choice, read as a plain no; with the words before it, it names
    # another variant (red, L): the exchange is stated again with it, not declined.
    shop = tiny_shop()
    shop["products"][SHIRT]["variants"]["4444444444"] = _variant("4444444444", 24.0, color="red", size="L")
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(shop))
    correction = "no, but in size L please"
    reader = read_as(correction, answer={"yes": 0.0, "no": 0.95, "other": 0.05})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=db, reader=reader) as s:
        assert "for T-Shirt (red, M; item 2222222222)" in s.send(EXCHANGE).reply
        turn = s.send(correction)
        assert "for T-Shirt (red, L; item 4444444444)" in turn.reply
        assert s.state["open_requests"] == ["exchange"]
        assert s.send("no").reply == spec.messages.declined  # a plain no still declines
        assert s.state["open_requests"] == []


def test_an_unsure_answer_is_asked_again_and_a_declined_statement_is_not_stated_again(spec, scripted, shop_db):
    # Unsure ("hmm"): no confirmation, and the graph asks again, the same statement.
    scripted.enqueue(AUTH, reply("Of course. What would you like instead?"))
    no_but = "No, not that, I'm in Springfield."
    reader = read_as(no_but, answer={"yes": 0.0, "no": 0.9, "other": 0.1}, slots={"city": ["Springfield"]})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        first = s.send(EXCHANGE)
        (stated,) = s.state["pending"]["calls"]
        again = s.send("Hmm, let me think about it.")
        assert again.reply == first.reply and s.state["pending"]["calls"] == [stated]
        assert s.state.get("declined", []) == [] and status(s, "#W0000001") == "delivered"
        # A no that says more keeps the request open; the same words still determine the same
        # exchange, but the graph does not state it again: the model hears the user.
        turn = s.send(no_but)
        assert turn.reply == "Of course. What would you like instead?"
        assert _steps(s)[-1] == ("decide", "reply") and not turn.tool_calls
        assert s.state["open_requests"] == ["exchange"] and s.state["pending"] is None
        assert s.state["declined"] == [call_fingerprint(stated)]
        assert status(s, "#W0000001") == "delivered"


def test_an_unsure_yes_does_not_run_the_write_and_is_read_as_a_message(spec, scripted, shop_db):
    # A yes that asks for more is below understanding.yes_threshold: the stated exchange does not run;
    # the message is read like any other (its words join the request's), and the model's call with the
    # card asked for is stated in turn (the guard asks again: nothing runs without a clear yes).
    hedged = "Yes, but use my credit card instead."
    by_card = {"name": "exchange_delivered_order_items", "arguments": {
        "order_id": "#W0000001", "item_ids": ["1111111111"], "new_item_ids": ["2222222222"],
        "payment_method_id": "credit_card_1000001"}}
    scripted.enqueue(AUTH, call(by_card["name"], **by_card["arguments"]))
    reader = read_as(hedged, answer={"yes": 0.55, "no": 0.02, "other": 0.43})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send(EXCHANGE)
        turn = s.send(hedged)
        assert not turn.tool_calls and status(s, "#W0000001") == "delivered"
        assert [e["output"] for e in turn.entries if e["kind"] == "answer"] == ["unsure"]
        assert s.state["said"][-1] == hedged and s.state["open_requests"] == ["exchange"]
        assert s.state["pending"]["calls"] == [by_card]
        assert "Visa card ending in 1111" in turn.reply and turn.reply.endswith("Shall I proceed? (yes/no)")


OPEN_PAYMENT = ("Hi, I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the red one. My "
                "email is alice@example.com")


def test_words_that_leave_only_the_payment_method_open_are_asked_for_it(spec, scripted, shop_db):
    # No payment method named: the Visa and the gift card are both possible. The graph asks (the
    # toolkit's ask hook words the question), once; the answer determines the write.
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send(OPEN_PAYMENT)
        assert turn.reply == ("Which payment method should pay or receive the price difference of the exchange: the "
                              "Visa card ending in 1111 (credit_card_1000001) or the gift card gift_card_1000002?")
        assert ("graph", "choose") in _steps(s) and s.state["pending"] is None
        s.send("the gift card please")
        assert s.state["pending"]["calls"][0]["arguments"]["payment_method_id"] == "gift_card_1000002"


def test_the_payment_question_is_asked_once_then_the_model_hears_the_answer(spec, scripted, shop_db):
    scripted.enqueue(AUTH, PROFILE, reply("Which card would you like to use?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        assert s.send(OPEN_PAYMENT).reply.startswith("Which payment method should")
        assert s.send("hmm, not sure").reply == "Which card would you like to use?"


def test_without_the_toolkits_question_the_model_asks(spec, scripted, shop_db, monkeypatch):
    monkeypatch.setattr(RetailStore, "ask", lambda self, name, arguments, argument, user=None, texts=(): None)
    scripted.enqueue(AUTH, PROFILE, reply("Which payment method should pay the difference?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        assert s.send(OPEN_PAYMENT).reply == "Which payment method should pay the difference?"
        assert ("graph", "determined") not in _steps(s)


def test_a_version_out_of_stock_is_said_with_the_closest_ones_and_the_request_stays_open(spec, scripted, shop_db):
    # The green T-Shirt is out of stock: neither the exchange nor a modification would pass. The exchange's
    # refusal leaves another choice (the toolkit's explain hook): the graph says it, and the request waits.
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the green one, "
                      "size L, paying with my gift card. My email is alice@example.com")
        assert turn.reply == ("That version of the T-Shirt (color: green, size: L) is not available right now. The "
                              "closest version available: color: red, size: M ($22.50). Would you like it instead?")
        assert s.state["offered"] == "the T-Shirt with color red, size M"  # a yes would say it
        assert ("graph", "refused") in _steps(s) and s.state["pending"] is None
        assert s.state["open_requests"] == ["exchange"]
        turn = s.send("ok, the red one then")
        assert s.state["pending"]["calls"] == [{"name": "exchange_delivered_order_items", "arguments": {
            "order_id": "#W0000001", "item_ids": ["1111111111"], "new_item_ids": ["2222222222"],
            "payment_method_id": "gift_card_1000002"}}]


def test_a_plain_yes_to_the_one_closest_version_states_that_version(spec, scripted, shop_db):
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the green one, "
               "size L, paying with my gift card. My email is alice@example.com")
        asked = len(scripted.calls)
        turn = s.send("yes please")
        # The yes says the version offered ("the T-Shirt with color red, size M"): the graph states it.
        assert [e.get("took_offer") for e in turn.entries if e["kind"] == "answer"] == ["the T-Shirt with color red, size M"]
        assert s.state["pending"]["calls"] == [{"name": "exchange_delivered_order_items", "arguments": {
            "order_id": "#W0000001", "item_ids": ["1111111111"], "new_item_ids": ["2222222222"],
            "payment_method_id": "gift_card_1000002"}}]
        assert len(scripted.calls) == asked and s.state["offered"] is None
        # A no to the statement is a no: nothing runs, the request is settled.
        assert s.send("no").reply == spec.messages.declined and s.state["open_requests"] == []


def test_a_plain_no_to_the_closest_versions_settles_the_request(spec, scripted, shop_db):
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the green one, "
               "size L, paying with my gift card. My email is alice@example.com")
        turn = s.send("no")
        assert turn.reply == spec.messages.declined and s.state["open_requests"] == []
        assert not [e for e in turn.entries if e.get("took_offer")] and s.state["pending"] is None


def test_a_refusal_that_no_payment_method_could_change_is_said_before_one_is_named(spec, scripted, shop_db):
    # No payment method named (the profile shows a Visa and a gift card): each would be refused alike.
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the green one, "
                      "size L. My email is alice@example.com")
        assert turn.reply.startswith("That version of the T-Shirt (color: green, size: L) is not available")
        assert s.state["open_requests"] == ["exchange"]


def test_of_two_refused_writes_the_requests_own_tool_is_the_one_told(spec, scripted, tmp_path):
    # A processed order can be neither exchanged nor modified: the customer hears the refusal of the tool
    # their request lists first, and the request is settled.
    shop = tiny_shop()
    shop["orders"]["#W0000001"]["status"] = "processed"
    data = tmp_path / "processed.json"
    data.write_text(json.dumps(shop))
    ask = ("I want to exchange the T-Shirt (color blue, size M) in my order #W0000001 for the red one, paying with "
           "my gift card. My email is alice@example.com")
    for request, told in (("exchange", "Non-delivered order cannot be exchanged"),
                          ("modify_items", "Non-pending order cannot be modified")):
        scripted.enqueue(AUTH, reply("not reached"))
        with AgentSession(spec, model=scripted, data=data, reader=read_as(ask, requests={request: 0.9})) as s:
            turn = s.send(ask)
            assert turn.reply.startswith(f"I can't do that: {told} (order #W0000001 is processed)")
            assert s.state["open_requests"] == []


def test_an_exchange_asked_of_a_pending_order_is_stated_as_the_modification_it_can_be(spec, scripted, shop_db):
    # The customer's word is "exchange"; the order's status makes it a modification (the dry run says so).
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("I want to exchange the Mug (color white) in my order #W0000002 for the black one, paying "
                      "with my gift card. My email is alice@example.com")
        assert s.state["open_requests"] == ["exchange"]
        assert turn.reply.startswith("I'm about to modify order #W0000002")
        assert s.send("yes").tool_calls[0]["name"] == "modify_pending_order_items"


def test_a_named_cancel_with_its_reason_is_stated_right_after_authentication(spec, scripted, shop_db):
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("Please cancel my order #W0000002, I ordered it by mistake. My email is alice@example.com")
        assert _steps(s) == [("decide", "calls"), ("graph", "determined"), ("graph", "confirm")]
        assert turn.reply.startswith("I'm about to cancel order #W0000002") and "ordered by mistake" in turn.reply
        assert [c["name"] for c in s.send("yes").tool_calls] == ["cancel_pending_order"]
        assert status(s, "#W0000002") == "cancelled"


def test_another_users_order_is_never_stated(spec, scripted, shop_db):
    scripted.enqueue(AUTH, reply("I can only help with the orders on your own account."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("Please cancel order #W0000003, I ordered it by mistake. My email is alice@example.com")
        assert ("graph", "determined") not in _steps(s)
        assert turn.reply == "I can only help with the orders on your own account."
        assert status(s, "#W0000003") == "pending"


def test_without_the_policy_the_model_decides(spec, scripted, shop_db):
    spec = changed(spec, policy={"confirmation": {"determine": False}})
    scripted.enqueue(AUTH, PROFILE, reply("Let me look at the T-Shirt's variants."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        assert s.send(EXCHANGE).reply == "Let me look at the T-Shirt's variants."
        assert ("graph", "determined") not in _steps(s)


def test_a_change_read_as_exchange_and_modification_is_the_one_the_order_allows(spec, scripted, shop_db):
    # "swap" reads as both; #W0000001 is delivered, so only the exchange passes its dry run.
    swap = ("I want to swap the T-Shirt (color blue, size M) in my order #W0000001 for the one with color red, "
            "size M. Use my gift card for any price difference. My email is alice@example.com")
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    reader = read_as(swap, requests={"exchange": 0.8, "modify_items": 0.7})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        turn = s.send(swap)
        assert {"exchange", "modify_items"} <= set(s.state["open_requests"])
        assert ("graph", "determined") in _steps(s)
        assert turn.reply.startswith("I'm about to request an exchange in order #W0000001")


def test_a_customer_who_only_asks_for_a_person_is_handed_over_with_their_words(spec, scripted, shop_db):
    # The expert read orders for eleven turns before it handed such a customer over.
    ask = "I want to file a complaint about the delivery driver and talk to a human manager."
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000001"), reply("not reached"))
    reader = read_as(f"{ask} My email is alice@example.com", requests={"transfer": 0.95, "modify_address": 0.05})
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        turn = s.send(f"{ask} My email is alice@example.com")
        assert s.state["asked"] == ["transfer"]
        assert _steps(s) == [("decide", "calls"), ("graph", "determined"), ("graph", "handoff")]
        handoff = turn.tool_calls[-1]
        assert (handoff["name"], handoff["arguments"]) == ("transfer_to_human_agents", {
            "summary": f"User alice_smith_1001 asks: {ask} My email is alice@example.com"})
        assert turn.reply == spec.messages.handoff


def test_a_person_asked_for_next_to_a_request_the_agent_serves_is_the_models_call(spec, scripted, shop_db):
    scripted.enqueue(AUTH, call("get_user_details", user_id="alice_smith_1001"),
                     reply("I can cancel it for you right here. Which reason: no longer needed or ordered by mistake?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        asked = s.send("Hi, alice@example.com here. Please cancel my order #W0000002.")
        assert asked.reply.startswith("Why would you like to cancel order #W0000002")  # the graph's question
        turn = s.send("Can't you just let me talk to a human agent?")
        assert s.state["open_requests"] == ["cancel", "transfer"]
        assert ("graph", "determined") not in _steps(s)  # the model's steps: a read, then its answer
        assert [c["name"] for c in turn.tool_calls] == ["get_user_details"] and turn.reply.startswith("I can cancel")


def _with_order_of(shop: dict, items: list[dict], tmp_path) -> Path:
    """The shop file with alice's pending order #W0000004 of ``items``."""
    shop["orders"]["#W0000004"] = {**shop["orders"]["#W0000002"], "order_id": "#W0000004", "items": items}
    shop["users"]["alice_smith_1001"]["orders"].append("#W0000004")
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(shop))
    return db


def _modified_pairs(spec, scripted, db: Path, change: str) -> dict[str, str]:
    """Old item -> new item of the modification of #W0000004 the graph states for ``change`` and runs on "yes"."""
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000004"), reply("not reached"))
    with AgentSession(spec, model=scripted, data=db, reader=read_as(change, requests={"modify_items": 0.9})) as s:
        turn = s.send(change)
        assert ("graph", "determined") in _steps(s) and turn.reply.endswith("Shall I proceed? (yes/no)")
        done = s.send("yes")
        assert done.tool_calls[0]["name"] == "modify_pending_order_items"
        assert status(s, "#W0000004") == "pending (item modified)"
        arguments = done.tool_calls[0]["arguments"]
        return dict(zip(arguments["item_ids"], arguments["new_item_ids"]))


def test_a_two_item_swap_is_paired_by_the_dry_run(spec, scripted, shop_db, tmp_path):
    shop = json.loads(shop_db.read_text())  # the tiny shop, with one more order of two items
    items = [dict(shop["orders"]["#W0000001"]["items"][0]), dict(shop["orders"]["#W0000002"]["items"][0])]
    change = ("Before order #W0000004 ships, change the Mug for a black one and the T-Shirt for the red one. "
              "Use my gift card for any difference. My email is alice@example.com")
    pairs = _modified_pairs(spec, scripted, _with_order_of(shop, items, tmp_path), change)
    assert pairs == {"1111111111": "2222222222", "5555555555": "6666666666"}  # each item to its own variant


def test_two_items_of_one_product_each_become_the_version_its_own_words_ask_for(spec, scripted, tmp_path):
    # Both pairings of a blue and a red T-Shirt with a blue L and a red L pass the dry run (one product):
    # the words pair them, each item's own words ("the blue T-Shirt to size L") giving its version.
    shop = tiny_shop()
    shirts = shop["products"][SHIRT]["variants"]
    shirts["7777777777"] = _variant("7777777777", 21.0, color="blue", size="L")
    shirts["8888888888"] = _variant("8888888888", 23.0, color="red", size="L")
    items = [{"name": "T-Shirt", "product_id": SHIRT, "item_id": i, "price": shirts[i]["price"],
              "options": dict(shirts[i]["options"])} for i in ("1111111111", "2222222222")]
    change = ("Before order #W0000004 ships, change the red T-Shirt to size L and the blue T-Shirt to size L too. "
              "Use my gift card for any difference. My email is alice@example.com")
    pairs = _modified_pairs(spec, scripted, _with_order_of(shop, items, tmp_path), change)
    assert pairs == {"1111111111": "7777777777", "2222222222": "8888888888"}


def test_the_payment_asked_is_the_one_of_the_write_the_graph_asked_about(spec, scripted, tmp_path):
    # A T-Shirt in a pending and in a delivered order: "the red one" reads as a modification and as an
    # exchange, both passing their dry run, the payment method open in both. The graph asked which
    # items of the pending orders; the payment question is the modification's.
    shop = tiny_shop()
    shop["orders"]["#W0000004"] = {**shop["orders"]["#W0000001"], "order_id": "#W0000004", "status": "pending"}
    shop["users"]["alice_smith_1001"]["orders"].append("#W0000004")
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(shop))
    opening = "I'd like to change something in an order that hasn't shipped. My email is alice@example.com"
    scripted.enqueue(AUTH, PROFILE, call("get_order_details", order_id="#W0000001"), reply("not reached"))
    with AgentSession(spec, model=scripted, data=db, reader=read_as(opening, requests={"modify_items": 0.9})) as s:
        assert s.send(opening).reply.startswith("Which items would you like to change?")
        turn = s.send("the T-Shirt, and I'd like the red one instead")
        assert turn.reply.startswith("Which payment method should pay or receive the price difference of the new items")
        s.send("the gift card")
        assert s.state["pending"]["calls"][0]["name"] == "modify_pending_order_items"


def test_an_address_for_an_order_named_by_its_items_is_the_orders_once_it_is_seen(spec, scripted, shop_db):
    # Before the order is read only the profile's address is callable: the graph reads the order the
    # words describe itself rather than state that one, then states the order's, each line as the
    # reader read it.
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I'm alice@example.com. I moved. Can the order I placed with the Mug be delivered to "
               "12 Oak Street Suite 5, San Jose CA 95120, USA?")
        assert _steps(s) == [("decide", "calls"), ("graph", "determined"), ("graph", "determined"), ("graph", "confirm")]
        assert [e["calls"][0]["name"] for e in s.trace() if e.get("outcome") == "determined"] == [
            "get_order_details", "modify_pending_order_address"]
        assert s.state["pending"]["calls"] == [{"name": "modify_pending_order_address", "arguments": {
            "order_id": "#W0000002", "address1": "12 Oak Street", "address2": "Suite 5", "city": "San Jose",
            "state": "CA", "country": "USA", "zip": "95120"}}]


def test_while_the_described_order_is_unread_the_graph_reads_it_before_any_write(spec, scripted, shop_db):
    # The profile's address would pass its dry run; the order's waits for the order to be read, and so
    # does every write of the same request: the graph reads the described order itself, and the model
    # is never offered the profile's address for it.
    scripted.enqueue(AUTH, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I'm alice@example.com. I moved. Can the order I placed with the Mug be delivered to "
               "12 Oak Street Suite 5, San Jose CA 95120, USA?")
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        assert len(decides) == 1 and "modify_user_address" not in decides[0]["tools_offered"]
        read = next(e for e in s.trace() if e.get("outcome") == "determined")
        assert read["calls"] == [{"name": "get_order_details", "arguments": {"order_id": "#W0000002"}}]
        assert s.state["pending"]["calls"][0]["name"] == "modify_pending_order_address"


def test_the_readers_slots_are_the_lines_of_an_address_write(spec, scripted, shop_db):
    # No comma to go by and no rule of the toolkit's: which words are the street, the city and the zip
    # is the reader's (its slots). Without them the same words give no address: the graph asks for it.
    moved = ("I'm alice@example.com and I moved, please send the order with the Mug to 12 Oak Street Suite 5 "
             "San Jose CA 95120 USA")
    lines = {"address1": "12 Oak Street", "address2": "Suite 5", "city": "San Jose", "state": "CA", "zip": "95120",
             "country": "USA"}
    scripted.enqueue(AUTH, reply("not reached"), AUTH, reply("not reached"))
    slots = {tag: [value] for tag, value in lines.items()}
    reader = read_as(moved, requests={"modify_address": 0.9}, slots=slots)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send(moved)
        assert s.state["pending"]["calls"] == [{"name": "modify_pending_order_address",
                                                "arguments": {"order_id": "#W0000002", **lines}}]
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(moved, requests={"modify_address": 0.9})) as s:
        asked = s.send(moved).reply
        assert asked == "What is the new shipping address of order #W0000002: street, city, state and zip code?"
        assert s.state["slots"] == [{}]
        determined = [e["calls"][0]["name"] for e in s.trace() if e.get("outcome") == "determined"]
        assert determined == ["get_order_details"]  # the described order is read; no write is stated


def test_the_profile_address_alone_is_stated_once_no_order_is_named(spec, scripted, shop_db):
    # Every line from the reader's slots; a line it did not find is the toolkit's to fill (retail: no
    # second line is "", no country is the shop's, read from the profile).
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I'm alice@example.com. Please change my default address to 12 Oak Street, Fort Worth, TX 76184.")
        assert s.state["slots"][0]["city"] == ["Fort Worth"] and "address2" not in s.state["slots"][0]
        assert s.state["pending"]["calls"] == [{"name": "modify_user_address", "arguments": {
            "user_id": "alice_smith_1001", "address1": "12 Oak Street", "address2": "", "city": "Fort Worth",
            "state": "TX", "country": "USA", "zip": "76184"}}]


def test_a_determined_write_the_store_refuses_is_answered_with_why(spec, scripted, shop_db):
    # Every argument given ("by accident" is the reason "ordered by mistake"), and the order is delivered.
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send("alice@example.com here. Could you cancel order #W0000001? I bought it by accident.")
        assert turn.reply == ("I can't do that: Non-pending order cannot be cancelled (order #W0000001 is delivered). "
                              "Is there anything else I can help you with?")
        assert ("graph", "refused") in _steps(s) and s.state["pending"] is None
        assert status(s, "#W0000001") == "delivered"


def test_a_refused_order_address_is_not_swapped_for_the_profiles(spec, scripted, shop_db):
    ship = "alice@example.com here. Please ship order #W0000001 to 12 Oak Street Suite 5, San Jose, CA 95120, USA."
    scripted.enqueue(AUTH, PROFILE, reply("not reached"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(ship, requests={"modify_address": 0.9})) as s:
        turn = s.send(ship)
        assert s.state["pending"] is None  # the default address is not what was asked
        assert turn.reply.startswith("I can't do that: Non-pending order cannot be modified (order #W0000001 is "
                                     "delivered)")


def test_a_write_on_an_order_described_but_not_yet_read_waits_for_its_lookup(spec, scripted, shop_db):
    # The second request names another order by what is in it; only the first order was read. The write
    # is not offered on the order seen last: the graph reads the described order first (its lookup,
    # grounded by the words), and the write is offered once that order is read.
    scripted.enqueue(AUTH, reply("Which payment method?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("I'm alice@example.com. Please cancel order #W0000002, I ordered it by mistake.")
        assert s.state["pending"]["calls"][0]["name"] == "cancel_pending_order"
        s.send("yes")
        turn = s.state["turn"]
        # Once the order is read, the return is given but for the refund's method: the graph asks for it.
        assert s.send("thanks! I also want to return the T-Shirt from my order with the T-Shirt").reply == \
            ("Which payment method should receive the refund: the Visa card ending in 1111 (credit_card_1000001) "
             "or the gift card gift_card_1000002?")
        entries = [e for e in s.trace() if e["turn"] == turn + 1 and e["kind"] in ("graph", "decide")]
        assert entries[0]["calls"] == [{"name": "get_order_details", "arguments": {"order_id": "#W0000001"}}]
        assert [e["outcome"] for e in entries[1:]] == ["choose"]


def test_a_few_orders_the_words_describe_are_each_read_then_the_customer_is_asked_which(spec, scripted, shared_data):
    # mason_lopez_8519 (tau2 db) has a Tea Kettle in one pending order and an Electric Kettle in the other:
    # "the Kettle" describes both, and the graph reads both itself before any write of the cancel. Both
    # can be cancelled: the customer is asked which, with both listed (the model is not asked to guess).
    text = "My email is mason.lopez8921@example.com. Please cancel my order with the Kettle, I ordered it by mistake."
    scripted.enqueue(call("find_user_id_by_email", email="mason.lopez8921@example.com"))
    with AgentSession(spec, model=scripted, data=shared_data / "tau2-retail" / "db.json") as s:
        assert s.send(text).reply == ("Which order would you like to cancel? Your pending orders: #W7752859: "
                                      "Electric Kettle; #W9892169: Cycling Helmet, Tea Kettle.")
        assert len(scripted.calls) == 1
        reads = [e["calls"][0] for e in s.trace() if e.get("outcome") == "determined"]
        assert reads == [{"name": "get_order_details", "arguments": {"order_id": "#W7752859"}},
                         {"name": "get_order_details", "arguments": {"order_id": "#W9892169"}}]


def test_the_latest_request_is_stated_though_an_older_one_is_still_open(spec, scripted, shop_db):
    # The opening was read as an item modification (a misreading nobody settles): the graph asks which
    # items. With the return asked next, the modification's words would leave two writes to choose
    # from. The newest request's write is the one stated, without the model.
    opening = "alice@example.com here, I have a question about an order"
    reader = read_as(opening, requests={"modify_items": 0.9})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        assert s.send(opening).reply == ("Which items would you like to change? Your pending order #W0000002 "
                                         "holds: Mug (white).")
        turn = s.send("I'd like to return the T-Shirt from my order #W0000001, refund to my gift card please.")
        assert s.state["open_requests"] == ["modify_items", "return"]
        assert turn.reply.startswith("I'm about to request a return of T-Shirt (blue, M; item 1111111111)")


def test_an_order_the_words_do_not_name_is_never_taken_for_the_one_seen(spec, scripted, shop_db):
    # Only #W0000001 (delivered) has been shown; "cancel my order" may mean another one: no refusal of
    # the seen order is told, the model hears the customer (without the graph's question: test_asking).
    spec = changed(spec, policy={"targets": {"said": []}})
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000001"),
                     reply("Which order would you like to cancel?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("alice@example.com here. What is the status of order #W0000001?")
        assert s.state["grounding"]["order"] == ["#W0000001"]
        turn = s.send("ok. please cancel my order, I ordered it by mistake")
        assert turn.reply == "Which order would you like to cancel?"
        assert ("graph", "refused") not in _steps(s)


def test_of_two_orders_the_words_describe_the_one_the_write_can_be_done_for_is_meant(spec, scripted, shop_db):
    # Both of alice's orders hold a product called Mug here; only #W0000002 is pending. "my mug order"'s
    # address change is stated for it, not refused for the delivered one nor left to the model.
    db = json.loads(shop_db.read_text())
    db["orders"]["#W0000001"]["items"].append(db["orders"]["#W0000002"]["items"][0])
    shop_db.write_text(json.dumps(db))
    text = "alice@example.com here. Please ship my mug order to 9 Elm St, Springfield, IL 62704 instead."
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(text, requests={"modify_address": 0.95})) as s:
        turn = s.send(text)
        pending = s.state["pending"]
        assert pending and pending["calls"][0]["name"] == "modify_pending_order_address", turn.reply
        assert pending["calls"][0]["arguments"]["order_id"] == "#W0000002"
        assert len(scripted.calls) == 1  # the identity lookup only


def test_of_two_orders_the_words_describe_both_refused_alike_the_customer_hears_why(spec, scripted, shop_db):
    # Both of alice's orders hold a Mug and neither is pending: the address change is refused for both
    # alike, and the customer hears that refusal (the model is not asked to pick one).
    db = json.loads(shop_db.read_text())
    db["orders"]["#W0000001"]["items"].append(db["orders"]["#W0000002"]["items"][0])
    db["orders"]["#W0000002"]["status"] = "delivered"
    shop_db.write_text(json.dumps(db))
    text = "alice@example.com here. Please ship my mug order to 9 Elm St, Springfield, IL 62704 instead."
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(text, requests={"modify_address": 0.95})) as s:
        turn = s.send(text)
        assert s.state["pending"] is None
        assert turn.reply.startswith("I can't do that: Non-pending order cannot be modified"), turn.reply
        assert len(scripted.calls) == 1  # the identity lookup only


def test_a_correction_of_the_stated_exchange_keeps_its_order_not_a_pending_order_with_the_same_item(
        spec, scripted, tmp_path):
    # Alice's delivered order and a pending one both hold the blue T-Shirt: "the red one in size L" after
    # the exchange was stated determines that exchange with the new version and a modification of the
    # pending order; both pass their dry run. The correction is of the stated write: the exchange.
    shop = tiny_shop()
    shop["products"][SHIRT]["variants"]["7777777777"] = _variant("7777777777", 24.0, color="red", size="L")
    shop["orders"]["#W0000004"] = {**shop["orders"]["#W0000002"], "order_id": "#W0000004",
                                   "items": list(shop["orders"]["#W0000001"]["items"])}
    shop["users"]["alice_smith_1001"]["orders"].append("#W0000004")
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(shop))
    exchange = call("exchange_delivered_order_items", order_id="#W0000001", item_ids=["1111111111"],
                    new_item_ids=["2222222222"], payment_method_id="gift_card_1000002")
    scripted.enqueue(AUTH, exchange, reply("Which one would you like?"))
    with AgentSession(spec, model=scripted, data=db) as s:
        first = s.send("alice@example.com. I'd like to exchange the blue T-Shirt for the red one in size M, "
                       "paid with my gift card.")
        assert "request an exchange in order #W0000001" in first.reply, first.reply
        turn = s.send("actually make it the red one in size L")
        assert turn.reply.startswith("I'm about to request an exchange in order #W0000001: T-Shirt (blue, M; "
                                     "item 1111111111) for T-Shirt (red, L; item 7777777777)"), turn.reply
        assert _steps(s)[-2:] == [("graph", "determined"), ("graph", "confirm")]
