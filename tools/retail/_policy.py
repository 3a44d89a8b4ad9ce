"""Policy hooks of the retail toolkit: whose data a tool call touches (one user per conversation).

Contract: ``call_owners(db, name, arguments)`` returns the user ids that own the entities a call names:
the ``user_id`` argument itself, the user of an ``order_id``, the holder of a ``payment_method_id``.
An empty set means the call touches no user's data (product lookups, the calculator) or names an
entity that does not exist (the tool itself then refuses with "Error: ... not found"). It never
raises for bad arguments: the agent's guard asks before the tool checks them.

Not here: authentication and confirmation (the agent's guard, ``agentspec.graph.guard``), the tools'
own preconditions (``_writes``), the statement of a write (``_statements``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._sqlite import Database

__all__ = ["call_owners"]


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
