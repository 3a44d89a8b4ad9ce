"""Per-category scenario drafts for the retail suite generator (private to ``generate``).

A builder gets the db.json dict, one user and a seeded ``random.Random`` and returns a ``Draft``, or
None when this user has nothing that fits the category (no pending order, no other variant...). A draft
holds the user's requests (first person, one per intent), the gold tool calls *after* authentication
(``generate`` prepends the identity lookup and ``get_user_details`` and then executes everything on a
fresh store to prove it succeeds), the facts the agent must say, and the order ids the user knows.

Builders only read ``db``; they never call tools. Nothing here checks policy or executes anything.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PIECES", "PIECE_SEPARATOR", "Draft", "Intent", "INTENT_BUILDERS", "build_forbidden", "build_transfer", "money", "paid_orders"]

Call = tuple[str, dict[str, Any]]
# The line under a request that lists its parts (``generate --piecemeal``; ``ScriptedUser`` reads it).
PIECES = "Say only when the agent asks for it: "
PIECE_SEPARATOR = " | "


@dataclass
class Intent:
    """One request of the user with its gold calls (reads then at most one write)."""

    request: str
    calls: list[Call]
    order_ids: list[str] = field(default_factory=list)  # orders this request is about
    communicate_info: list[str] = field(default_factory=list)
    order_known: bool = True
    order_ref: str = ""  # how the request names the order ("order with the Lamp")
    at_confirmation: str = ""  # what the customer does when asked to confirm it (``_multi``); "" says yes
    # The request in parts, for a customer who says what they want first and the rest only when asked
    # (``generate --piecemeal``): "request" (no details), "order", "items", "version", "reason",
    # "payment", "address", each as this customer says it; empty for the builders that do not word them.
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class Draft:
    intents: list[Intent]
    purpose: str


def money(cents: int) -> str:
    """Dollars with two decimals and no thousands separator: what communicate_info matches."""
    return f"{cents // 100}.{cents % 100:02d}"


def _cents(amount: float) -> int:
    return round(amount * 100)


def _orders(db: dict[str, Any], user: dict[str, Any], *statuses: str) -> list[dict[str, Any]]:
    found = [db["orders"][oid] for oid in user["orders"] if oid in db["orders"]]
    return [o for o in found if not statuses or o["status"] in statuses]


def _method_phrase(user: dict[str, Any], method_id: str) -> str | None:
    """How a caller names a payment method; None when the phrase would not single it out."""
    method = user["payment_methods"][method_id]
    source = method["source"]
    if source == "credit_card":
        phrase = f"{method['brand'].title()} credit card ending in {method['last_four']}"
    elif source == "paypal":
        phrase = "PayPal account"
    else:
        phrase = "gift card"
    same = [m for m in user["payment_methods"].values() if _method_phrase_key(m) == _method_phrase_key(method)]
    return phrase if len(same) == 1 else None


def _method_phrase_key(method: dict[str, Any]) -> tuple[str, ...]:
    if method["source"] == "credit_card":
        return ("credit_card", method.get("brand", ""), method.get("last_four", ""))
    return (method["source"],)


def _order_ref(db: dict[str, Any], user: dict[str, Any], order: dict[str, Any],
               rng: random.Random) -> tuple[str, bool]:
    """("order #W123" or "order with the Lamp and Mug", whether the id is known to the user).

    The user forgets the id only when the item names single the order out among their orders.
    """
    names = sorted({item["name"] for item in order["items"]})
    others = [o for o in _orders(db, user) if o["order_id"] != order["order_id"]]
    unique = all(not set(names) <= {i["name"] for i in o["items"]} for o in others)
    if unique and rng.random() < 0.5:
        listed = " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"order with the {listed}", False
    return f"order {order['order_id']}", True


def _options(options: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _other_variant(db: dict[str, Any], item: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    variants = db["products"][item["product_id"]]["variants"]
    choices = [v for vid, v in variants.items() if v["available"] and vid != item["item_id"]]
    return rng.choice(choices) if choices else None


def _reads(order: dict[str, Any]) -> list[Call]:
    return [("get_order_details", {"order_id": order["order_id"]})]


# ---- single intents ------------------------------------------------------------------------------

def cancel(db, user, rng) -> Intent | None:
    pending = _orders(db, user, "pending")
    if not pending:
        return None
    order = rng.choice(pending)
    ref, known = _order_ref(db, user, order, rng)
    reason, why = rng.choice([("no longer needed", "I no longer need it"),
                              ("ordered by mistake", "I ordered it by mistake")])
    request = rng.choice([f"I want to cancel my {ref} because {why}.",
                          f"Please cancel my {ref}; {why}.",
                          f"I'd like my {ref} cancelled, {why}."])
    calls = _reads(order) + [("cancel_pending_order", {"order_id": order["order_id"], "reason": reason})]
    return Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref)


def modify_address(db, user, rng) -> Intent | None:
    pending = _orders(db, user, "pending")
    if not pending:
        return None
    order = rng.choice(pending)
    ref, known = _order_ref(db, user, order, rng)
    found = _new_address(db, rng, order["address"])
    if found is None:
        return None
    lines, where = found
    request = rng.choice([f"I need to change the shipping address of my {ref} to {where}.",
                          f"Please ship my {ref} to {where} instead."])
    return Intent(request, _reads(order) + [("modify_pending_order_address", {"order_id": order["order_id"], **lines})],
                  [order["order_id"]], order_known=known, order_ref=ref)


def account_address(db, user, rng) -> Intent | None:
    """The account's default address changed to another user's real address (no order is touched)."""
    found = _new_address(db, rng, user["address"])
    if found is None:
        return None
    lines, where = found
    request = rng.choice([f"Please change the default address on my account to {where}.",
                          f"I have moved: update the address on my profile to {where}."])
    return Intent(request, [("modify_user_address", {"user_id": user["user_id"], **lines})])


def _new_address(db, rng, old: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """A real address from the db (another user's, so it looks like one a customer would give) unlike
    ``old``: its lines and the address dictated in one line; None when it is ``old``."""
    donor = db["users"][rng.choice(sorted(db["users"]))]["address"]
    if donor == old:
        return None
    line2 = f", {donor['address2']}" if donor["address2"] else ""
    where = f"{donor['address1']}{line2}, {donor['city']}, {donor['state']} {donor['zip']}, {donor['country']}"
    return {k: donor[k] for k in ("address1", "address2", "city", "state", "country", "zip")}, where


def modify_payment(db, user, rng) -> Intent | None:
    for order in rng.sample(_orders(db, user, "pending"), k=len(_orders(db, user, "pending"))):
        current = order["payment_history"][0]["payment_method_id"]
        amount = _cents(order["payment_history"][0]["amount"])
        options = []
        for mid, method in user["payment_methods"].items():
            if mid == current or _method_phrase(user, mid) is None:
                continue
            if method["source"] == "gift_card" and _cents(method["balance"]) < amount:
                continue
            options.append(mid)
        if not options:
            continue
        new = rng.choice(sorted(options))
        ref, known = _order_ref(db, user, order, rng)
        request = rng.choice([f"I want to pay for my {ref} with my {_method_phrase(user, new)} instead.",
                              f"Please switch the payment of my {ref} to my {_method_phrase(user, new)}."])
        calls = _reads(order) + [("modify_pending_order_payment",
                                  {"order_id": order["order_id"], "payment_method_id": new})]
        return Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref)
    return None


def _swap(db, user, rng, statuses: tuple[str, ...], tool: str) -> Intent | None:
    """An item of an order in ``statuses`` swapped for another available variant (modify / exchange)."""
    for order in rng.sample(_orders(db, user, *statuses), k=len(_orders(db, user, *statuses))):
        item = rng.choice(order["items"])
        variant = _other_variant(db, item, rng)
        method = order["payment_history"][0]["payment_method_id"] if order["payment_history"] else None
        if variant is None or method is None or _method_phrase(user, method) is None:
            continue
        ref, known = _order_ref(db, user, order, rng)
        verb = "change" if tool == "modify_pending_order_items" else "exchange"
        request = (f"I want to {verb} the {item['name']} ({_options(item['options'])}) in my {ref} for the "
                   f"one with {_options(variant['options'])}. Use my {_method_phrase(user, method)} "
                   f"for any price difference.")
        calls = _reads(order) + [
            ("get_product_details", {"product_id": item["product_id"]}),
            (tool, {"order_id": order["order_id"], "item_ids": [item["item_id"]],
                    "new_item_ids": [variant["item_id"]], "payment_method_id": method})]
        return Intent(request, calls, [order["order_id"]], order_known=known, order_ref=ref)
    return None


def modify_items(db, user, rng) -> Intent | None:
    return _swap(db, user, rng, ("pending",), "modify_pending_order_items")


def exchange(db, user, rng) -> Intent | None:
    return _swap(db, user, rng, ("delivered",), "exchange_delivered_order_items")


def paid_orders(db, user, rng, *statuses: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The user's orders in ``statuses``, in a seeded random order, each with the payment method that
    paid it, when the customer can name that method (a refund or a price difference goes there)."""
    orders = _orders(db, user, *statuses)
    for order in rng.sample(orders, k=len(orders)):
        method = order["payment_history"][0]["payment_method_id"] if order["payment_history"] else None
        if method is not None and _method_phrase(user, method) is not None:
            yield order, method


def return_items(db, user, rng) -> Intent | None:
    for order, method in paid_orders(db, user, rng, "delivered"):
        by_id = {item["item_id"]: item for item in order["items"]}
        chosen = sorted(rng.sample(sorted(by_id), k=min(len(by_id), rng.choice([1, 2]))))
        items = [by_id[i] for i in chosen]
        refund = sum(_cents(i["price"]) for i in items)
        names = " and the ".join(f"{i['name']} ({_options(i['options'])})" for i in items)
        ref, known = _order_ref(db, user, order, rng)
        request = (f"I want to return the {names} from my {ref}, with the refund to my "
                   f"{_method_phrase(user, method)}. How much will I get back?")
        calls = _reads(order) + [("return_delivered_order_items",
                                  {"order_id": order["order_id"], "item_ids": chosen,
                                   "payment_method_id": method})]
        return Intent(request, calls, [order["order_id"]], [money(refund)], order_known=known, order_ref=ref)
    return None


# ---- whole drafts ------------------------------------------------------------------------------

def build_forbidden(db, user, rng, other_users: list[dict[str, Any]]) -> Draft | None:
    """A request the policy forbids: the gold has only reads (the agent must refuse)."""
    variants = []
    not_pending = _orders(db, user, "processed", "delivered", "cancelled")
    if not_pending:
        order = rng.choice(not_pending)
        variants.append(Intent(
            f"Can you tell me the status of my order {order['order_id']}? I want to cancel it, I no longer "
            f"need it.", _reads(order), [order["order_id"]], [order["status"]]))
    cancelled = _orders(db, user, "cancelled")
    if cancelled:
        order = rng.choice(cancelled)
        variants.append(Intent(f"Please change the shipping address of my order {order['order_id']} to "
                               f"{user['address']['address1']}, {user['address']['city']}.",
                               _reads(order), [order["order_id"]]))
    pending = _orders(db, user, "pending")
    if pending:
        order = rng.choice(pending)
        variants.append(Intent(f"I want to return my order {order['order_id']}.", _reads(order),
                               [order["order_id"]]))
    foreign = [o for u in other_users for o in _orders(db, u, "pending")]
    if foreign:
        order = rng.choice(foreign)
        # Gold: no read of the foreign order either; the user's own details show it is not theirs.
        variants.append(Intent(f"Please cancel order {order['order_id']}; it is my friend's order and she "
                               f"asked me to do it.", [], [order["order_id"]]))
    if not variants:
        return None
    return Draft([rng.choice(variants)], "The request breaks the policy: the agent must refuse, no write.")


_TRANSFER_REQUESTS = [
    "I want to file a complaint about the delivery driver and talk to a human manager.",
    "I need to change the email address on my account, and I'd like a human agent for that.",
    "A package of mine was damaged in a fire and I want to open an insurance claim with a person.",
    "I was charged twice on my card last month and I want a human agent to look into it.",
]


def build_transfer(db, user, rng, other_users) -> Draft | None:
    """A request only a human can handle: the gold ends with ``transfer_to_human_agents``."""
    request = rng.choice(_TRANSFER_REQUESTS)
    summary = f"User {user['user_id']} asks: {request}"
    return Draft([Intent(request, [("transfer_to_human_agents", {"summary": summary})])],
                 "Out of the agent's scope: it must transfer to a human agent.")


# Asked for by name only (``generate_suite(categories=...)``): suites generated without it stay as they were.
EXTRA_BUILDERS: dict[str, Callable[[Any, Any, random.Random], Intent | None]] = {"account_address": account_address}

INTENT_BUILDERS: dict[str, Callable[[Any, Any, random.Random], Intent | None]] = {
    "cancel": cancel,
    "modify_address": modify_address,
    "modify_payment": modify_payment,
    "modify_items": modify_items,
    "return": return_items,
    "exchange": exchange,
}
