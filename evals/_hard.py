"""Requests worded and shaped unlike the training data, for ``eval generate --style hard``.

The standard suite and ``train data`` share ``_builders``: the suite's held-out *users* are new to a
trained agent, its *wording* is not. A hard task keeps the standard task's category, user and kind of
gold, and changes what the customer says:

- items are named the way customers name them: the product, plus only the options that tell it apart
  from the order's other items of that product ("the Pet Bed", "the large, brown Pet Bed");
- the new variant is named by what changes ("the same thing in grey", "one with size L instead");
- an exchange or a modification swaps two items of one order in one request when the order has two
  swappable items (half the time);
- a return takes one to three items;
- every request sentence comes from lists used nowhere else (not ``_builders``, not
  ``train/_mutate``), and half the tasks open with no request at all ("I need help with an order"):
  the customer says what they want once the agent asks (``ScriptedUser`` states an unstated request
  before answering anything else).

``--style fresh`` is the same shapes with a second, disjoint set of sentences (``FRESH``), written
after the agent's graph was tuned on the hard style's train split and never used to develop it: the
hard style's sentences shaped the graph's readers (its test split shares them), the fresh style's
did not, so it measures how far those readers carry to wording nobody looked at.

Builders here take the same arguments as ``_builders``' and return an ``Intent`` or ``Draft`` (None
when the user has nothing that fits); ``generate`` executes the gold on a fresh store as for every
task. Not here: identity, splits, execution, the user simulator.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._builders import (Draft, Intent, _cents, _method_phrase, _order_ref, _reads, build_forbidden, cancel,
                        modify_address, modify_payment, money, paid_orders)

__all__ = ["FRESH", "HARD", "VAGUE_OPENINGS", "WORDINGS", "Wording", "describe_change", "describe_item",
           "intent_builders", "worded_forbidden", "worded_transfer", "vague_opening"]


@dataclass(frozen=True)
class Wording:
    """The sentences of one style. Templates are ``str.format``-ed; each list is drawn from by the rng.

    Placeholders: ``{o}`` the order as said (``{O}`` capitalised), ``{why}``/``{Why}`` a cancel reason,
    ``{where}`` an address, ``{method}``/``{pay}``/``{Pay}`` a payment method, ``{parts}`` the swaps,
    ``{things}``/``{Things}`` returned items, ``{items}`` an order's products, ``{id}`` an order id,
    ``{address1}``, ``{city}`` the profile's street and city, ``{item}``/``{change}`` one swap.
    """
    not_needed: tuple[str, ...]
    by_mistake: tuple[str, ...]
    cancel: tuple[str, ...]
    address: tuple[str, ...]
    where: str  # the dictated address, from the fields of the gold address
    payment: tuple[str, ...]
    modify: tuple[str, ...]
    exchange: tuple[str, ...]
    returns: tuple[str, ...]
    order_with: tuple[str, ...]
    order_id: tuple[str, ...]
    swap: str
    change_bare: str  # prefix of a change said by its values ("in grey")
    change_keyed: str  # prefix of a change said with option names ("with color grey")
    forbidden_cancel: str
    forbidden_address: str
    forbidden_return: str
    forbidden_foreign: str
    transfers: tuple[str, ...]
    vague: tuple[str, ...]


HARD = Wording(
    not_needed=("I don't need it anymore", "it's not needed now"),
    by_mistake=("I bought it by accident", "I placed it by mistake"),
    cancel=("Could you cancel {o}? {Why}.", "{O} has to be cancelled, {why}."),
    address=("I moved. Can {o} be delivered to {where}?", "The address on {o} is wrong; it should go to {where}."),
    where="{address1}{line2}, {city} {state} {zip}, {country}",
    payment=("Can {o} be charged to my {method} rather than what I used?", "For {o} I'd rather pay with my {method}."),
    modify=("Before {o} ships, could you swap {parts}? Use {pay} for any difference.",
            "I'd like to change what's in {o}: {parts}. Any difference goes on {pay}."),
    exchange=("I got {o} but I want to exchange {parts}. Settle the difference with {pay}.",
              "From {o}, can I trade {parts}? {Pay} for the difference."),
    returns=("I'm sending back {things} from {o}. Refund it to my {pay} - what will that come to?",
             "{Things} from {o} didn't work out; I'd like a refund to my {pay}. How much is it?"),
    order_with=("the order I placed with the {items}", "the order that had the {items} in it"),
    order_id=("order {id}", "my order {id}"),
    swap="{item} for one {change}", change_bare="in ", change_keyed="with ",
    forbidden_cancel="Where is order {id} at the moment? If it's not too late I want to cancel it, I changed my mind.",
    forbidden_address="Could order {id} be sent to {address1}, {city} instead?",
    forbidden_return="Order {id} - I'd like to send it back for a refund.",
    forbidden_foreign="My neighbour asked me to cancel her order {id} for her, can you do that?",
    transfers=(
        "My last parcel never arrived even though it shows as delivered, and I want someone to look into compensation.",
        "Please delete my whole account; I want a person to do that.",
        "Someone placed orders on my account without my permission and I need a real person to look at it."),
    vague=("Hi, I need some help with an order.", "Hello, I have a question about my orders.",
           "Hi there, can you help me with something on my account?"),
)

# Written once, after the graph was tuned on HARD's train split; never run while developing it.
FRESH = Wording(
    not_needed=("turns out I won't use it", "we already got one as a gift"),
    by_mistake=("that purchase was a slip of the finger", "I never meant to buy it"),
    cancel=("Please scrap {o} - {why}.", "I need {o} called off. {Why}."),
    address=("New address for {o}, please: {where}.", "Ship {o} to {where} instead of the old address."),
    where="{address1}{line2}, {city}, {state} {zip}",
    payment=("Switch the payment on {o} to my {method}, please.", "I want {o} paid by my {method} instead."),
    modify=("{O} hasn't shipped yet, right? Then I'd like {parts}. Put the difference on {pay}.",
            "Can you still change {o}? I want {parts}, with {pay} covering any difference."),
    exchange=("{O} arrived, but I need {parts}. Use {pay} for any price difference.",
              "About {o}: please exchange {parts}; {pay} for the difference."),
    returns=("I'm hoping to return {things} from {o} and get the money back on my {pay}. How much will I get?",
             "Please take back {things} from {o}, refund to my {pay}. What's the total?"),
    order_with=("the order with my {items}", "the one where I bought the {items}"),
    order_id=("order {id}", "{id}"),
    swap="{item} for the same thing {change}", change_bare="but in ", change_keyed="only with ",
    forbidden_cancel="Has order {id} gone out yet? If not, please cancel it, I don't want it now.",
    forbidden_address="Please redirect order {id} to {address1}, {city}.",
    forbidden_return="I'd like my money back for order {id}, I'm returning all of it.",
    forbidden_foreign="Would you cancel order {id} for me? It's my sister's, she's fine with it.",
    transfers=(
        "I was charged twice for one order and I want a person to refund the duplicate charge.",
        "Put me through to a supervisor, I want to complain about how I was treated on the phone yesterday.",
        "My package came damaged and I need someone to arrange compensation."),
    vague=("Hey, got a minute? Something's off with a purchase.", "Good morning! I could use a hand.",
           "Hi, it's about my account."),
)

WORDINGS = {"hard": HARD, "fresh": FRESH}
VAGUE_OPENINGS = HARD.vague + FRESH.vague  # what the scripted user recognises as asking for nothing yet


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]

_SHORT = {"yes", "no", "none"}


def _words(key: str, value: str) -> str:
    """One option as a customer says it: the bare value when it speaks for itself ("grey", "1000ml")."""
    bare = sum(c.isalpha() for c in value) >= 3 and value.lower() not in _SHORT
    return value if bare else f"{key} {value}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe_item(order: dict[str, Any], item: dict[str, Any]) -> str:
    """"the Pet Bed", or with the fewest options that single it out among the order's Pet Beds."""
    twins = [i for i in order["items"] if i["product_id"] == item["product_id"] and i["item_id"] != item["item_id"]]
    keys = list(item["options"])
    for size in range(len(keys) + 1):
        for combo in itertools.combinations(keys, size):
            if all(any(t["options"].get(k) != item["options"][k] for k in combo) for t in twins):
                words = [_words(k, item["options"][k]) for k in combo]
                return f"the {', '.join(words) + ' ' if words else ''}{item['name']}"
    return f"the {item['name']}"  # identical twins: either one is the same item id


def describe_change(item: dict[str, Any], variant: dict[str, Any], rng: random.Random, wording: Wording = HARD) -> str:
    """What changes, said one of two ways: "in grey and memory foam" or "with color grey"."""
    changed = {k: v for k, v in variant["options"].items() if item["options"].get(k) != v}
    if rng.random() < 0.5:
        return wording.change_bare + _join([_words(k, v) for k, v in changed.items()])
    return wording.change_keyed + _join([f"{k} {v}" for k, v in changed.items()])


def _say_order(ref: str, rng: random.Random, wording: Wording) -> str:
    """The order as a customer says it: "order #W1" -> "my order #W1"; "order with the Lamp" -> another wording."""
    if ref.startswith("order with the "):
        return rng.choice(wording.order_with).format(items=ref[len("order with the "):])
    return rng.choice(wording.order_id).format(id=ref[len("order "):])


def _reworded(intent: Intent | None, templates: tuple[str, ...], rng: random.Random, wording: Wording,
              **facts: str) -> Intent | None:
    """A standard intent with its request said anew (same order, gold and facts)."""
    if intent is None:
        return None
    said = _say_order(intent.order_ref or f"order {intent.order_ids[0]}", rng, wording)
    intent.request = rng.choice(templates).format(o=said, O=_cap(said), **facts)
    return intent


def _cancel(db, user, rng, wording: Wording) -> Intent | None:
    intent = cancel(db, user, rng)
    if intent is None:
        return None
    reason = intent.calls[-1][1]["reason"]
    why = rng.choice(wording.not_needed if reason == "no longer needed" else wording.by_mistake)
    return _reworded(intent, wording.cancel, rng, wording, why=why, Why=_cap(why))


def _address(db, user, rng, wording: Wording) -> Intent | None:
    intent = modify_address(db, user, rng)
    if intent is None:
        return None
    a = intent.calls[-1][1]
    line2 = f" {a['address2']}" if a["address2"] else ""
    where = wording.where.format(line2=line2, **{k: v for k, v in a.items() if k != "order_id"})
    return _reworded(intent, wording.address, rng, wording, where=where)


def _payment(db, user, rng, wording: Wording) -> Intent | None:
    intent = modify_payment(db, user, rng)
    if intent is None:
        return None
    method = _method_phrase(user, intent.calls[-1][1]["payment_method_id"])
    return _reworded(intent, wording.payment, rng, wording, method=method)


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
        parts = [wording.swap.format(item=describe_item(order, item), change=describe_change(item, variant, rng, wording))
                 for item, variant in swaps]
        pay = f"my {_method_phrase(user, method)}"
        templates = wording.modify if tool == "modify_pending_order_items" else wording.exchange
        request = rng.choice(templates).format(o=said, O=_cap(said), parts=_join(parts), pay=pay, Pay=_cap(pay))
        calls = _reads(order) + [("get_product_details", {"product_id": p})
                                 for p in dict.fromkeys(item["product_id"] for item, _ in swaps)]
        calls.append((tool, {"order_id": order["order_id"], "item_ids": [item["item_id"] for item, _ in swaps],
                             "new_item_ids": [variant["item_id"] for _, variant in swaps],
                             "payment_method_id": method}))
        return Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref)
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
        return Intent(request, calls, [order["order_id"]], [money(refund)], order_known=known, order_ref=ref)
    return None


def worded_forbidden(db, user, rng, other_users: list[dict[str, Any]], wording: Wording = HARD) -> Draft | None:
    """``build_forbidden``'s cases (same gold: reads only), asked in other words."""
    draft = build_forbidden(db, user, rng, other_users)
    if draft is None:
        return None
    intent = draft.intents[0]
    facts = {"id": intent.order_ids[0], "address1": user["address"]["address1"], "city": user["address"]["city"]}
    old = intent.request
    if old.startswith("Can you tell me the status"):
        intent.request = wording.forbidden_cancel.format(**facts)
    elif old.startswith("Please change the shipping address"):
        intent.request = wording.forbidden_address.format(**facts)
    elif old.startswith("I want to return"):
        intent.request = wording.forbidden_return.format(**facts)
    else:
        intent.request = wording.forbidden_foreign.format(**facts)
    return draft


def worded_transfer(db, user, rng, other_users, wording: Wording = HARD) -> Draft | None:
    request = rng.choice(wording.transfers)
    return Draft([Intent(request, [("transfer_to_human_agents",
                                    {"summary": f"User {user['user_id']} asks: {request}"})])],
                 "Out of the agent's scope: it must transfer to a human agent.")


def vague_opening(rng: random.Random, wording: Wording = HARD) -> str:
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
