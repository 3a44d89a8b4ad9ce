"""Requests said in a style's sentences: the builders of the hard, fresh and wording-family suites.

A ``Wording`` holds a style's sentences (``_hard`` has the hard and fresh ones; ``family_wording``
turns a wording family into one). The builders take the same arguments as ``_builders``' plus the
wording, and return an ``Intent`` or ``Draft`` (None when the user has nothing that fits), keeping
the standard task's category, user and kind of gold and changing what the customer says: items named
by what tells them apart ("the large, brown Pet Bed"), the new variant by what changes ("in grey"),
two items swapped in one request, returns of up to three items. No sentence lives here.

Not here: identity, splits, execution, the user simulator.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._builders import (Draft, Intent, _cents, _method_phrase, _order_ref, _reads, account_address, build_forbidden,
                        cancel, modify_address, modify_payment, money, paid_orders)
from ._describe import _join, _words, describe_item

__all__ = ["Wording", "describe_change", "extra_builders", "family_wording", "intent_builders", "pick", "vague_opening",
           "worded_forbidden", "worded_transfer"]


@dataclass(frozen=True)
class Wording:
    """The sentences of one style. Templates are ``str.format``-ed; each list is drawn from by the rng.

    Placeholders: ``{o}`` the order as said (``{O}`` capitalised), ``{why}``/``{Why}`` a cancel reason,
    ``{where}`` an address, ``{method}``/``{pay}``/``{Pay}`` a payment method, ``{parts}`` the swaps,
    ``{things}``/``{Things}`` returned items, ``{items}`` an order's products, ``{id}`` an order id,
    ``{address1}``, ``{city}`` the profile's street and city, ``{item}``/``{change}`` one swap.
    A field may hold one sentence or a tuple of them (a wording family's, ``family_wording``).
    """
    not_needed: tuple[str, ...]
    by_mistake: tuple[str, ...]
    cancel: tuple[str, ...]
    address: tuple[str, ...]
    where: str | tuple[str, ...]  # the dictated address, from the fields of the gold address
    payment: tuple[str, ...]
    modify: tuple[str, ...]
    exchange: tuple[str, ...]
    returns: tuple[str, ...]
    order_with: tuple[str, ...]
    order_id: tuple[str, ...]
    swap: str | tuple[str, ...]
    change_bare: str | tuple[str, ...]  # prefix of a change said by its values ("in grey")
    change_keyed: str | tuple[str, ...]  # prefix of a change said with option names ("with color grey")
    forbidden_cancel: str | tuple[str, ...]
    forbidden_address: str | tuple[str, ...]
    forbidden_return: str | tuple[str, ...]
    forbidden_foreign: str | tuple[str, ...]
    transfers: tuple[str, ...]
    vague: tuple[str, ...]
    account_address: tuple[str, ...] = ()  # the account's default address to {where} (families word it)
    bare: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # category -> the request with no details


def _parts(intent: Intent, wording: Wording, kind: str, **parts: str) -> Intent:
    """``intent`` with its ``details``: the request without details (a ``bare`` sentence of ``kind``,
    drawn by its own rng so the other draws stay as they were) and the ``parts`` the customer gives when
    asked. No bare sentence for ``kind``: no details (the customer says it all at once)."""
    bare = wording.bare.get(kind)
    intent.details = {"request": random.Random(intent.request).choice(bare), **parts} if bare else {}
    return intent


def pick(value: str | tuple[str, ...], rng: random.Random) -> str:
    """A sentence of a style: the one it has, or one of its list (wording families have lists)."""
    return value if isinstance(value, str) else rng.choice(value)


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]

def describe_change(item: dict[str, Any], variant: dict[str, Any], rng: random.Random, wording: Wording) -> str:
    """What changes, said one of two ways: "in grey and memory foam" or "with color grey"."""
    changed = {k: v for k, v in variant["options"].items() if item["options"].get(k) != v}
    if rng.random() < 0.5:
        return pick(wording.change_bare, rng) + _join([_words(k, v) for k, v in changed.items()])
    return pick(wording.change_keyed, rng) + _join([f"{k} {v}" for k, v in changed.items()])


def _say_order(ref: str, rng: random.Random, wording: Wording) -> str:
    """The order as a customer says it: "order #W1" -> "my order #W1"; "order with the Lamp" -> another wording."""
    if ref.startswith("order with the "):
        return rng.choice(wording.order_with).format(items=ref[len("order with the "):])
    return rng.choice(wording.order_id).format(id=ref[len("order "):])


def _reworded(intent: Intent | None, templates: tuple[str, ...], rng: random.Random, wording: Wording,
              kind: str, parts: dict[str, str], **facts: str) -> Intent | None:
    """A standard intent with its request said anew (same order, gold and facts), and its ``parts``
    besides the order as it said it (``_parts``, of category ``kind``)."""
    if intent is None:
        return None
    said = _say_order(intent.order_ref or f"order {intent.order_ids[0]}", rng, wording)
    intent.request = rng.choice(templates).format(o=said, O=_cap(said), **facts)
    return _parts(intent, wording, kind, order=said, **parts)


def _cancel(db, user, rng, wording: Wording) -> Intent | None:
    intent = cancel(db, user, rng)
    if intent is None:
        return None
    reason = intent.calls[-1][1]["reason"]
    why = rng.choice(wording.not_needed if reason == "no longer needed" else wording.by_mistake)
    return _reworded(intent, wording.cancel, rng, wording, "cancel", {"reason": why}, why=why, Why=_cap(why))


def _where(address: dict[str, str], rng: random.Random, wording: Wording) -> str:
    """An address write's lines as the style dictates them."""
    line2 = f" {address['address2']}" if address["address2"] else ""
    fields = {k: v for k, v in address.items() if k not in ("order_id", "user_id")}
    return pick(wording.where, rng).format(line2=line2, street=address["address1"] + line2, **fields)


def _address(db, user, rng, wording: Wording) -> Intent | None:
    intent = modify_address(db, user, rng)
    if intent is None:
        return None
    where = _where(intent.calls[-1][1], rng, wording)
    return _reworded(intent, wording.address, rng, wording, "modify_address", {"address": where}, where=where)


def _account_address(db, user, rng, wording: Wording) -> Intent | None:
    intent = account_address(db, user, rng)
    if intent is None:
        return None
    where = _where(intent.calls[-1][1], rng, wording)
    intent.request = rng.choice(wording.account_address).format(where=where)
    return _parts(intent, wording, "account_address", address=where)


def _payment(db, user, rng, wording: Wording) -> Intent | None:
    intent = modify_payment(db, user, rng)
    if intent is None:
        return None
    method = _method_phrase(user, intent.calls[-1][1]["payment_method_id"])
    return _reworded(intent, wording.payment, rng, wording, "modify_payment", {"payment": f"my {method}"},
                     method=method)


def _swap_many(db, user, rng, statuses: tuple[str, ...], tool: str, wording: Wording) -> Intent | None:
    """One or two items of one order swapped for other variants, named by what changes."""
    for order, method in paid_orders(db, user, rng, *statuses):
        swaps = []
        unique = {i["item_id"]: i for i in order["items"]}  # an item id twice in an order: swap it once
        for item in rng.sample(sorted(unique.values(), key=lambda i: i["item_id"]), k=len(unique)):
            variants = db["products"][item["product_id"]]["variants"]
            choices = [v for vid, v in sorted(variants.items()) if v["available"] and vid != item["item_id"]]
            if choices:
                swaps.append((item, rng.choice(choices)))
        if not swaps:
            continue
        swaps = swaps[:2] if rng.random() < 0.5 else swaps[:1]
        ref, known = _order_ref(db, user, order, rng)
        said = _say_order(ref, rng, wording)
        parts = [pick(wording.swap, rng).format(item=describe_item(order, item),
                                                change=describe_change(item, variant, rng, wording))
                 for item, variant in swaps]
        pay = f"my {_method_phrase(user, method)}"
        templates = wording.modify if tool == "modify_pending_order_items" else wording.exchange
        request = rng.choice(templates).format(o=said, O=_cap(said), parts=_join(parts), pay=pay, Pay=_cap(pay))
        calls = _reads(order) + [("get_product_details", {"product_id": p})
                                 for p in dict.fromkeys(item["product_id"] for item, _ in swaps)]
        calls.append((tool, {"order_id": order["order_id"], "item_ids": [item["item_id"] for item, _ in swaps],
                             "new_item_ids": [variant["item_id"] for _, variant in swaps],
                             "payment_method_id": method}))
        kind = "modify_items" if tool == "modify_pending_order_items" else "exchange"
        return _parts(Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref), wording, kind,
                      order=said, items=_join([describe_item(order, item) for item, _ in swaps]),
                      version=_join(parts), payment=pay)
    return None


def _return(db, user, rng, wording: Wording) -> Intent | None:
    for order, method in paid_orders(db, user, rng, "delivered"):
        by_id = {item["item_id"]: item for item in order["items"]}
        chosen = sorted(rng.sample(sorted(by_id), k=min(len(by_id), rng.choice([1, 2, 3]))))
        refund = sum(_cents(by_id[i]["price"]) for i in chosen)
        things = _join([describe_item(order, by_id[i]) for i in chosen])
        ref, known = _order_ref(db, user, order, rng)
        said = _say_order(ref, rng, wording)
        pay = _method_phrase(user, method)
        request = rng.choice(wording.returns).format(things=things, Things=_cap(things), o=said, pay=pay)
        calls = _reads(order) + [("return_delivered_order_items",
                                  {"order_id": order["order_id"], "item_ids": chosen, "payment_method_id": method})]
        return _parts(Intent(request, calls, [order["order_id"]], [money(refund)], order_known=known, order_ref=ref),
                      wording, "return", order=said, items=things, payment=f"my {pay}")
    return None


def worded_forbidden(db, user, rng, other_users: list[dict[str, Any]], wording: Wording) -> Draft | None:
    """``build_forbidden``'s cases (same gold: reads only), asked in other words."""
    draft = build_forbidden(db, user, rng, other_users)
    if draft is None:
        return None
    intent = draft.intents[0]
    facts = {"id": intent.order_ids[0], "address1": user["address"]["address1"], "street": user["address"]["address1"],
             "city": user["address"]["city"]}
    old = intent.request
    if old.startswith("Can you tell me the status"):
        intent.request = pick(wording.forbidden_cancel, rng).format(**facts)
    elif old.startswith("Please change the shipping address"):
        intent.request = pick(wording.forbidden_address, rng).format(**facts)
    elif old.startswith("I want to return"):
        intent.request = pick(wording.forbidden_return, rng).format(**facts)
    else:
        intent.request = pick(wording.forbidden_foreign, rng).format(**facts)
    return draft


def worded_transfer(db, user, rng, other_users, wording: Wording) -> Draft | None:
    request = rng.choice(wording.transfers)
    return Draft([Intent(request, [("transfer_to_human_agents",
                                    {"summary": f"User {user['user_id']} asks: {request}"})])],
                 "Out of the agent's scope: it must transfer to a human agent.")


def vague_opening(rng: random.Random, wording: Wording) -> str:
    """An opening that asks for nothing yet: the request comes when the agent asks."""
    return rng.choice(wording.vague)


def intent_builders(wording: Wording) -> dict[str, Callable[[Any, Any, random.Random], Intent | None]]:
    """The single-intent builders of a style, by category."""
    return {
        "cancel": lambda db, user, rng: _cancel(db, user, rng, wording),
        "modify_address": lambda db, user, rng: _address(db, user, rng, wording),
        "modify_payment": lambda db, user, rng: _payment(db, user, rng, wording),
        "modify_items": lambda db, user, rng: _swap_many(db, user, rng, ("pending",), "modify_pending_order_items",
                                                        wording),
        "return": lambda db, user, rng: _return(db, user, rng, wording),
        "exchange": lambda db, user, rng: _swap_many(db, user, rng, ("delivered",), "exchange_delivered_order_items",
                                                    wording),
    }


def extra_builders(wording: Wording) -> dict[str, Callable[[Any, Any, random.Random], Intent | None]]:
    """The builders of the categories a suite has only when asked for by name, that this style words."""
    if not wording.account_address:
        return {}
    return {"account_address": lambda db, user, rng: _account_address(db, user, rng, wording)}


def family_wording(family: Any) -> Wording:
    """The ``Wording`` of a wording family (``evals.wording.Family``): its request sentences, by the same
    builders as the hard and fresh styles."""
    f = family.acts
    return Wording(
        not_needed=f["reason_not_needed"], by_mistake=f["reason_by_mistake"], cancel=f["cancel"], address=f["address"],
        where=f["where"], payment=f["payment"], modify=f["modify"], exchange=f["exchange"], returns=f["returns"],
        order_with=f["order_with"], order_id=f["order_id"], swap=f["swap"], change_bare=f["change_bare"],
        change_keyed=f["change_keyed"], forbidden_cancel=f["forbidden_cancel"], forbidden_address=f["forbidden_address"],
        forbidden_return=f["forbidden_return"], forbidden_foreign=f["forbidden_foreign"], transfers=f["transfers"],
        vague=f["vague"], account_address=tuple(f["user_address"]),
        bare={"cancel": f["bare_cancel"], "return": f["bare_return"], "exchange": f["bare_exchange"],
              "modify_items": f["bare_modify"], "modify_address": f["bare_address"], "modify_payment": f["bare_payment"],
              "account_address": tuple(f.get("bare_user_address") or ())})
