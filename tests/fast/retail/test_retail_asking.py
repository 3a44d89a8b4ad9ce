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
    assert store.ask("cancel_pending_order", {}, "order_id", user="bob_2") == (
        "Which order would you like to cancel? Your pending orders: #W5: T-Shirt; #W7: T-Shirt, Mug, Mug.")
    assert store.ask("modify_pending_order_payment", {}, "order_id", user="alice_1") == (
        "Which order's payment method would you like to change? Your pending order #W1 holds: T-Shirt (blue, M), "
        "Mug (white).")


def test_which_items_lists_the_orders_a_return_or_a_modification_could_take(store):
    assert store.ask("return_delivered_order_items", {}, "item_ids", user="alice_1") == (
        "Which items would you like to return? Your delivered order #W2 holds: T-Shirt (blue, M), T-Shirt (blue, M), "
        "Mug (black).")
    # The order the words gave is the one listed, whatever its status; its items are the question.
    assert store.ask("modify_pending_order_items", {"order_id": "#W7"}, "order_id", user="bob_2").startswith(
        "Which items would you like to change? Your pending order #W7 holds: T-Shirt (blue, M), Mug (white)")


def test_which_version_lists_the_available_ones_but_the_old_item(store):
    # 1003 (green L) is not available; 1001 is the customer's own.
    assert store.ask("exchange_delivered_order_items", {"order_id": "#W2", "item_ids": ["1001"]}, "new_item_ids") == (
        "Which version of the T-Shirt would you like instead? Available now: color: grey, size: M ($10.20); color: "
        "red, size: M ($12.50); color: white, size: S ($15.00); color: black, size: L ($30.00).")


def test_nothing_to_ask_about_is_none(store):
    assert store.ask("cancel_pending_order", {}, "order_id", user=None) is None  # nobody verified
    assert store.ask("exchange_delivered_order_items", {}, "item_ids", user="nobody_9") is None
    assert store.ask("cancel_pending_order", {"order_id": "#W1"}, "reason", user="alice_1") is None
    assert store.ask("get_order_details", {}, "order_id", user="alice_1") is None


def test_an_orders_address_may_change_after_its_items_did_its_cancel_may_not(store):
    # After an item modification the order is "pending (item modified)": its address and payment still
    # change (the writes take it), a cancel no longer does, so only the former questions list it.
    store.invoke("modify_pending_order_items", {"order_id": "#W1", "item_ids": ["1001"], "new_item_ids": ["1002"],
                                                "payment_method_id": "credit_card_1"})
    assert "item modified" in store.invoke("get_order_details", {"order_id": "#W1"})
    assert store.ask("modify_pending_order_address", {}, "order_id", user="alice_1") == (
        "Which order's shipping address would you like to change? Your pending (item modified) order #W1 holds: "
        "T-Shirt (red, M), Mug (white).")
    assert store.ask("cancel_pending_order", {}, "order_id", user="alice_1") is None
