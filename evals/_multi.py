"""Multi-request tasks (``eval generate --multi``): two or three requests, a change of mind, a decline.

Each task asks for two or three different things about different orders, in the style's words, one
after the other. The categories name the twist (``MULTI_CATEGORIES``):

- ``multi_two`` / ``multi_three``: the requests, each done;
- ``multi_change``: an item swap (a modification or an exchange of one item) whose customer, when
  asked to confirm it, asks for another variant instead; the gold is the swap to that variant;
- ``multi_decline``: a cancel, address or payment change the customer declines when asked to confirm
  it ("keep it as it is"); the gold has its reads but not its write, and the other request is done.

The twist is written into the request's instruction line, after the request, in a sentence both a
person and ``ScriptedUser`` read (``AT_CONFIRMATION``): "When the agent asks you to confirm this,
change your mind and ask for the one in blue instead." / "... decline: keep it as it is." The
scripted user states only the request part.

Not here: identity, splits, execution (``generate``); the simulated user (``users``).
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ._builders import Draft, Intent
from ._hard import HARD, Wording, describe_change

__all__ = ["AT_CONFIRMATION", "CHANGE", "DECLINE", "MULTI_CATEGORIES", "build_multi", "other_intents"]

MULTI_CATEGORIES = ("multi_two", "multi_three", "multi_change", "multi_decline")
AT_CONFIRMATION = "When the agent asks you to confirm this, "
CHANGE = AT_CONFIRMATION + "change your mind and ask for the one {change} instead."
DECLINE = AT_CONFIRMATION + "decline: you want to keep it as it is."
_SWAPS = ("modify_pending_order_items", "exchange_delivered_order_items")
_DECLINABLE = ("cancel", "modify_address", "modify_payment")

Builder = Callable[[Any, Any, random.Random], Intent | None]


def other_intents(builders: dict[str, Builder], db: dict[str, Any], user: dict[str, Any], rng: random.Random,
            count: int, taken: set[str], avoid: tuple[str, ...] = ()) -> list[Intent] | None:
    """``count`` intents of different categories about orders not in ``taken``."""
    out: list[Intent] = []
    for category in rng.sample(sorted(builders), len(builders)):
        if len(out) == count:
            break
        if category in avoid:
            continue
        intent = builders[category](db, user, rng)
        if intent is None or set(intent.order_ids) & taken:
            continue
        taken |= set(intent.order_ids)
        out.append(intent)
    return out if len(out) == count else None


def _changed(db: dict[str, Any], intent: Intent, rng: random.Random, wording: Wording) -> Intent | None:
    """The swap of one item with the customer changing to another variant at the confirmation."""
    name, args = intent.calls[-1]
    if name not in _SWAPS or len(args["item_ids"]) != 1:
        return None
    order = db["orders"][args["order_id"]]
    item = next(i for i in order["items"] if i["item_id"] == args["item_ids"][0])
    variants = db["products"][item["product_id"]]["variants"]
    others = [v for vid, v in sorted(variants.items())
              if v["available"] and vid not in (item["item_id"], args["new_item_ids"][0])]
    if not others:
        return None
    instead = rng.choice(others)
    # Said against the variant first asked for ("the one in grey" when grey is what changes from it): a
    # customer who changes their mind names what differs from what they just asked.
    change = describe_change(variants[args["new_item_ids"][0]], instead, rng, wording)
    calls = [*intent.calls[:-1], (name, {**args, "new_item_ids": [instead["item_id"]]})]
    return Intent(intent.request, calls, intent.order_ids, intent.communicate_info, intent.order_known,
                  intent.order_ref, at_confirmation=CHANGE.format(change=change), details=intent.details)


def _declined(intent: Intent) -> Intent:
    """The intent with its write left out of the gold and the customer declining it."""
    return Intent(intent.request, intent.calls[:-1], intent.order_ids, [], intent.order_known, intent.order_ref,
                  at_confirmation=DECLINE, details=intent.details)


def build_multi(category: str, db: dict[str, Any], user: dict[str, Any], rng: random.Random,
                builders: dict[str, Builder], wording: Wording | None) -> Draft | None:
    """The draft of one multi-request task of ``category`` (module docstring), or None when this user's
    orders cannot give it."""
    wording = wording or HARD
    if category in ("multi_two", "multi_three"):
        intents = other_intents(builders, db, user, rng, 2 if category == "multi_two" else 3, set())
        return Draft(intents, f"{len(intents)} requests, one after the other.") if intents else None
    if category == "multi_change":
        for swap in rng.sample(("modify_items", "exchange"), 2):
            first = builders[swap](db, user, rng) if swap in builders else None
            changed = _changed(db, first, rng, wording) if first is not None else None
            if changed is None:
                continue
            rest = other_intents(builders, db, user, rng, 1, set(changed.order_ids), avoid=("modify_items", "exchange"))
            if rest:
                return Draft([changed, *rest], "An item swap changed to another variant at the confirmation, "
                                               "then another request.")
        return None
    if category == "multi_decline":
        kind = rng.choice(_DECLINABLE)
        first = builders[kind](db, user, rng) if kind in builders else None
        if first is None:
            return None
        rest = other_intents(builders, db, user, rng, 1, set(first.order_ids), avoid=(kind,))
        if not rest:
            return None
        return Draft([_declined(first), *rest], f"A {kind.replace('_', ' ')} declined at the confirmation (not "
                                                "done), then another request.")
    raise ValueError(f"not a multi-request category: {category!r}")
