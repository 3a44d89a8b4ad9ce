"""The seven retail tools that change the database, with tau2's preconditions and bookkeeping.

Contract: each tool runs in one transaction of ``Database``: it checks every precondition tau2 checks,
in tau2's order and with tau2's messages, and either commits all of its changes or none (a refusal, or
any exception, rolls back). A refusal reaches the model as ``"Error: <why>"``; a success returns the
changed order (the user, for ``modify_user_address``) as JSON.

Bookkeeping follows tau2 exactly, in integer cents (see ``_money``):
- cancel: one ``refund`` entry per existing ``payment_history`` entry (tau2 refunds every entry as it
  stands), gift cards credited at once; status ``cancelled`` and ``cancel_reason`` set.
- modify items: one entry for the total difference (``payment`` if positive, else ``refund``, also for
  0); a gift card pays or receives it at once; status becomes ``pending (item modified)``, which makes
  the order unmodifiable and uncancellable (both require status exactly ``pending``).
- modify payment: ``payment`` on the new method and ``refund`` on the old one, gift cards settled at once.
- return / exchange only *request*: they record the items, the method and (exchange) the difference.
Where tau2 has a plain bug we do not copy it: tau2 gives every modified item the price and options of
the *last* new item of the call; we give each item those of its own new variant. A store whose
``behaviour`` setting is ``tau2`` copies it, and also tau2's float arithmetic there (the difference
summed in floats and recorded unrounded, the gift card compared with it and rounded after), so that
a tau2 reference trajectory ends in exactly the state tau2's own environment computes.
"""
# No ``from __future__ import annotations`` here: the tool signatures keep real annotation objects,
# so ``inspect.signature`` shows ``Annotated[str, Identifier("order")]`` without string evaluation.
import json
from collections import Counter
from typing import Any

from ._calling import Refusal, tool
from ._ids import CANCEL_REASONS, CancelReason, Dictated, ItemId, OrderId, PaymentMethodId, UserId
from ._money import from_cents, to_cents
from ._reads import get_order, get_payment_method, get_user, get_variant
from ._sqlite import Database

__all__ = ["WriteTools"]


def _is_gift_card(method: dict[str, Any]) -> bool:
    return method.get("source") == "gift_card"


def _credit(method: dict[str, Any], cents: int) -> None:
    """Add ``cents`` (negative: debit) to a gift card's balance."""
    method["balance"] = from_cents(to_cents(method["balance"]) + cents)


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    # Key order of db.json; the state hash does not depend on it.
    return {"address1": address1, "address2": address2, "city": city, "country": country, "state": state, "zip": zip}


def _check_in_order(order: dict[str, Any], item_ids: list[str], message: str) -> None:
    """Each id must occur in the order at least as often as in ``item_ids`` (duplicates allowed)."""
    have = Counter(item["item_id"] for item in order["items"])
    for item_id, count in Counter(item_ids).items():
        if count > have[item_id]:
            raise Refusal(message.format(item_id=item_id))


def _first_item(order: dict[str, Any], item_id: str) -> dict[str, Any]:
    item = next((item for item in order["items"] if item["item_id"] == item_id), None)
    if item is None:
        raise Refusal(f"Item {item_id} not found")
    return item


def _price_difference(db: Database, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str],
                      *, distinct: bool) -> tuple[int, list[dict[str, Any]]]:
    """Sum of (new price - old price) in cents over the pairs, and the new variants, in pair order.

    Each new item must be an available variant of the old item's product; ``distinct`` (modify only)
    also refuses a pair whose new id equals the old one.
    """
    diff, variants = 0, []
    for item_id, new_item_id in zip(item_ids, new_item_ids):
        if distinct and item_id == new_item_id:
            raise Refusal("The new item id should be different from the old item id")
        item = _first_item(order, item_id)
        variant = get_variant(db, item["product_id"], new_item_id)
        if not variant["available"]:
            raise Refusal(f"New item {new_item_id} not found or available")
        diff += to_cents(variant["price"]) - to_cents(item["price"])
        variants.append(variant)
    return diff, variants


def _modify_items(order: dict[str, Any], method: dict[str, Any], item_ids: list[str], new_item_ids: list[str],
                  variants: list[dict[str, Any]], payment_method_id: str, diff: int) -> None:
    """The bookkeeping of an item modification in exact cents, each item given its own new variant."""
    if _is_gift_card(method) and to_cents(method["balance"]) < diff:
        raise Refusal("Insufficient gift card balance to pay for the new item")
    order["payment_history"].append(
        {"transaction_type": "payment" if diff > 0 else "refund", "amount": from_cents(abs(diff)),
         "payment_method_id": payment_method_id}
    )
    if _is_gift_card(method):
        _credit(method, -diff)  # pays a positive difference, receives a refund
    # Sequential, like tau2: with duplicate ids each pass finds the next unmodified copy.
    for item_id, new_item_id, variant in zip(item_ids, new_item_ids, variants):
        item = _first_item(order, item_id)
        item["item_id"] = new_item_id
        item["price"] = variant["price"]
        item["options"] = dict(variant["options"])
    order["status"] = "pending (item modified)"


def _modify_items_as_tau2(order: dict[str, Any], method: dict[str, Any], item_ids: list[str],
                          new_item_ids: list[str], variants: list[dict[str, Any]], payment_method_id: str) -> None:
    """tau2's own bookkeeping of an item modification: the difference summed in floats in pair order and
    recorded unrounded, a gift card rounded after paying it, and every modified item given the price and
    options of the call's *last* new variant."""
    diff: float = 0
    for item_id, variant in zip(item_ids, variants):
        diff += variant["price"] - _first_item(order, item_id)["price"]
    if _is_gift_card(method) and method["balance"] < diff:
        raise Refusal("Insufficient gift card balance to pay for the new item")
    order["payment_history"].append(
        {"transaction_type": "payment" if diff > 0 else "refund", "amount": abs(diff),
         "payment_method_id": payment_method_id}
    )
    if _is_gift_card(method):
        method["balance"] = round(method["balance"] - diff, 2)
    last = variants[-1] if variants else None
    for item_id, new_item_id in zip(item_ids, new_item_ids):
        item = _first_item(order, item_id)
        item["item_id"] = new_item_id
        item["price"] = last["price"]
        item["options"] = last["options"]
    order["status"] = "pending (item modified)"


class WriteTools:
    """Mixin: the tools that change the database. Needs ``self._db``, a ``Database``."""

    _db: Database

    @tool
    def cancel_pending_order(self, order_id: OrderId, reason: CancelReason) -> str:
        """Cancel a pending order; a processed or delivered order cannot be cancelled.

        The agent needs to explain the cancellation detail and ask for explicit user confirmation (yes/no)
        to proceed. The order status becomes 'cancelled' and the payment is refunded: immediately to a
        gift card, otherwise within 5-7 business days. Returns the order details after the cancellation.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            reason: The reason for cancellation, which should be either 'no longer needed' or 'ordered by mistake'.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            if order["status"] != "pending":
                raise Refusal("Non-pending order cannot be cancelled")
            if reason not in CANCEL_REASONS:
                raise Refusal("Invalid reason")
            user = get_user(db, order["user_id"])
            refunds = []
            for payment in order["payment_history"]:
                method = get_payment_method(user, payment["payment_method_id"])
                refunds.append(
                    {"transaction_type": "refund", "amount": payment["amount"],
                     "payment_method_id": payment["payment_method_id"]}
                )
                if _is_gift_card(method):
                    _credit(method, to_cents(payment["amount"]))
            order["status"] = "cancelled"
            order["cancel_reason"] = reason
            order["payment_history"].extend(refunds)
            db.put("orders", order_id, order)
            db.put("users", user["user_id"], user)
        return json.dumps(order)

    @tool
    def modify_pending_order_address(self, order_id: OrderId, address1: Dictated, address2: Dictated, city: Dictated,
                                     state: Dictated, country: Dictated, zip: Dictated) -> str:
        """Modify the shipping address of a pending order.

        The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no)
        to proceed. Returns the order details after the modification.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            address1: The first line of the address, such as '123 Main St'.
            address2: The second line of the address, such as 'Apt 1' or ''.
            city: The city, such as 'San Francisco'.
            state: The state, such as 'CA'.
            country: The country, such as 'USA'.
            zip: The zip code, such as '12345'.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            # tau2 accepts any status containing "pending" here, "pending (item modified)" included.
            if "pending" not in order["status"]:
                raise Refusal("Non-pending order cannot be modified")
            order["address"] = _address(address1, address2, city, state, country, zip)
            db.put("orders", order_id, order)
        return json.dumps(order)

    @tool
    def modify_pending_order_items(self, order_id: OrderId, item_ids: list[ItemId], new_item_ids: list[ItemId],
                                   payment_method_id: PaymentMethodId) -> str:
        """Modify items in a pending order to new items of the same product type; it can be called only once per order.

        The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to
        proceed. The order status becomes 'pending (item modified)'. Returns the order details after the
        modification.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            item_ids: The item ids to be modified, each such as '1008292230'. There could be duplicate items in the list.
            new_item_ids: The item ids to be modified for, each such as '1008292230'. There could be duplicate items in the list. Each new item id should match the item id in the same position and be of the same product.
            payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            if order["status"] != "pending":
                raise Refusal("Non-pending order cannot be modified")
            _check_in_order(order, item_ids, "{item_id} not found")
            if len(item_ids) != len(new_item_ids):
                raise Refusal("The number of items to be exchanged should match")
            diff, variants = _price_difference(db, order, item_ids, new_item_ids, distinct=True)
            user = get_user(db, order["user_id"])
            method = get_payment_method(user, payment_method_id)
            if db.setting("behaviour") == "tau2":
                _modify_items_as_tau2(order, method, item_ids, new_item_ids, variants, payment_method_id)
            else:
                _modify_items(order, method, item_ids, new_item_ids, variants, payment_method_id, diff)
            db.put("orders", order_id, order)
            db.put("users", user["user_id"], user)
        return json.dumps(order)

    @tool
    def modify_pending_order_payment(self, order_id: OrderId, payment_method_id: PaymentMethodId) -> str:
        """Modify the payment method of a pending order.

        The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no)
        to proceed. Returns the order details after the modification.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            if "pending" not in order["status"]:
                raise Refusal("Non-pending order cannot be modified")
            user = get_user(db, order["user_id"])
            method = get_payment_method(user, payment_method_id)
            history = order["payment_history"]
            if len(history) != 1 or history[0]["transaction_type"] != "payment":
                raise Refusal("There should be exactly one payment for a pending order")
            old_method_id = history[0]["payment_method_id"]
            if old_method_id == payment_method_id:
                raise Refusal("The new payment method should be different from the current one")
            amount = history[0]["amount"]
            if _is_gift_card(method) and to_cents(method["balance"]) < to_cents(amount):
                raise Refusal("Insufficient gift card balance to pay for the order")

            history.append({"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id})
            history.append({"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id})
            if _is_gift_card(method):
                _credit(method, -to_cents(amount))
            old_method = get_payment_method(user, old_method_id)
            if _is_gift_card(old_method):
                _credit(old_method, to_cents(amount))
            db.put("orders", order_id, order)
            db.put("users", user["user_id"], user)
        return json.dumps(order)

    @tool
    def modify_user_address(self, user_id: UserId, address1: Dictated, address2: Dictated, city: Dictated,
                            state: Dictated, country: Dictated, zip: Dictated) -> str:
        """Modify the default address of a user.

        The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no)
        to proceed. Returns the user details after the modification.

        Args:
            user_id: The user id, such as 'sara_doe_496'.
            address1: The first line of the address, such as '123 Main St'.
            address2: The second line of the address, such as 'Apt 1' or ''.
            city: The city, such as 'San Francisco'.
            state: The state, such as 'CA'.
            country: The country, such as 'USA'.
            zip: The zip code, such as '12345'.
        """
        with self._db.transaction() as db:
            user = get_user(db, user_id)
            user["address"] = _address(address1, address2, city, state, country, zip)
            db.put("users", user_id, user)
        return json.dumps(user)

    @tool
    def return_delivered_order_items(self, order_id: OrderId, item_ids: list[ItemId],
                                     payment_method_id: PaymentMethodId) -> str:
        """Return some items of a delivered order; the order status becomes 'return requested'.

        The agent needs to explain the return detail and ask for explicit user confirmation (yes/no) to
        proceed. The user will receive a follow-up email for how and where to return the item. The refund
        goes to the original payment method or to an existing gift card. Returns the order details.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            item_ids: The item ids to be returned, each such as '1008292230'. There could be duplicate items in the list.
            payment_method_id: The payment method id to receive the refund, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            if order["status"] != "delivered":
                raise Refusal("Non-delivered order cannot be returned")
            user = get_user(db, order["user_id"])
            method = get_payment_method(user, payment_method_id)
            history = order["payment_history"]
            original = history[0]["payment_method_id"] if history else None
            if not _is_gift_card(method) and payment_method_id != original:
                raise Refusal("Payment method should be the original payment method")
            _check_in_order(order, item_ids, "Some item not found")
            order["status"] = "return requested"
            order["return_items"] = sorted(item_ids)
            order["return_payment_method_id"] = payment_method_id
            db.put("orders", order_id, order)
        return json.dumps(order)

    @tool
    def exchange_delivered_order_items(self, order_id: OrderId, item_ids: list[ItemId], new_item_ids: list[ItemId],
                                       payment_method_id: PaymentMethodId) -> str:
        """Exchange items in a delivered order to new items of the same product type; it can be done only once per order.

        The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to
        proceed. The order status becomes 'exchange requested'. Returns the order details after the exchange.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
            item_ids: The item ids to be exchanged, each such as '1008292230'. There could be duplicate items in the list.
            new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There could be duplicate items in the list. Each new item id should match the item id in the same position and be of the same product.
            payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
        """
        with self._db.transaction() as db:
            order = get_order(db, order_id)
            if order["status"] != "delivered":
                raise Refusal("Non-delivered order cannot be exchanged")
            _check_in_order(order, item_ids, "Number of {item_id} not found.")
            if len(item_ids) != len(new_item_ids):
                raise Refusal("The number of items to be exchanged should match.")
            diff, _ = _price_difference(db, order, item_ids, new_item_ids, distinct=False)
            user = get_user(db, order["user_id"])
            method = get_payment_method(user, payment_method_id)
            if _is_gift_card(method) and to_cents(method["balance"]) < diff:
                raise Refusal("Insufficient gift card balance to pay for the price difference")
            # Only a request: no money moves until the items come back.
            order["status"] = "exchange requested"
            order["exchange_items"] = sorted(item_ids)
            order["exchange_new_items"] = sorted(new_item_ids)
            order["exchange_payment_method_id"] = payment_method_id
            order["exchange_price_difference"] = from_cents(diff)
            db.put("orders", order_id, order)
        return json.dumps(order)
