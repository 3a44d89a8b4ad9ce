"""Policy hooks of the retail toolkit: whose data a tool call touches (one user per conversation).

Contract: ``describe_call(db, name, arguments)`` is the sentence that states a write before the user
is asked to confirm it: deterministic, every argument that matters spelled out (so a "yes" confirms
exactly this call), each id with what a customer knows it by (the item's product name and options,
the payment method's kind and last four digits) read from the store, so a wrong item or card shows.
An id the store does not know is stated as it is (the tool then refuses it). ``call_owners(db, name, arguments)`` returns the user ids that own the entities a call names:
the ``user_id`` argument itself, the user of an ``order_id``, the holder of a ``payment_method_id``.
An empty set means the call touches no user's data (product lookups, the calculator) or names an
entity that does not exist (the tool itself then refuses with "Error: ... not found"). It never
raises for bad arguments: the agent's guard asks before the tool checks them.

Not here: authentication and confirmation (the agent's guard, ``agentspec.graph.guard``), the tools'
own preconditions (``_writes``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._sqlite import Database

__all__ = ["call_owners", "describe_call"]


def _address(a: Mapping[str, Any]) -> str:
    parts = [a.get("address1"), a.get("address2"), a.get("city"), f"{a.get('state', '')} {a.get('zip', '')}".strip(),
             a.get("country")]
    return ", ".join(str(p) for p in parts if p)


class _Names:
    """What a customer calls the ids of one call: items by product name and options, payment methods by kind."""

    def __init__(self, db: Database, arguments: Mapping[str, Any]) -> None:
        self.db = db
        order = db.get("orders", arguments.get("order_id")) if isinstance(arguments.get("order_id"), str) else None
        self.order_items = {i.get("item_id"): i for i in (order or {}).get("items", [])}
        self.owner = db.get("users", order["user_id"]) if order else None

    def item(self, item_id: Any) -> str:
        found = self.order_items.get(item_id) or self._catalogue(item_id)
        if not found:
            return str(item_id)
        options = ", ".join(str(v) for v in (found.get("options") or {}).values())
        return f"{found['name']} ({options + '; ' if options else ''}item {item_id})"

    def items(self, item_ids: Any) -> str:
        return ", ".join(self.item(i) for i in item_ids) if isinstance(item_ids, list) else str(item_ids)

    def _catalogue(self, item_id: Any) -> dict[str, Any] | None:
        # New items of a modify or exchange are product variants, not yet in the order; the catalogue
        # has about fifty products, and only a stated write asks.
        for _, product in self.db.items("products"):
            variant = product.get("variants", {}).get(item_id)
            if variant is not None:
                return {"name": product["name"], "options": variant.get("options")}
        return None

    def payment(self, method_id: Any) -> str:
        method = ((self.owner or {}).get("payment_methods") or {}).get(method_id)
        if method is None:
            return str(method_id)
        source = method.get("source")
        if source == "credit_card":
            brand = str(method.get("brand", "credit")).capitalize()
            return f"the {brand} card ending in {method.get('last_four', '?')} ({method_id})"
        if source == "paypal":
            return f"PayPal ({method_id})"
        if source == "gift_card":
            return f"the gift card {method_id}"
        return str(method_id)


_DESCRIBE = {
    "cancel_pending_order": lambda a, n: f"cancel order {a.get('order_id')} (reason: {a.get('reason')})",
    "modify_pending_order_address": lambda a, n: f"change the shipping address of order {a.get('order_id')} "
                                                 f"to {_address(a)}",
    "modify_pending_order_items": lambda a, n: f"modify order {a.get('order_id')}: {n.items(a.get('item_ids'))} "
                                               f"become {n.items(a.get('new_item_ids'))}, price difference settled "
                                               f"with {n.payment(a.get('payment_method_id'))}. Items of an order "
                                               f"can be modified only once",
    "modify_pending_order_payment": lambda a, n: f"change the payment method of order {a.get('order_id')} "
                                                 f"to {n.payment(a.get('payment_method_id'))}",
    "modify_user_address": lambda a, n: f"change the default address of user {a.get('user_id')} to {_address(a)}",
    "return_delivered_order_items": lambda a, n: f"request a return of {n.items(a.get('item_ids'))} from order "
                                                 f"{a.get('order_id')}, refunded to "
                                                 f"{n.payment(a.get('payment_method_id'))}",
    "exchange_delivered_order_items": lambda a, n: f"request an exchange in order {a.get('order_id')}: "
                                                   f"{n.items(a.get('item_ids'))} for "
                                                   f"{n.items(a.get('new_item_ids'))}, "
                                                   f"price difference settled with "
                                                   f"{n.payment(a.get('payment_method_id'))}. An order can be "
                                                   f"exchanged only once",
}


def describe_call(db: Database, name: str, arguments: Mapping[str, Any]) -> str | None:
    """"I'm about to <action>." for a retail write; None for a tool without a description."""
    describe = _DESCRIBE.get(name)
    return None if describe is None else f"I'm about to {describe(arguments, _Names(db, arguments))}."


def call_owners(db: Database, name: str, arguments: Mapping[str, Any]) -> set[str]:
    """The user ids whose data the call ``name(**arguments)`` reads or changes."""
    owners: set[str] = set()
    user_id = arguments.get("user_id")
    if isinstance(user_id, str):
        owners.add(user_id)
    order_id = arguments.get("order_id")
    if isinstance(order_id, str):
        order = db.get("orders", order_id)
        if order is not None:
            owners.add(order["user_id"])
    method = arguments.get("payment_method_id")
    if isinstance(method, str):
        # Payment methods live inside users; a scan is fine at the store's size (hundreds of users)
        # and runs only for the few write tools that name one.
        for uid, user in db.items("users"):
            if method in user.get("payment_methods", {}):
                owners.add(uid)
                break
    return owners
