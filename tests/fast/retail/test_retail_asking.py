"""The retail toolkit's questions for what only the customer can say (``_asking``, the ``ask`` hook):
which order, which items, which version, read from the store."""
from __future__ import annotations

import pytest

from agentspec.tools.retail import RetailStore

from retail_fixture import tiny_db


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


def test_which_order_lists_the_customers_pending_orders_with_their_items(store):
    two = store.ask("cancel_pending_order", {}, "order_id", user="bob_2")
    assert two.text == "Which order would you like to cancel? Your pending orders: #W5: T-Shirt; #W7: T-Shirt, Mug, Mug."
    assert two.offer is None  # two orders: a yes says neither
    one = store.ask("modify_pending_order_payment", {}, "order_id", user="alice_1")
    assert one.text == ("Which order's payment method would you like to change? Your pending order #W1 holds: "
                        "T-Shirt (blue, M), Mug (white).")
    assert one.offer == "#W1"  # the one order listed: a yes to the question says it


def test_which_items_lists_the_orders_a_return_or_a_modification_could_take(store):
    assert store.ask("return_delivered_order_items", {}, "item_ids", user="alice_1").text == (
        "Which items would you like to return? Your delivered order #W2 holds: T-Shirt (blue, M), T-Shirt (blue, M), "
        "Mug (black).")
    # The order the words gave is the one listed, whatever its status; its items are the question.
    assert store.ask("modify_pending_order_items", {"order_id": "#W7"}, "order_id", user="bob_2").text.startswith(
        "Which items would you like to change? Your pending order #W7 holds: T-Shirt (blue, M), Mug (white)")


def test_which_version_lists_the_available_ones_but_the_old_item(store):
    # 1003 (green L) is not available; 1001 is the customer's own.
    asked = store.ask("exchange_delivered_order_items", {"order_id": "#W2", "item_ids": ["1001"]}, "new_item_ids")
    assert asked.text == (
        "Which version of the T-Shirt would you like instead? Available now: color: grey, size: M ($10.20); color: "
        "red, size: M ($12.50); color: white, size: S ($15.00); color: black, size: L ($30.00).")
    assert asked.offer is None


def test_which_version_lists_those_with_the_most_of_what_the_words_say_and_offers_a_lone_one(store):
    exchange = ("exchange_delivered_order_items", {"order_id": "#W2", "item_ids": ["1001"]}, "new_item_ids")
    in_m = store.ask(*exchange, texts=["I'd like another T-Shirt in size M"])
    assert in_m.text == ("Which version of the T-Shirt would you like instead? Available now: color: grey, size: M "
                         "($10.20); color: red, size: M ($12.50).") and in_m.offer is None
    red = store.ask(*exchange, texts=["the T-Shirt, but in red", "what do you have?"])
    assert red.text.endswith("Available now: color: red, size: M ($12.50).")
    assert red.offer == "the T-Shirt with color red, size M"  # a yes says this version, option by option
    # Words that fit no version (purple) narrow nothing.
    assert store.ask(*exchange, texts=["a purple one"]).text == store.ask(*exchange).text


def test_nothing_to_ask_about_is_none(store):
    assert store.ask("cancel_pending_order", {}, "order_id", user=None) is None  # nobody verified
    assert store.ask("exchange_delivered_order_items", {}, "item_ids", user="nobody_9") is None
    assert store.ask("get_order_details", {}, "order_id", user="alice_1") is None


def test_a_cancels_reason_is_asked_with_the_reasons_the_store_takes(store):
    asked = store.ask("cancel_pending_order", {"order_id": "#W1"}, "reason", user="alice_1")
    assert asked.text == "Why would you like to cancel order #W1: is it no longer needed, or was it ordered by mistake?"
    assert asked.offer is None


def test_an_orders_address_may_change_after_its_items_did_its_cancel_may_not(store):
    # After an item modification the order is "pending (item modified)": its address and payment still
    # change (the writes take it), a cancel no longer does, so only the former questions list it.
    store.invoke("modify_pending_order_items", {"order_id": "#W1", "item_ids": ["1001"], "new_item_ids": ["1002"],
                                                "payment_method_id": "credit_card_1"})
    assert "item modified" in store.invoke("get_order_details", {"order_id": "#W1"})
    assert store.ask("modify_pending_order_address", {}, "order_id", user="alice_1").text == (
        "Which order's shipping address would you like to change? Your pending (item modified) order #W1 holds: "
        "T-Shirt (red, M), Mug (white).")
    assert store.ask("cancel_pending_order", {}, "order_id", user="alice_1") is None


def test_a_new_address_is_asked_for_the_lines_the_words_have_not_given(store):
    order = store.ask("modify_pending_order_address", {"order_id": "#W1"}, "address1", user="alice_1")
    assert order.text == "What is the new shipping address of order #W1: street, city, state and zip code?"
    profile = store.ask("modify_user_address", {"user_id": "alice_1", "address1": "12 Oak Street", "city": "Austin"},
                        "state", user="alice_1")
    assert profile.text == "What is the new address: state and zip code?"
    assert order.offer is None and profile.offer is None
