"""Multi-session tasks for long-term memory: session 1 leaves a fact, session 2 needs it (private to
``memory_suite``).

Three kinds, each built from one user of the db and a seeded ``random.Random``:

- ``address``: session 1 ships pending order A to a new address X (dictated). Session 2 asks to ship
  pending order B "to the same address as last time"; the customer no longer remembers X. Gold: B
  ships to X. Its ``stale`` variant changes A back to the profile's address between the sessions
  (the customer did it on the website): X is then nowhere in the store, a memory of it is stale, and
  the gold is B shipped to the customer's address as the store has it now; X must never be written.
- ``refund``: session 1 returns an item of delivered order D1 with the refund to payment method P
  (said by kind). Session 2 returns an item of delivered order D2 "refunded the same way as last
  time"; the customer does not remember P. Gold: the return with P (where D1 and D2 were paid alike,
  P is D2's original method, which the default refund also takes).
- ``preference``: session 1 only states a lasting preference ("from now on, refunds to my gift card"),
  no write. Session 2 returns an item of a delivered order paid otherwise, refunded "to my preferred
  method"; the customer does not remember which it was. Gold: the return with the gift card.

Session 2's wording comes from one of two lists: ``dev`` (looked at while developing) and ``test``
(written with the dev list, before any run, and never edited after; failures are looked at on dev
only). Which list a task uses follows its split, and the split follows the user (``user_split``).
"""
from __future__ import annotations

import random
from typing import Any

from ._builders import Draft, Intent, _method_phrase, _orders

__all__ = ["PREFER", "SAME_ADDRESS", "SAME_PREFERRED", "SAME_REFUND", "address_sessions", "preference_sessions",
           "refund_sessions"]

# "{ref}": how the customer names the order ("order #W123" or "order with the Lamp").
SAME_ADDRESS = {
    "dev": ["Please ship my {ref} to the same address as last time.",
            "Can you send my {ref} to the address I gave you last time?",
            "I'd like my {ref} delivered to the same place as my last change."],
    "test": ["hey, my {ref} should go where I had the other one sent last time",
             "Could the {ref} be delivered to the address I switched to before, please?",
             "ship the {ref} to that same new address from my previous call"],
}
SAME_REFUND = {
    "dev": ["I want to return the {item} from my {ref}, refunded the same way as last time.",
            "Please return the {item} in my {ref} and put the money back where my last refund went."],
    "test": ["can u take back the {item} from my {ref}? refund it like you did last time",
             "I'd like to send back the {item} of my {ref}; the refund should go to the same method as my previous return."],
}

# "{method}": the payment method as the customer names it ("gift card").
PREFER = {
    "dev": ["From now on, please send any refunds to my {method}.",
            "For future refunds I'd like the money to go to my {method}, please keep that on file.",
            "Please note that I prefer all my refunds on my {method} going forward."],
    "test": ["hi, quick thing: whenever I get refunded in the future, put it on my {method}",
             "I've decided that refunds should always go to my {method} from here on, please remember that.",
             "Going forward my {method} is where I want every refund to land."],
}
SAME_PREFERRED = {
    "dev": ["I want to return the {item} from my {ref}, with the refund going where I told you I prefer.",
            "Please return the {item} in my {ref}; refund it to my usual refund method."],
    "test": ["can u take back the {item} from my {ref}? refund it the way I asked you to remember",
             "I'd like to send back the {item} of my {ref}, and the refund should go to my preferred method."],
}


def _address_text(a: dict[str, Any]) -> str:
    line2 = f", {a['address2']}" if a.get("address2") else ""
    return f"{a['address1']}{line2}, {a['city']}, {a['state']} {a['zip']}, {a['country']}"


def _address_args(order_id: str, a: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": order_id, **{k: a[k] for k in ("address1", "address2", "city", "state", "country", "zip")}}


def _ref(order: dict[str, Any]) -> str:
    return f"order {order['order_id']}"


def address_sessions(db: dict[str, Any], user: dict[str, Any], rng: random.Random, split: str,
                     stale: bool) -> tuple[Draft, list[tuple[str, dict[str, Any]]], Draft, list[str]] | None:
    """(session 1, the store's change between the sessions, session 2, values session 2 must never write)."""
    pending = [o for o in _orders(db, user, "pending") if o["address"] == user["address"]]
    if len(pending) < 2:
        return None
    first, second = rng.sample(pending, 2)
    donor = db["users"][rng.choice(sorted(db["users"]))]["address"]
    if donor == user["address"]:
        return None
    new = _address_text(donor)
    one = Intent(f"Please ship my {_ref(first)} to {new} instead.",
                 [("get_order_details", {"order_id": first["order_id"]}),
                  ("modify_pending_order_address", _address_args(first["order_id"], donor))], [first["order_id"]])
    between = [("modify_pending_order_address", _address_args(first["order_id"], user["address"]))] if stale else []
    target = user["address"] if stale else donor
    two = Intent(rng.choice(SAME_ADDRESS[split]).format(ref=_ref(second)),
                 [("get_order_details", {"order_id": second["order_id"]}),
                  ("modify_pending_order_address", _address_args(second["order_id"], target))], [second["order_id"]])
    return (Draft([one], "The user changes an order's address."), between,
            Draft([two], "The user wants another order shipped where the last one went."),
            [new] if stale else [])


def _gift_card(user: dict[str, Any]) -> tuple[str, str] | None:
    """The user's one gift card and how they name it (None: none, or several)."""
    cards = [m for m in sorted(user["payment_methods"]) if user["payment_methods"][m]["source"] == "gift_card"]
    phrase = _method_phrase(user, cards[0]) if len(cards) == 1 else None
    return (cards[0], phrase) if phrase else None


def _paid_otherwise(order: dict[str, Any], method: str) -> bool:
    return order["payment_history"][0]["payment_method_id"] != method


def refund_sessions(db: dict[str, Any], user: dict[str, Any], rng: random.Random,
                    split: str) -> tuple[Draft, list[tuple[str, dict[str, Any]]], Draft, list[str]] | None:
    """(session 1, no change, session 2, no forbidden value): two returns refunded to one method."""
    delivered = _orders(db, user, "delivered")
    pairs = [(a, b) for a in delivered for b in delivered if a["order_id"] < b["order_id"]]
    rng.shuffle(pairs)
    card = _gift_card(user)
    for a, b in pairs:
        paid_a = a["payment_history"][0]["payment_method_id"]
        paid_b = b["payment_history"][0]["payment_method_id"]
        method = paid_a if paid_a == paid_b else (card[0] if card else None)
        phrase = _method_phrase(user, method) if method else None
        if phrase is None:
            continue
        item_a, item_b = rng.choice(a["items"]), rng.choice(b["items"])
        one = Intent(f"I want to return the {item_a['name']} from my {_ref(a)} and get the refund on my {phrase}.",
                     [("get_order_details", {"order_id": a["order_id"]}),
                      ("return_delivered_order_items", {"order_id": a["order_id"], "item_ids": [item_a["item_id"]],
                                                        "payment_method_id": method})], [a["order_id"]])
        two = Intent(rng.choice(SAME_REFUND[split]).format(item=item_b["name"], ref=_ref(b)),
                     [("get_order_details", {"order_id": b["order_id"]}),
                      ("return_delivered_order_items", {"order_id": b["order_id"], "item_ids": [item_b["item_id"]],
                                                        "payment_method_id": method})], [b["order_id"]])
        return Draft([one], "The user returns an item."), [], Draft([two], "The user returns another item the same way."), []
    return None


def preference_sessions(db: dict[str, Any], user: dict[str, Any], rng: random.Random,
                        split: str) -> tuple[Draft, list[tuple[str, dict[str, Any]]], Draft, list[str]] | None:
    """(session 1: a stated preference, no change, session 2: a return refunded by it, no forbidden value)."""
    card = _gift_card(user)
    delivered = [o for o in _orders(db, user, "delivered") if card and _paid_otherwise(o, card[0])]
    if card is None or not delivered:
        return None
    method, phrase = card
    order = rng.choice(delivered)
    item = rng.choice(order["items"])
    one = Intent(rng.choice(PREFER[split]).format(method=phrase), [])
    two = Intent(rng.choice(SAME_PREFERRED[split]).format(item=item["name"], ref=_ref(order)),
                 [("get_order_details", {"order_id": order["order_id"]}),
                  ("return_delivered_order_items", {"order_id": order["order_id"], "item_ids": [item["item_id"]],
                                                    "payment_method_id": method})], [order["order_id"]])
    return (Draft([one], "The user states how refunds should go from now on."), [],
            Draft([two], "The user returns an item, refunded the way they asked for before."), [])
