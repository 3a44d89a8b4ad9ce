"""What the agent asks for when the customer's words leave a write's order or items open: the ``ask`` hook.

Contract: ``ask_targets(db, name, arguments, argument, user)`` is the question for what write ``name``
needs and the customer has not named, or None:

- ``order_id`` of a cancel, an order's address or payment change: which order, with the items of
  the customer's orders the write takes (a cancel: pending; an address or payment change: pending,
  items modified or not) ("Which order would you like to cancel? Your pending order #W1 holds: Grill
  (electric, portable)."; one such order is the ``offer``); None when they have none;
- ``order_id`` or ``item_ids`` of a return, an exchange or an item modification: which items, with
  the items of the orders they could be (the order the words gave, else the customer's delivered
  orders for a return or an exchange, their pending ones for a modification: "Which items would you
  like to return? Your delivered order #W1 holds: Office Chair (black, fabric), Coffee Maker (black,
  4 cups)."); None when no such order exists (the graph then tries the request's next write);
- ``new_item_ids`` of an exchange or a modification: which version of each old item's product, with
  the versions available now that have the most of the option values the words say for it
  (``_variants.closest_variants``: "a wireless one" lists the wireless ones; never the old item; at
  most ``_SHOWN``, cheapest first; the words that only say which item is meant do not count: "the
  plastic Skateboard" of two), or that none other is available; for one item, one such version
  is the ``offer``;
- ``reason`` of a cancel: why, with the reasons the store takes ("Why would you like to cancel order
  #W1: is it no longer needed, or was it ordered by mistake?");
- a line of the new address of an order's or the profile's address change: the lines the words have
  not given ("What is the new shipping address of order #W1: street, city, state and zip code?").

Deterministic, read from the store. The payment method's question is ``_statements.ask_argument``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentspec.hooks import Explained

from ._addresses import ADDRESS_WRITES
from ._pieces import without_identifying_words
from ._reads import product_of_item
from ._refusals import _options, version_words
from ._sqlite import Database
from ._summaries import _money
from ._variants import closest_variants

__all__ = ["WRITE_STATUSES", "ask_targets"]

_SHOWN = 6
# The orders whose items a write takes, and its question.
_PENDING, _MODIFIED = ("pending",), ("pending", "pending (item modified)")
_ITEM_WRITES = {"return_delivered_order_items": (("delivered",), "Which items would you like to return?"),
                "exchange_delivered_order_items": (("delivered",), "Which items would you like to exchange?"),
                "modify_pending_order_items": (_PENDING, "Which items would you like to change?")}
_ORDER_WRITES = {"cancel_pending_order": (_PENDING, "Which order would you like to cancel?"),
                 "modify_pending_order_address": (_MODIFIED, "Which order's shipping address would you like to change?"),
                 "modify_pending_order_payment": (_MODIFIED, "Which order's payment method would you like to change?")}


# The order statuses each write takes.
WRITE_STATUSES = {name: statuses for name, (statuses, _) in {**_ITEM_WRITES, **_ORDER_WRITES}.items()}


def ask_targets(db: Database, name: str, arguments: Mapping[str, Any], argument: str,
                user: str | None, texts: Sequence[str] = ()) -> str | Explained | None:
    """The question for the order or items of write ``name`` (module docstring); None for anything else.
    ``texts``: the customer's words for the write so far."""
    if argument == "order_id" and name in _ORDER_WRITES:
        statuses, question = _ORDER_WRITES[name]
        orders = _orders_of(db, statuses, arguments, user)
        return Explained(_which(orders, statuses, question), offer=orders[0][0] if len(orders) == 1 else None) \
            if orders else None
    if argument in ("order_id", "item_ids") and name in _ITEM_WRITES:
        statuses, question = _ITEM_WRITES[name]
        orders = _orders_of(db, statuses, arguments, user)
        return _which(orders, statuses, question) if orders else None
    if argument == "new_item_ids" and name in _ITEM_WRITES and isinstance(arguments.get("item_ids"), list):
        order = db.get("orders", str(arguments.get("order_id"))) or {}
        said = without_identifying_words("\n".join(texts).lower(), order.get("items") or [])
        return _which_versions(db, [str(i) for i in arguments["item_ids"]], said.replace("\n", " "))
    if name in ADDRESS_WRITES and argument in _ADDRESS_LINES:
        return _address_question(name, arguments)
    if argument == "reason" and name == "cancel_pending_order":
        order = f" order {arguments['order_id']}" if isinstance(arguments.get("order_id"), str) else ""
        return f"Why would you like to cancel{order}: is it no longer needed, or was it ordered by mistake?"
    return None


# The lines of a new address the customer says; those the question names, and its words for each.
_ADDRESS_LINES = ("address1", "address2", "city", "state", "zip", "country")
_ASKED_LINES = {"address1": "street", "city": "city", "state": "state", "zip": "zip code"}


def _address_question(name: str, arguments: Mapping[str, Any]) -> str:
    """The question for the lines of a new address that ``arguments`` lack (all of them: the whole address)."""
    lacking = [words for line, words in _ASKED_LINES.items() if not arguments.get(line)] or list(_ASKED_LINES.values())
    listed = lacking[0] if len(lacking) == 1 else f"{', '.join(lacking[:-1])} and {lacking[-1]}"
    order = arguments.get("order_id")
    whose = f"the new shipping address of order {order}" if isinstance(order, str) else "the new address"
    return f"What is {whose}: {listed}?"


def _which(orders: list[tuple[str, dict[str, Any]]], statuses: tuple[str, ...], question: str) -> str:
    """``question`` with the items of ``orders`` (``_orders_of``; at least one)."""
    if len(orders) == 1:
        order_id, order = orders[0]
        described = ", ".join(_item(i) for i in order["items"])
        return f"{question} Your {order.get('status')} order {order_id} holds: {described}."
    listed = "; ".join(f"{o}: {', '.join(str(i.get('name')) for i in order['items'])}" for o, order in orders)
    return f"{question} Your {statuses[0]} orders: {listed}."


def _orders_of(db: Database, statuses: tuple[str, ...], arguments: Mapping[str, Any],
               user: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(id, order) of the order the words gave, else of the user's orders of ``statuses``; with items."""
    given = arguments.get("order_id")
    if isinstance(given, str):
        orders = [(given, db.get("orders", given))]
    else:
        owner = db.get("users", user) if user else None
        orders = [(o, db.get("orders", o)) for o in (owner or {}).get("orders") or []]
        orders = [(o, order) for o, order in orders if order and order.get("status") in statuses]
    return [(o, order) for o, order in orders if order and order.get("items")]


def _item(item: Mapping[str, Any]) -> str:
    options = ", ".join(str(v) for v in (item.get("options") or {}).values())
    return f"{item.get('name')} ({options})" if options else str(item.get("name"))


def _which_versions(db: Database, old_items: list[str], text: str) -> Explained | None:
    """One question per product of ``old_items``: its versions available now, the old items aside, that
    have the most of what ``text`` says; one version of one item is the offer."""
    sentences, offers = [], []
    products = {item_id: product_of_item(db, item_id) for item_id in dict.fromkeys(old_items)}
    for item_id, product in products.items():
        if product is None:
            return None
        variants = product.get("variants") or {}
        # Two items of one product: each question says which ("the Smart Watch (silver, leather, AMOLED)").
        twice = sum(other is not None and other.get("name") == product.get("name") for other in products.values()) > 1
        name = _item({**variants.get(item_id, {}), "name": product["name"]}) if twice else product["name"]
        closest = closest_variants(text, {**variants.get(item_id, {}), "item_id": item_id}, variants)
        available = sorted((v for i, v in variants.items() if i in closest and i not in old_items),
                           key=lambda v: float(v.get("price") or 0))
        offers.append(version_words(product, available[0]) if len(available) == 1 else None)
        if not available:
            sentences.append(f"No other version of the {name} is available right now.")
            continue
        listed = "; ".join(f"{_options(v.get('options') or {})} ({_money(float(v.get('price') or 0))})"
                           for v in available[:_SHOWN])
        more = f" (and {len(available) - _SHOWN} more)" if len(available) > _SHOWN else ""
        sentences.append(f"Which version of the {name} would you like instead? Available now: "
                         f"{listed}{more}.")
    if not sentences:
        return None
    return Explained(" ".join(sentences), offer=offers[0] if len(offers) == 1 else None)
