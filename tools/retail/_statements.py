"""The statement of a retail write: what the graph says before the user is asked to confirm it.

Contract: ``describe_call(db, name, arguments)`` is "I'm about to <action>." for a write, None for
any other tool; ``report_call(db, name, arguments)`` is the same write, done ("Order #W1 has been
cancelled ..."), said after it succeeded and read from the store as it is then; ``claims_done(text)``
whether a reply says so of some write, in those words or the like ("... has been updated", "I've
cancelled ..."): a model's reply in a turn where no write ran must not. Deterministic; every argument that matters is spelled out, so a "yes" confirms
exactly this call; each id comes with what a customer knows it by, read from the store (the item's
product name and options, the payment method's kind and last four digits), and the money that moves
is stated (a return's refund, an exchange's or modification's price difference): a wrong item or
card shows, and the customer learns the amount before saying yes. An id the store does not know is
stated as it is (the tool then refuses the call). ``ask_argument(db, name, arguments, argument)`` is
the question for a write's payment method the customer has not named, listing theirs that can take
it (the ``ask`` hook).

Not here: when a write is stated and confirmed (``agentspec.graph.guard``), whose data a call
touches (``_policy``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentspec.hooks import Explained

from ._reads import product_of_item
from ._sqlite import Database

__all__ = ["ask_argument", "claims_done", "describe_call", "either", "payment_choices", "report_call"]


def _address(a: Mapping[str, Any]) -> str:
    parts = [a.get("address1"), a.get("address2"), a.get("city"), f"{a.get('state', '')} {a.get('zip', '')}".strip(),
             a.get("country")]
    return ", ".join(str(p) for p in parts if p)


class _Names:
    """What a customer calls the ids of one call: items by product name and options, payment methods by kind."""

    def __init__(self, db: Database, arguments: Mapping[str, Any], owner: Mapping[str, Any] | None = None) -> None:
        """``owner``: the customer whose payment methods are named (default: the call's order's)."""
        self.db = db
        order = db.get("orders", arguments.get("order_id")) if isinstance(arguments.get("order_id"), str) else None
        self.order_items = {i.get("item_id"): i for i in (order or {}).get("items", [])}
        self.owner = owner if owner is not None else db.get("users", order["user_id"]) if order else None

    def item(self, item_id: Any) -> str:
        found = self._find(item_id)
        if not found:
            return str(item_id)
        options = ", ".join(str(v) for v in (found.get("options") or {}).values())
        return f"{found['name']} ({options + '; ' if options else ''}item {item_id})"

    def items(self, item_ids: Any) -> str:
        return ", ".join(self.item(i) for i in item_ids) if isinstance(item_ids, list) else str(item_ids)

    def total(self, item_ids: Any) -> float | None:
        """The items' prices summed (an item listed twice counts twice); None if any is unknown."""
        if not isinstance(item_ids, list):
            return None
        prices = [(self._find(i) or {}).get("price") for i in item_ids]
        return None if any(not isinstance(p, (int, float)) for p in prices) else round(sum(prices), 2)

    def _find(self, item_id: Any) -> dict[str, Any] | None:
        return self.order_items.get(item_id) or self._catalogue(item_id)

    def _catalogue(self, item_id: Any) -> dict[str, Any] | None:
        # New items of a modify or exchange are product variants, not yet in the order; the catalogue
        # has about fifty products, and only a stated write asks.
        product = product_of_item(self.db, item_id)
        if product is None:
            return None
        variant = product["variants"][item_id]
        return {"name": product["name"], "options": variant.get("options"), "price": variant.get("price")}

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


def _refund(a: Mapping[str, Any], n: _Names) -> str:
    total = n.total(a.get("item_ids"))
    to = n.payment(a.get("payment_method_id"))
    return f"refunded to {to}" if total is None else f"a refund of ${total:.2f} to {to}"


def _difference(a: Mapping[str, Any], n: _Names) -> str:
    """The price difference of new items against old ones, and who pays it with what."""
    old, new = n.total(a.get("item_ids")), n.total(a.get("new_item_ids"))
    method = n.payment(a.get("payment_method_id"))
    if old is None or new is None:
        return f"price difference settled with {method}"
    if new > old:
        return f"${new - old:.2f} more to pay with {method}"
    if new < old:
        return f"${old - new:.2f} refunded to {method}"
    return f"no price difference (payment method: {method})"


_DESCRIBE = {
    "cancel_pending_order": lambda a, n: f"cancel order {a.get('order_id')} (reason: {a.get('reason')})",
    "modify_pending_order_address": lambda a, n: f"change the shipping address of order {a.get('order_id')} "
                                                 f"to {_address(a)}",
    "modify_pending_order_items": lambda a, n: f"modify order {a.get('order_id')}: {n.items(a.get('item_ids'))} "
                                               f"become {n.items(a.get('new_item_ids'))}, {_difference(a, n)}. "
                                               f"Items of an order can be modified only once",
    "modify_pending_order_payment": lambda a, n: f"change the payment method of order {a.get('order_id')} "
                                                 f"to {n.payment(a.get('payment_method_id'))}",
    "modify_user_address": lambda a, n: f"change the default address of user {a.get('user_id')} to {_address(a)}",
    "return_delivered_order_items": lambda a, n: f"request a return of {n.items(a.get('item_ids'))} from order "
                                                 f"{a.get('order_id')}, {_refund(a, n)}",
    "exchange_delivered_order_items": lambda a, n: f"request an exchange in order {a.get('order_id')}: "
                                                   f"{n.items(a.get('item_ids'))} for "
                                                   f"{n.items(a.get('new_item_ids'))}, {_difference(a, n)}. "
                                                   f"An order can be exchanged only once",
}


def describe_call(db: Database, name: str, arguments: Mapping[str, Any]) -> str | None:
    """"I'm about to <action>." for a retail write; None for a tool without a description."""
    describe = _DESCRIBE.get(name)
    return None if describe is None else f"I'm about to {describe(arguments, _Names(db, arguments))}."


_REPORT = {
    "cancel_pending_order": lambda a, n: f"Order {a.get('order_id')} has been cancelled (reason: {a.get('reason')}); "
                                         f"the refund goes back to the original payment method.",
    "modify_pending_order_address": lambda a, n: f"The shipping address of order {a.get('order_id')} has been changed "
                                                 f"to {_address(a)}.",
    "modify_pending_order_items": lambda a, n: f"Order {a.get('order_id')} has been modified: "
                                               f"{n.items(a.get('item_ids'))} became "
                                               f"{n.items(a.get('new_item_ids'))}, {_difference(a, n)}.",
    "modify_pending_order_payment": lambda a, n: f"The payment method of order {a.get('order_id')} has been changed "
                                                 f"to {n.payment(a.get('payment_method_id'))}.",
    "modify_user_address": lambda a, n: f"The default address of user {a.get('user_id')} has been changed to "
                                        f"{_address(a)}.",
    "return_delivered_order_items": lambda a, n: f"The return of {n.items(a.get('item_ids'))} from order "
                                                 f"{a.get('order_id')} has been requested, {_refund(a, n)}. You will "
                                                 f"receive an email with the return instructions.",
    "exchange_delivered_order_items": lambda a, n: f"The exchange in order {a.get('order_id')} has been requested: "
                                                   f"{n.items(a.get('item_ids'))} for "
                                                   f"{n.items(a.get('new_item_ids'))}, {_difference(a, n)}. You "
                                                   f"will receive an email with the return instructions.",
}


# What the reports say of a write done, and the words a model's copy of them drifts to.
_DONE = "cancel+ed|changed|modified|requested|updated|processed|returned|exchanged|refunded|submitted|initiated"
_CLAIMED = re.compile(rf"\b(?:(?:has|have) been|(?:is|are) now|(?:i|we)(?:'ve| have)?(?: just)?) (?:{_DONE})\b", re.I)


def claims_done(text: str) -> bool:
    """Whether ``text`` says that a write is done, as the reports (``report_call``) say it."""
    return _CLAIMED.search(text) is not None


def report_call(db: Database, name: str, arguments: Mapping[str, Any]) -> str | None:
    """The sentence saying write ``name(**arguments)`` is done; None for a tool without one."""
    report = _REPORT.get(name)
    if report is None:
        return None
    return f"{report(arguments, _Names(db, arguments))} Is there anything else I can help you with?"


# What the payment method of each write pays for.
_PAYS_FOR = {"exchange_delivered_order_items": "pay or receive the price difference of the exchange",
             "modify_pending_order_items": "pay or receive the price difference of the new items",
             "return_delivered_order_items": "receive the refund",
             "modify_pending_order_payment": "pay for the order"}


def either(choices: list[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def payment_choices(db: Database, name: str, arguments: Mapping[str, Any], exclude: Any = None) -> list[str]:
    """The customer's payment methods that can take write ``name``'s payment, as a customer knows them
    (a return's refund: the order's original method or a gift card; a payment change: not the method
    the order has now), less ``exclude``; [] for a write that takes none."""
    if name not in _PAYS_FOR:
        return []
    names = _Names(db, arguments)
    methods: dict[str, Any] = dict((names.owner or {}).get("payment_methods") or {})
    order = db.get("orders", str(arguments.get("order_id"))) or {}
    first = {p.get("payment_method_id") for p in (order.get("payment_history") or [])[:1]}
    if name == "return_delivered_order_items":
        methods = {k: m for k, m in methods.items() if k in first or m.get("source") == "gift_card"}
    if name == "modify_pending_order_payment":
        methods = {k: m for k, m in methods.items() if k not in first}
    return [names.payment(k) for k in methods if k != exclude]


def ask_argument(db: Database, name: str, arguments: Mapping[str, Any], argument: str) -> Explained | None:
    """The question for a write's payment method the customer has not named: their methods that can
    take it (``payment_choices``; the one offered when there is one); None for anything else."""
    if argument != "payment_method_id":
        return None
    choices = payment_choices(db, name, arguments)
    if not choices:
        return None
    return Explained(f"Which payment method should {_PAYS_FOR[name]}: {either(choices)}?",
                     offer=choices[0] if len(choices) == 1 else None)
