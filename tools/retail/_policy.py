"""Policy hooks of the retail toolkit: whose data a tool call touches (one user per conversation).

Contract: ``describe_call(name, arguments)`` is the sentence that states a write before the user is
asked to confirm it: deterministic, built from the call alone, every argument that matters spelled
out (so a "yes" confirms exactly this call). ``call_owners(db, name, arguments)`` returns the user ids that own the entities a call names:
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


def _list(values: Any) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list) else str(values)


def _address(a: Mapping[str, Any]) -> str:
    parts = [a.get("address1"), a.get("address2"), a.get("city"), f"{a.get('state', '')} {a.get('zip', '')}".strip(),
             a.get("country")]
    return ", ".join(str(p) for p in parts if p)


_DESCRIBE = {
    "cancel_pending_order": lambda a: f"cancel order {a.get('order_id')} (reason: {a.get('reason')})",
    "modify_pending_order_address": lambda a: f"change the shipping address of order {a.get('order_id')} "
                                              f"to {_address(a)}",
    "modify_pending_order_items": lambda a: f"modify order {a.get('order_id')}: item(s) {_list(a.get('item_ids'))} "
                                            f"become {_list(a.get('new_item_ids'))}, price difference settled "
                                            f"with {a.get('payment_method_id')} (items can be modified only once)",
    "modify_pending_order_payment": lambda a: f"change the payment method of order {a.get('order_id')} "
                                              f"to {a.get('payment_method_id')}",
    "modify_user_address": lambda a: f"change the default address of user {a.get('user_id')} to {_address(a)}",
    "return_delivered_order_items": lambda a: f"request a return of item(s) {_list(a.get('item_ids'))} of order "
                                              f"{a.get('order_id')}, refunded to {a.get('payment_method_id')}",
    "exchange_delivered_order_items": lambda a: f"request an exchange in order {a.get('order_id')}: item(s) "
                                                f"{_list(a.get('item_ids'))} for {_list(a.get('new_item_ids'))}, "
                                                f"price difference settled with {a.get('payment_method_id')} "
                                                f"(an order can be exchanged only once)",
}


def describe_call(name: str, arguments: Mapping[str, Any]) -> str | None:
    """"I'm about to <action>." for a retail write; None for a tool without a description."""
    describe = _DESCRIBE.get(name)
    return None if describe is None else f"I'm about to {describe(arguments)}."


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
