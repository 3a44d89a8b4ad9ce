"""Why a retail write cannot be done, in the customer's terms: the toolkit's ``explain`` hook.

Contract: ``explain_refusal(db, name, arguments, error)`` answers an exchange or an item modification
that the store refuses because a new item is not available ("New item 8118291112 not found or
available"): that version (its product and options) is not available, and the available versions
of the product closest to it (first the most of the options the customer changed, then the most
options in common; at most ``_SHOWN``, cheapest first; never the item the customer already has), each
with its price, and a question which one they would like. ``keeps_request`` is True then, so the
request stays open for the answer ("the waterproof ones then"); one such version is the ``offer``
(a yes takes it).
When no other version is available it says so, and the request is settled.

A write refused for its payment method (a refund to a method that is neither the order's original one
nor a gift card, a payment change to the method the order already has, a gift card whose balance
does not cover it) is answered with why, in the customer's terms, and the customer's methods that
can take it (``_statements.payment_choices``, less the refused one; one such is the ``offer``) and a
question which one; ``keeps_request`` then, so the answer ("the card then") completes the request; with no such method
it says so and the request is settled. An address the dry run finds incomplete (a street with no
number: the reader split "463 Pine Lane" across two lines) is answered with why and the address asked
again, ``keeps_request``: the customer's next message gives it. None for any other error or tool: the
graph then says the store's error.

Not here: which variant the words asked for (``_variants``), the dry run itself (``store.check``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentspec.hooks import Explained

from ._addresses import ADDRESS_WRITES, address_problems
from ._reads import product_of_item
from ._statements import either, payment_choices
from ._sqlite import Database
from ._summaries import _money

__all__ = ["explain_refusal", "version_words"]

_ITEM_WRITES = ("exchange_delivered_order_items", "modify_pending_order_items")
_UNAVAILABLE = re.compile(r"New item (\S+) not found or available")
_SHOWN = 3


def _options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in options.items())


def _old_item(arguments: Mapping[str, Any], new_id: str) -> str | None:
    """The order item whose place ``new_id`` takes in the call (same position in the two lists)."""
    old, new = arguments.get("item_ids"), arguments.get("new_item_ids")
    if not isinstance(old, list) or not isinstance(new, list) or new_id not in new:
        return None
    position = new.index(new_id)
    return str(old[position]) if position < len(old) else None


def _closest(variants: Mapping[str, Any], asked: Mapping[str, Any], old: Mapping[str, Any],
             excluded: set[str]) -> list[dict[str, Any]]:
    """The available variants (not ``excluded``) closest to ``asked``: first by how many of the options
    the customer changed from ``old`` (the item they have) they keep ("the 1000-piece version": the
    available ones with 1000 pieces), then by how many options in common."""
    available = [v for item_id, v in variants.items() if v.get("available") and item_id not in excluded]
    changed = {k: value for k, value in asked.items() if old.get(k) != value}

    def shared(v: Mapping[str, Any], wanted: Mapping[str, Any]) -> int:
        return sum(v.get("options", {}).get(k) == value for k, value in wanted.items())

    scores = {id(v): (shared(v, changed), shared(v, asked)) for v in available}
    best = max(scores.values(), default=(0, 0))
    chosen = [v for v in available if scores[id(v)] == best]
    return sorted(chosen, key=lambda v: float(v.get("price") or 0))[:_SHOWN]


def version_words(product: Mapping[str, Any], variant: Mapping[str, Any]) -> str:
    """A version as the customer would say it, each option with its name: "the Gaming Mouse with color
    black, connectivity wireless" (what a yes to it says: ``Explained.offer``)."""
    options = ", ".join(f"{key} {value}" for key, value in (variant.get("options") or {}).items())
    return f"the {product['name']} with {options}"


# The store's refusals of a payment method, and why in the customer's terms.
_PAYMENT_REFUSALS = {
    "Payment method should be the original payment method":
        "A refund can only go to the order's original payment method or to a gift card",
    "The new payment method should be different from the current one": "The order is already paid that way",
    "Insufficient gift card balance": "That gift card's balance does not cover it",
}


def _payment_refusal(db: Database, name: str, arguments: Mapping[str, Any], error: str) -> Explained | None:
    """Why the payment method was refused and which of the customer's can take it (module docstring)."""
    why = next((said for refusal, said in _PAYMENT_REFUSALS.items() if refusal in error), None)
    if why is None:
        return None
    choices = payment_choices(db, name, arguments, exclude=arguments.get("payment_method_id"))
    if not choices:
        return Explained(f"{why}, and no other payment method of yours can take it. "
                         "Is there anything else I can help you with?")
    return Explained(f"{why}. Which payment method would you like instead: {either(choices)}?", keeps_request=True,
                     offer=choices[0] if len(choices) == 1 else None)


def _address_refusal(name: str, arguments: Mapping[str, Any]) -> Explained | None:
    """An address the dry run found incomplete (module docstring): why, and the address asked again."""
    problems = address_problems(dict(arguments)) if name in ADDRESS_WRITES else []
    if not problems:
        return None
    return Explained(f"I could not read a complete address there ({'; '.join(problems)}). What is the full new "
                     "address: street with its number, city, state and zip code?", keeps_request=True)


def explain_refusal(db: Database, name: str, arguments: Mapping[str, Any], error: str) -> Explained | None:
    """The customer's words for write ``name(**arguments)`` refused with ``error`` (module docstring)."""
    if (paid := _payment_refusal(db, name, arguments, error or "")) is not None:
        return paid
    if (address := _address_refusal(name, arguments)) is not None:
        return address
    found = _UNAVAILABLE.search(error or "")
    if name not in _ITEM_WRITES or found is None:
        return None
    new_id = found.group(1)
    product = product_of_item(db, new_id)
    if product is None:
        return None
    variants = product.get("variants") or {}
    asked = variants[new_id].get("options") or {}
    old_id = _old_item(arguments, new_id)
    old = (variants.get(old_id) or {}).get("options") or {} if old_id else {}
    closest = _closest(variants, asked, old, {new_id, *([old_id] if old_id else [])})
    said = f"That version of the {product['name']} ({_options(asked)}) is not available right now."
    if not closest:
        return Explained(f"{said} No other version of it is available at the moment. "
                         "Is there anything else I can help you with?")
    listed = "; ".join(f"{_options(v.get('options') or {})} ({_money(float(v.get('price') or 0))})" for v in closest)
    if len(closest) == 1:
        return Explained(f"{said} The closest version available: {listed}. Would you like it instead?",
                         keeps_request=True, offer=version_words(product, closest[0]))
    return Explained(f"{said} The closest versions available: {listed}. Would you like one of these instead?",
                     keeps_request=True)
