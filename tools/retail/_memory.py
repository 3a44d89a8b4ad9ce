"""What a retail conversation leaves worth remembering, and whether a memory still holds against the store.

Contract:
- ``write_memories(db, name, arguments, observation) -> list[dict]``: the facts a successful write leaves
  (``text``, ``key``, ``value``, ``kind``; ``agentspec.memory.store.Fact``): the address an order or
  profile now ships to (key ``address``), the payment method a customer chose or was refunded to
  (``payment_method`` / ``refund_method``), and what became of an order (``order:<id>``: cancelled,
  return or exchange requested, items changed). The text names things as a customer does (product
  names, card kind and last four digits), read from the store after the write.
- ``stated_memories(db, user_id, label, texts) -> list[dict]``: what a customer's words asked to keep,
  resolved against the store: ``payment_method`` (the reader read a lasting preference of a payment
  method) -> the one method of this user's the words name (by last four digits, brand, PayPal, gift
  card; ``_mentions``), kept as the refund method from now on (key ``refund_method``: it supersedes a
  refund method remembered from a write, and a later refund supersedes it). Words naming none, or
  several, of the user's methods keep nothing; other labels keep nothing.
- ``verify_memory(db, user_id, memory) -> dict``: ``fresh`` when the store still says it for that user,
  ``stale`` (with ``live``, the value the store has now, and ``text``, the fact to remember instead,
  where there is one, with its ``value``) when it does not, ``unknown`` for a kind it does not know. An address is fresh
  while the user's profile or one of their orders has it; a payment method while the profile lists it;
  an order's fate while the order's status is the one remembered. A memory naming another user's order
  is stale for this user.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._mentions import mentioned
from ._sqlite import Database
from ._statements import _address, _Names

__all__ = ["stated_memories", "verify_memory", "write_memories"]

_FATES = {  # write -> (the order status it leaves, how it is said)
    "cancel_pending_order": ("cancelled", "Asked to cancel order {order}"),
    "return_delivered_order_items": ("return requested", "Asked to return {items} from order {order}"),
    "exchange_delivered_order_items": ("exchange requested", "Asked to exchange {items} for {new} in order {order}"),
    "modify_pending_order_items": ("pending (item modified)", "Asked to change {items} to {new} in order {order}"),
}


def _fact(text: str, key: str, value: str, kind: str) -> dict[str, str]:
    return {"text": text, "key": key, "value": value, "kind": kind}


def write_memories(db: Database, name: str, arguments: Mapping[str, Any], observation: str) -> list[dict[str, str]]:
    """The facts a successful write ``name(**arguments)`` leaves (module docstring)."""
    if observation.startswith("Error"):
        return []
    names = _Names(db, arguments)
    order_id = str(arguments.get("order_id", ""))
    facts: list[dict[str, str]] = []
    if name in ("modify_pending_order_address", "modify_user_address"):
        address = _address(arguments)
        facts.append(_fact(f"Delivery address used last time: {address}", "address", _norm(address), "address"))
    if name == "modify_pending_order_payment":
        method = str(arguments.get("payment_method_id", ""))
        facts.append(_fact(f"Payment method chosen last time: {names.payment(method)}", "payment_method", method,
                           "payment_method"))
    if name in ("return_delivered_order_items", "exchange_delivered_order_items", "modify_pending_order_items"):
        method = str(arguments.get("payment_method_id", ""))
        key = "refund_method" if name.startswith("return") else "payment_method"
        said = "Refund method used last time:" if key == "refund_method" else "Payment method used last time:"
        facts.append(_fact(f"{said} {names.payment(method)}", key, method, "payment_method"))
    if name in _FATES:
        status, how = _FATES[name]
        done = how.format(items=names.items(arguments.get("item_ids")), new=names.items(arguments.get("new_item_ids")),
                          order=order_id)
        reason = f" because: {arguments['reason']}" if arguments.get("reason") else ""
        now = _status(db, order_id) or status
        facts.append(_fact(f"Request last time: {done}{reason}; the order is now {now}", f"order:{order_id}", now, "order"))
    return facts


def stated_memories(db: Database, user_id: str, label: str, texts: list[str]) -> list[dict[str, str]]:
    """What ``texts`` of ``user_id`` asked to keep, as read ``label`` (module docstring)."""
    user = db.get("users", user_id)
    if label != "payment_method" or user is None:
        return []
    found = mentioned(db, "payment_method", texts, sorted(user.get("payment_methods") or {}))
    if not found or len(found) != 1:
        return []
    said = _Names(db, {}, owner=user).payment(found[0])
    return [_fact(f"Refund method the customer asked for from now on: {said}", "refund_method", found[0],
                  "payment_method")]


def verify_memory(db: Database, user_id: str, memory: Mapping[str, Any]) -> dict[str, Any]:
    """Whether ``memory`` still holds for ``user_id`` in the store (module docstring)."""
    kind, value = memory.get("kind"), str(memory.get("value", ""))
    user = db.get("users", user_id)
    if user is None or kind not in ("address", "payment_method", "order"):
        return {"status": "unknown"}
    if kind == "address":
        profile = _address(user.get("address") or {})
        live = {_norm(profile)} | {_norm(_address(o.get("address") or {})) for o in _orders(db, user)}
        if value in live:
            return {"status": "fresh"}
        return {"status": "stale", "live": profile, "value": _norm(profile),
                "text": f"Delivery address on the account now: {profile}"}
    if kind == "payment_method":
        methods = user.get("payment_methods") or {}
        return {"status": "fresh"} if value in methods else {"status": "stale", "live": None}
    order_id = str(memory.get("key", "")).partition(":")[2]
    order = db.get("orders", order_id)
    if order is None or order.get("user_id") != user_id:
        return {"status": "stale", "live": None}
    status = str(order.get("status"))
    if status == value:
        return {"status": "fresh"}
    return {"status": "stale", "live": status, "text": f"Request last time: order {order_id} is now {status}"}


def _orders(db: Database, user: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [o for o in (db.get("orders", str(i)) for i in user.get("orders") or []) if o]


def _status(db: Database, order_id: str) -> str | None:
    order = db.get("orders", order_id)
    return None if order is None else str(order.get("status"))


def _norm(address: str) -> str:
    return " ".join(address.lower().replace(",", " ").split())
