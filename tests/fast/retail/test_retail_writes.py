"""The seven write tools: tau2's bookkeeping checked by hand, and every refusal leaves the state untouched."""
from __future__ import annotations

import json

import pytest

from agentspec.tools.retail import RetailStore
from retail_fixture import tiny_db


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


def ok(result: str) -> dict:
    assert not result.startswith("Error"), result
    return json.loads(result)


def refused(store: RetailStore, name: str, message: str, **arguments) -> None:
    """Calling tool ``name`` returns exactly ``Error: message`` and changes nothing."""
    before = store.state_hash()
    assert getattr(store, name)(**arguments) == f"Error: {message}"
    assert store.state_hash() == before


def balance(store: RetailStore, user_id: str, method: str) -> float:
    return json.loads(store.get_user_details(user_id))["payment_methods"][method]["balance"]


def order(store: RetailStore, order_id: str) -> dict:
    return json.loads(store.get_order_details(order_id))


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_by_credit_card_records_the_refund(store):
    result = ok(store.cancel_pending_order("#W1", "no longer needed"))
    assert result == order(store, "#W1")
    assert result["status"] == "cancelled" and result["cancel_reason"] == "no longer needed"
    assert result["payment_history"] == [
        {"transaction_type": "payment", "amount": 15.25, "payment_method_id": "credit_card_1"},
        {"transaction_type": "refund", "amount": 15.25, "payment_method_id": "credit_card_1"},
    ]


def test_cancel_by_gift_card_refunds_the_balance_at_once(store):
    ok(store.cancel_pending_order("#W5", "ordered by mistake"))
    assert balance(store, "bob_2", "gift_card_2") == 112.5  # 100.00 + 12.50


@pytest.mark.parametrize("order_id,message", [
    ("#W2", "Non-pending order cannot be cancelled"),  # delivered
    ("#W3", "Non-pending order cannot be cancelled"),  # processed
    ("#W4", "Non-pending order cannot be cancelled"),  # cancelled already
    ("#W999", "Order not found"),
])
def test_cancel_refusals(store, order_id, message):
    refused(store, "cancel_pending_order", message, order_id=order_id, reason="no longer needed")


def test_cancel_refuses_another_reason(store):
    refused(store, "cancel_pending_order", "Invalid reason", order_id="#W1", reason="found it cheaper")


# -- modify address -------------------------------------------------------------------------------

NEW_ADDRESS = dict(address1="9 Oak Ave", address2="Apt 2", city="Austin", state="TX", country="USA", zip="78701")


def test_modify_order_address(store):
    result = ok(store.modify_pending_order_address("#W1", **NEW_ADDRESS))
    assert result["address"] == NEW_ADDRESS
    assert order(store, "#W2")["address"]["zip"] == "10001"  # other orders untouched


def test_modify_order_address_allowed_after_items_were_modified(store):
    ok(store.modify_pending_order_items("#W1", ["2001"], ["2002"], "credit_card_1"))
    assert ok(store.modify_pending_order_address("#W1", **NEW_ADDRESS))["status"] == "pending (item modified)"


@pytest.mark.parametrize("order_id,message", [
    ("#W2", "Non-pending order cannot be modified"),
    ("#W3", "Non-pending order cannot be modified"),
    ("#W4", "Non-pending order cannot be modified"),
    ("#W0", "Order not found"),
])
def test_modify_order_address_refusals(store, order_id, message):
    refused(store, "modify_pending_order_address", message, order_id=order_id, **NEW_ADDRESS)


def test_modify_user_address(store):
    assert ok(store.modify_user_address("bob_2", **NEW_ADDRESS))["address"] == NEW_ADDRESS
    assert json.loads(store.get_user_details("bob_2"))["address"] == NEW_ADDRESS
    refused(store, "modify_user_address", "User not found", user_id="carol_3", **NEW_ADDRESS)


# -- modify items ---------------------------------------------------------------------------------


def test_modify_items_pays_the_difference_and_locks_the_order(store):
    result = ok(store.modify_pending_order_items("#W1", ["1001"], ["1004"], "credit_card_1"))
    assert result["status"] == "pending (item modified)"
    assert result["items"][0] == {"name": "T-Shirt", "product_id": "P1", "item_id": "1004", "price": 30.0,
                                  "options": {"color": "black", "size": "L"}}
    assert result["payment_history"][-1] == {"transaction_type": "payment", "amount": 20.0,
                                             "payment_method_id": "credit_card_1"}  # 30.00 - 10.00
    # Only once per order, and no cancelling afterwards.
    refused(store, "modify_pending_order_items", "Non-pending order cannot be modified",
            order_id="#W1", item_ids=["2001"], new_item_ids=["2002"], payment_method_id="credit_card_1")
    refused(store, "cancel_pending_order", "Non-pending order cannot be cancelled",
            order_id="#W1", reason="no longer needed")


def test_modify_several_items_gives_each_its_own_variant(store):
    result = ok(store.modify_pending_order_items("#W1", ["1001", "2001"], ["1002", "2002"], "paypal_1"))
    assert [(i["item_id"], i["price"], i["options"]["color"]) for i in result["items"]] == [
        ("1002", 12.5, "red"), ("2002", 6.75, "black")]
    # (12.50 - 10.00) + (6.75 - 5.25) = 4.00
    assert result["payment_history"][-1]["amount"] == 4.0


def test_modify_duplicate_items_changes_each_copy(store):
    result = ok(store.modify_pending_order_items("#W7", ["2001", "2001"], ["2002", "2002"], "credit_card_2"))
    assert [i["item_id"] for i in result["items"]] == ["1001", "2002", "2002"]
    assert result["payment_history"][-1]["amount"] == 3.0  # 2 x (6.75 - 5.25)


def test_modify_items_refund_goes_to_the_gift_card(store):
    result = ok(store.modify_pending_order_items("#W5", ["1002"], ["1001"], "gift_card_2"))
    assert result["payment_history"][-1] == {"transaction_type": "refund", "amount": 2.5,
                                             "payment_method_id": "gift_card_2"}  # 10.00 - 12.50
    assert balance(store, "bob_2", "gift_card_2") == 102.5


def test_modify_items_amount_is_exact_cents(store):
    # In floats 10.2 - 10.0 == 0.1999999999999993; the ledger must say 0.2.
    result = ok(store.modify_pending_order_items("#W1", ["1001"], ["1006"], "credit_card_1"))
    assert result["payment_history"][-1]["amount"] == 0.2


def test_modify_items_gift_card_with_exactly_enough_balance(store):
    ok(store.modify_pending_order_items("#W1", ["1001"], ["1005"], "gift_card_1"))  # 15.00 - 10.00 = 5.00
    assert balance(store, "alice_1", "gift_card_1") == 0.0


@pytest.mark.parametrize("order_id,item_ids,new_item_ids,method,message", [
    ("#W2", ["1001"], ["1002"], "paypal_1", "Non-pending order cannot be modified"),  # delivered
    ("#W3", ["2001"], ["2002"], "credit_card_1", "Non-pending order cannot be modified"),  # processed
    ("#W0", ["1001"], ["1002"], "credit_card_1", "Order not found"),
    ("#W1", ["2002"], ["2001"], "credit_card_1", "2002 not found"),  # item not in the order
    ("#W1", ["1001", "1001"], ["1002", "1002"], "credit_card_1", "1001 not found"),  # only one copy
    ("#W1", ["1001"], ["1002", "1004"], "credit_card_1", "The number of items to be exchanged should match"),
    ("#W1", ["1001"], ["1001"], "credit_card_1", "The new item id should be different from the old item id"),
    ("#W1", ["1001"], ["2001"], "credit_card_1", "Variant not found"),  # another product type
    ("#W1", ["1001"], ["9999"], "credit_card_1", "Variant not found"),  # no such item
    ("#W1", ["1001"], ["1003"], "credit_card_1", "New item 1003 not found or available"),
    ("#W1", ["1001"], ["1002"], "gift_card_2", "Payment method not found"),  # bob's card
    ("#W1", ["1001"], ["1004"], "gift_card_1", "Insufficient gift card balance to pay for the new item"),
])
def test_modify_items_refusals(store, order_id, item_ids, new_item_ids, method, message):
    refused(store, "modify_pending_order_items", message, order_id=order_id, item_ids=item_ids,
            new_item_ids=new_item_ids, payment_method_id=method)


# -- modify payment -------------------------------------------------------------------------------


def test_modify_payment_records_payment_and_refund(store):
    result = ok(store.modify_pending_order_payment("#W1", "paypal_1"))
    assert result["status"] == "pending"
    assert result["payment_history"] == [
        {"transaction_type": "payment", "amount": 15.25, "payment_method_id": "credit_card_1"},
        {"transaction_type": "payment", "amount": 15.25, "payment_method_id": "paypal_1"},
        {"transaction_type": "refund", "amount": 15.25, "payment_method_id": "credit_card_1"},
    ]
    # A second change is refused: the history no longer holds exactly one payment.
    refused(store, "modify_pending_order_payment", "There should be exactly one payment for a pending order",
            order_id="#W1", payment_method_id="credit_card_1")


def test_modify_payment_to_a_gift_card_debits_it(store):
    ok(store.modify_pending_order_payment("#W7", "gift_card_2"))
    assert balance(store, "bob_2", "gift_card_2") == 79.5  # 100.00 - 20.50


def test_modify_payment_from_a_gift_card_credits_it(store):
    ok(store.modify_pending_order_payment("#W5", "credit_card_2"))
    assert balance(store, "bob_2", "gift_card_2") == 112.5  # 100.00 + 12.50


@pytest.mark.parametrize("order_id,method,message", [
    ("#W2", "credit_card_1", "Non-pending order cannot be modified"),
    ("#W4", "paypal_1", "Non-pending order cannot be modified"),
    ("#W0", "paypal_1", "Order not found"),
    ("#W1", "credit_card_2", "Payment method not found"),  # bob's card
    ("#W1", "credit_card_1", "The new payment method should be different from the current one"),
    ("#W1", "gift_card_1", "Insufficient gift card balance to pay for the order"),  # 5.00 < 15.25
])
def test_modify_payment_refusals(store, order_id, method, message):
    refused(store, "modify_pending_order_payment", message, order_id=order_id, payment_method_id=method)


# -- return ---------------------------------------------------------------------------------------


def test_return_to_the_original_method(store):
    result = ok(store.return_delivered_order_items("#W2", ["2002", "1001", "1001"], "paypal_1"))
    assert result["status"] == "return requested"
    assert result["return_items"] == ["1001", "1001", "2002"]  # sorted, as tau2 stores them
    assert result["return_payment_method_id"] == "paypal_1"
    assert result["payment_history"] == tiny_db()["orders"]["#W2"]["payment_history"]  # no money moves yet
    refused(store, "return_delivered_order_items", "Non-delivered order cannot be returned",
            order_id="#W2", item_ids=["1001"], payment_method_id="paypal_1")


def test_return_to_any_own_gift_card(store):
    assert ok(store.return_delivered_order_items("#W6", ["1004"], "gift_card_2"))["return_payment_method_id"] == \
        "gift_card_2"
    assert balance(store, "bob_2", "gift_card_2") == 100.0


@pytest.mark.parametrize("order_id,item_ids,method,message", [
    ("#W1", ["1001"], "credit_card_1", "Non-delivered order cannot be returned"),
    ("#W3", ["2001"], "credit_card_1", "Non-delivered order cannot be returned"),
    ("#W0", ["1001"], "paypal_1", "Order not found"),
    ("#W2", ["1001"], "credit_card_1", "Payment method should be the original payment method"),
    ("#W2", ["1001"], "gift_card_2", "Payment method not found"),
    ("#W2", ["1001", "1001", "1001"], "paypal_1", "Some item not found"),
    ("#W2", ["2001"], "paypal_1", "Some item not found"),
])
def test_return_refusals(store, order_id, item_ids, method, message):
    refused(store, "return_delivered_order_items", message, order_id=order_id, item_ids=item_ids,
            payment_method_id=method)


# -- exchange -------------------------------------------------------------------------------------


def test_exchange_records_the_request_and_difference(store):
    result = ok(store.exchange_delivered_order_items("#W2", ["2002", "1001"], ["2001", "1004"], "paypal_1"))
    assert result["status"] == "exchange requested"
    assert result["exchange_items"] == ["1001", "2002"]
    assert result["exchange_new_items"] == ["1004", "2001"]
    assert result["exchange_payment_method_id"] == "paypal_1"
    assert result["exchange_price_difference"] == 18.5  # (5.25 - 6.75) + (30.00 - 10.00)
    assert [i["item_id"] for i in result["items"]] == ["1001", "1001", "2002"]  # items change on arrival
    refused(store, "exchange_delivered_order_items", "Non-delivered order cannot be exchanged",
            order_id="#W2", item_ids=["1001"], new_item_ids=["1002"], payment_method_id="paypal_1")


def test_exchange_to_cheaper_item_with_low_gift_card(store):
    result = ok(store.exchange_delivered_order_items("#W2", ["2002"], ["2001"], "gift_card_1"))
    assert result["exchange_price_difference"] == -1.5
    assert balance(store, "alice_1", "gift_card_1") == 5.0  # nothing is paid until the exchange happens


@pytest.mark.parametrize("order_id,item_ids,new_item_ids,method,message", [
    ("#W1", ["1001"], ["1002"], "credit_card_1", "Non-delivered order cannot be exchanged"),
    ("#W4", ["2002"], ["2001"], "gift_card_1", "Non-delivered order cannot be exchanged"),
    ("#W0", ["1001"], ["1002"], "paypal_1", "Order not found"),
    ("#W2", ["1004"], ["1002"], "paypal_1", "Number of 1004 not found."),
    ("#W2", ["1001"], [], "paypal_1", "The number of items to be exchanged should match."),
    ("#W2", ["1001"], ["2001"], "paypal_1", "Variant not found"),
    ("#W2", ["1001"], ["1003"], "paypal_1", "New item 1003 not found or available"),
    ("#W2", ["1001"], ["1002"], "credit_card_2", "Payment method not found"),
    ("#W2", ["2002", "1001"], ["2001", "1004"], "gift_card_1",
     "Insufficient gift card balance to pay for the price difference"),  # 5.00 < 18.50
])
def test_exchange_refusals(store, order_id, item_ids, new_item_ids, method, message):
    refused(store, "exchange_delivered_order_items", message, order_id=order_id, item_ids=item_ids,
            new_item_ids=new_item_ids, payment_method_id=method)
