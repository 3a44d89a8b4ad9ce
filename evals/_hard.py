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

Builders here take the same arguments as ``_builders``' and return an ``Intent`` or ``Draft`` (None
when the user has nothing that fits); ``generate`` executes the gold on a fresh store as for every
task. Not here: identity, splits, execution, the user simulator.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from ._builders import (Draft, Intent, _cents, _method_phrase, _order_ref, _reads, build_forbidden, cancel,
                        modify_address, modify_payment, money, paid_orders)

__all__ = ["HARD_INTENT_BUILDERS", "VAGUE_OPENINGS", "hard_forbidden", "hard_transfer", "vague_opening", "describe_item",
           "describe_change"]

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


def describe_change(item: dict[str, Any], variant: dict[str, Any], rng: random.Random) -> str:
    """What changes, said one of two ways: "in grey and memory foam" or "with color grey"."""
    changed = {k: v for k, v in variant["options"].items() if item["options"].get(k) != v}
    if rng.random() < 0.5:
        return "in " + _join([_words(k, v) for k, v in changed.items()])
    return "with " + _join([f"{k} {v}" for k, v in changed.items()])


def _say_order(ref: str, rng: random.Random) -> str:
    """The order as a customer says it: "order #W1" -> "#W1"; "order with the Lamp" -> another wording."""
    if ref.startswith("order with the "):
        items = ref[len("order with the "):]
        return rng.choice([f"the order I placed with the {items}", f"the order that had the {items} in it"])
    return rng.choice([f"order {ref[len('order '):]}", f"my order {ref[len('order '):]}"])


def _reworded(intent: Intent | None, sentences: Callable[[str], list[str]], rng: random.Random) -> Intent | None:
    """A standard intent with its request said anew (same order, gold and facts)."""
    if intent is None:
        return None
    intent.request = rng.choice(sentences(_say_order(intent.order_ref or f"order {intent.order_ids[0]}", rng)))
    return intent


def hard_cancel(db, user, rng) -> Intent | None:
    intent = cancel(db, user, rng)
    if intent is None:
        return None
    reason = intent.calls[-1][1]["reason"]
    why = (rng.choice(["I don't need it anymore", "it's not needed now"]) if reason == "no longer needed"
           else rng.choice(["I bought it by accident", "I placed it by mistake"]))
    return _reworded(intent, lambda o: [f"Could you cancel {o}? {why.capitalize()}.",
                                        f"{o[0].upper() + o[1:]} has to be cancelled, {why}."], rng)


def hard_address(db, user, rng) -> Intent | None:
    intent = modify_address(db, user, rng)
    if intent is None:
        return None
    a = intent.calls[-1][1]
    line2 = f" {a['address2']}" if a["address2"] else ""
    where = f"{a['address1']}{line2}, {a['city']} {a['state']} {a['zip']}, {a['country']}"
    return _reworded(intent, lambda o: [f"I moved. Can {o} be delivered to {where}?",
                                        f"The address on {o} is wrong; it should go to {where}."], rng)


def hard_payment(db, user, rng) -> Intent | None:
    intent = modify_payment(db, user, rng)
    if intent is None:
        return None
    method = _method_phrase(user, intent.calls[-1][1]["payment_method_id"])
    return _reworded(intent, lambda o: [f"Can {o} be charged to my {method} rather than what I used?",
                                        f"For {o} I'd rather pay with my {method}."], rng)


def _swap_many(db, user, rng, statuses: tuple[str, ...], tool: str) -> Intent | None:
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
        said = _say_order(ref, rng)
        parts = [f"{describe_item(order, item)} for one {describe_change(item, variant, rng)}"
                 for item, variant in swaps]
        pay = f"my {_method_phrase(user, method)}"
        if tool == "modify_pending_order_items":
            request = rng.choice([f"Before {said} ships, could you swap {_join(parts)}? Use {pay} for any difference.",
                                  f"I'd like to change what's in {said}: {_join(parts)}. Any difference goes on {pay}."])
        else:
            request = rng.choice([f"I got {said} but I want to exchange {_join(parts)}. Settle the difference with {pay}.",
                                  f"From {said}, can I trade {_join(parts)}? {pay[0].upper() + pay[1:]} for the difference."])
        calls = _reads(order) + [("get_product_details", {"product_id": p})
                                 for p in dict.fromkeys(item["product_id"] for item, _ in swaps)]
        calls.append((tool, {"order_id": order["order_id"], "item_ids": [item["item_id"] for item, _ in swaps],
                             "new_item_ids": [variant["item_id"] for _, variant in swaps],
                             "payment_method_id": method}))
        return Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref)
    return None


def hard_modify_items(db, user, rng) -> Intent | None:
    return _swap_many(db, user, rng, ("pending",), "modify_pending_order_items")


def hard_exchange(db, user, rng) -> Intent | None:
    return _swap_many(db, user, rng, ("delivered",), "exchange_delivered_order_items")


def hard_return(db, user, rng) -> Intent | None:
    for order, method in paid_orders(db, user, rng, "delivered"):
        by_id = {item["item_id"]: item for item in order["items"]}
        chosen = sorted(rng.sample(sorted(by_id), k=min(len(by_id), rng.choice([1, 2, 3]))))
        refund = sum(_cents(by_id[i]["price"]) for i in chosen)
        things = _join([describe_item(order, by_id[i]) for i in chosen])
        ref, known = _order_ref(db, user, order, rng)
        said = _say_order(ref, rng)
        pay = _method_phrase(user, method)
        request = rng.choice([f"I'm sending back {things} from {said}. Refund it to my {pay} - what will that come to?",
                              f"{things[0].upper() + things[1:]} from {said} didn't work out; I'd like a refund to my "
                              f"{pay}. How much is it?"])
        calls = _reads(order) + [("return_delivered_order_items",
                                  {"order_id": order["order_id"], "item_ids": chosen, "payment_method_id": method})]
        return Intent(request, calls, [order["order_id"]], [money(refund)], order_known=known, order_ref=ref)
    return None


def hard_forbidden(db, user, rng, other_users: list[dict[str, Any]]) -> Draft | None:
    """``build_forbidden``'s cases (same gold: reads only), asked in other words."""
    draft = build_forbidden(db, user, rng, other_users)
    if draft is None:
        return None
    intent = draft.intents[0]
    order_id = intent.order_ids[0]
    old = intent.request
    if old.startswith("Can you tell me the status"):
        intent.request = f"Where is order {order_id} at the moment? If it's not too late I want to cancel it, I changed my mind."
    elif old.startswith("Please change the shipping address"):
        intent.request = (f"Could order {order_id} be sent to {user['address']['address1']}, "
                          f"{user['address']['city']} instead?")
    elif old.startswith("I want to return"):
        intent.request = f"Order {order_id} - I'd like to send it back for a refund."
    else:
        intent.request = f"My neighbour asked me to cancel her order {order_id} for her, can you do that?"
    return draft


_HARD_TRANSFERS = [
    "My last parcel never arrived even though it shows as delivered, and I want someone to look into compensation.",
    "Please delete my whole account; I want a person to do that.",
    "Someone placed orders on my account without my permission and I need a real person to look at it.",
]


def hard_transfer(db, user, rng, other_users) -> Draft | None:
    request = rng.choice(_HARD_TRANSFERS)
    return Draft([Intent(request, [("transfer_to_human_agents",
                                    {"summary": f"User {user['user_id']} asks: {request}"})])],
                 "Out of the agent's scope: it must transfer to a human agent.")


VAGUE_OPENINGS = ("Hi, I need some help with an order.", "Hello, I have a question about my orders.",
          "Hi there, can you help me with something on my account?")


def vague_opening(rng: random.Random) -> str:
    """An opening that asks for nothing yet: the request comes when the agent asks."""
    return rng.choice(VAGUE_OPENINGS)


HARD_INTENT_BUILDERS: dict[str, Callable[[Any, Any, random.Random], Intent | None]] = {
    "cancel": hard_cancel,
    "modify_address": hard_address,
    "modify_payment": hard_payment,
    "modify_items": hard_modify_items,
    "return": hard_return,
    "exchange": hard_exchange,
}
