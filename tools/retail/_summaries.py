"""What a read shows a customer who asked about it: an order's status, items, tracking and payments; a
product's versions and prices.

Contract: ``summarize_read(db, name, arguments)`` is the answer to a question about the record that
lookup ``name(**arguments)`` returns, read from the store as it is now: for ``get_order_details``
the order's status, its items (product name, options, price), the tracking numbers of its
shipments, its total and how it was paid, any refund, and its shipping address; for
``get_product_details`` the product's options over its available variants, their price range and,
when there are few (``_LISTED``), each available variant with its price; None for any other tool, or
for a record the store does not know (the lookup itself then answers the error). The
sentences state only what the store holds, so a customer asking for "the tracking number", "how
much I paid" or "where it ships" finds it, and nothing in it is guessed.

Not here: which question a message asks or which record it describes (the reader and ``_mentions``),
whether the customer may see the record (``_policy``: the graph's guard runs the lookup first).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._money import from_cents, to_cents
from ._sqlite import Database
from ._statements import _address, _Names

__all__ = ["summarize_read"]


def _money(amount: float) -> str:
    return f"${amount:.2f}"


def _item(item: Mapping[str, Any]) -> str:
    options = ", ".join(f"{k}: {v}" for k, v in (item.get("options") or {}).items())
    price = item.get("price")
    priced = f"; {_money(price)}" if isinstance(price, (int, float)) else ""
    return f"{item.get('name')} ({options}{priced})" if options or priced else str(item.get("name"))


def _tracking(order: Mapping[str, Any]) -> str | None:
    numbers = [str(t) for f in order.get("fulfillments") or [] for t in f.get("tracking_id") or []]
    if not numbers:
        return None
    return f"tracking number{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


def _payments(order: Mapping[str, Any], names: _Names) -> list[str]:
    """One phrase per kind of payment event: what was paid with what, what was refunded to what."""
    phrases = []
    for kind, verb in (("payment", "paid"), ("refund", "refunded")):
        events = [p for p in order.get("payment_history") or [] if p.get("transaction_type") == kind]
        if not events:
            continue
        cents = sum(to_cents(p.get("amount", 0)) for p in events)
        methods = sorted({names.payment(p.get("payment_method_id")) for p in events})
        phrases.append(f"{_money(from_cents(cents))} {verb} with {' and '.join(methods)}")
    return phrases


def _order(db: Database, order_id: str) -> str | None:
    order = db.get("orders", order_id)
    if order is None:
        return None
    names = _Names(db, {"order_id": order_id})
    items = order.get("items") or []
    parts = [f"Order {order_id} is {order.get('status')}.",
             f"It holds {len(items)} item{'s' if len(items) != 1 else ''}: {'; '.join(_item(i) for i in items)}."]
    total = sum(to_cents(i["price"]) for i in items if isinstance(i.get("price"), (int, float)))
    facts = [f"total {_money(from_cents(total))}", *_payments(order, names)]
    if tracking := _tracking(order):
        facts.append(tracking)
    sentence = "; ".join(facts)
    parts.append(sentence[0].upper() + sentence[1:] + ".")
    if isinstance(order.get("address"), Mapping):
        parts.append(f"It ships to {_address(order['address'])}.")
    return " ".join(parts)


_LISTED = 10  # a product with at most this many available variants has each one listed


def _options(variants: list[Mapping[str, Any]]) -> str:
    """Each option with the values ``variants`` take: "size 9, 10; colour black, brown"."""
    values: dict[str, list[str]] = {}
    for variant in variants:
        for key, value in (variant.get("options") or {}).items():
            if str(value) not in values.setdefault(str(key), []):
                values[str(key)].append(str(value))
    return "; ".join(f"{key} {', '.join(found)}" for key, found in values.items())


def _product(db: Database, product_id: str) -> str | None:
    product = db.get("products", product_id)
    if product is None:
        return None
    name = product.get("name")
    variants = [v for v in (product.get("variants") or {}).values() if isinstance(v, Mapping)]
    available = [v for v in variants if v.get("available")]
    if not available:
        return f"{name}: none of its {len(variants)} versions is available at the moment."
    prices = [float(v["price"]) for v in available if isinstance(v.get("price"), (int, float))]
    parts = [f"{name}: {len(variants)} version{'s' if len(variants) != 1 else ''}, {len(available)} available now "
             f"({_options(available)})."]
    if prices:
        low, high = _money(min(prices)), _money(max(prices))
        parts.append(f"Available versions cost {low}." if low == high else f"Available versions cost {low} to {high}.")
    if len(available) <= _LISTED:
        parts.append("Available: " + "; ".join(_item({"name": name, **v}).removeprefix(f"{name} ")
                                              for v in available) + ".")
    return " ".join(parts)


def summarize_read(db: Database, name: str, arguments: Mapping[str, Any]) -> str | None:
    """The answer to a question about what lookup ``name(**arguments)`` returns; None when it has none."""
    order_id, product_id = arguments.get("order_id"), arguments.get("product_id")
    summary = None
    if name == "get_order_details" and isinstance(order_id, str):
        summary = _order(db, order_id)
    if name == "get_product_details" and isinstance(product_id, str):
        summary = _product(db, product_id)
    return summary
