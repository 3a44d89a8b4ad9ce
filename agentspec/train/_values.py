"""Values of training users as customers type them, rendered into family templates with exact tags.

``Store`` holds the db and the training users. ``where`` / ``street`` render an address: a street
suffix abbreviated (40%: "Street" -> "St" or "St."), the second line written another way (30%:
"Suite 12" -> "Ste 12", "Apt 12", "Unit 12", "#12"), the whole address lowercased (15%) and, in a
``where`` template, the separators between parts left out (15%: "12 Oak St Apt 4 Springfield IL
62704"). ``names`` gives first and last name, one or both lowercased 20% of the time. Each value is
tagged as rendered, so a span covers exactly what the customer typed (``TAGS``). ``order``,
``methods``, ``change`` and ``swaps`` say an order, payment methods and variant changes as
``reader_data``'s request builders need them.

Private to ``reader_data``; draws only from the rng it is given (determinism is the caller's).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from agentspec.evals._builders import _method_phrase, _order_ref
from agentspec.evals._describe import _join, _words
from agentspec.evals.wording import Family
from agentspec.train._spans import Text, fill, lowered, tagged

__all__ = ["SUFFIXES", "TAGS", "Store", "act", "change", "methods", "names", "order", "redirect_values", "street", "swaps",
           "where"]

TAGS = ("first_name", "last_name", "zip", "address1", "address2", "city", "state", "country")
SUFFIXES = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln", "Boulevard": "Blvd",
            "Court": "Ct", "Place": "Pl"}
_UNITS = ("Ste {n}", "Ste. {n}", "Apt {n}", "Apt. {n}", "Unit {n}", "#{n}", "# {n}")
_SUITE = re.compile(r"Suite (\S+)")
# a separator between parts of a ``where`` template: ", " "; " " / " " - " " — " "(" ")"
_SEPARATOR = re.compile(r"\s*(?:[,;/()—–]|\s-\s)\s*")


def act(family: Family, field: str, rng: random.Random, **values: str | Text) -> Text:
    return fill(rng.choice(family[field]), field, **values)


@dataclass
class Store:
    db: dict[str, Any]
    users: list[dict[str, Any]]  # training users only

    def orders(self, user: dict[str, Any], *statuses: str) -> list[dict[str, Any]]:
        found = [self.db["orders"][o] for o in user["orders"] if o in self.db["orders"]]
        return [o for o in found if not statuses or o["status"] in statuses]


# ---- addresses and names --------------------------------------------------------------------------

def _line1(rng: random.Random, line: str, period: bool) -> str:
    head, _, suffix = line.rpartition(" ")
    if suffix not in SUFFIXES or rng.random() >= 0.4:
        return line
    return f"{head} {SUFFIXES[suffix]}" + ("." if period and rng.random() < 0.3 else "")


def _line2(rng: random.Random, line: str) -> str:
    if not (m := _SUITE.fullmatch(line)) or rng.random() >= 0.3:
        return line
    return rng.choice(_UNITS).format(n=m.group(1))


def street(rng: random.Random, address: dict[str, str], bare: bool = False) -> Text:
    """Address line 1 (and line 2), each tagged as rendered; ``bare``: joined by a space, no period."""
    if not address.get("address2"):  # the street line may end a sentence: no "St." before a "."
        return tagged(_line1(rng, address["address1"], period=False), "address1")
    sep = " " if bare else rng.choice((" ", ", "))
    return fill("{a}{sep}{b}", a=tagged(_line1(rng, address["address1"], period=not bare), "address1"), sep=sep,
                b=tagged(_line2(rng, address["address2"]), "address2"))


def where(family: Family, rng: random.Random, store: Store) -> Text:
    """A new address: another training user's, said with a ``where`` template (maybe without separators)."""
    a = rng.choice(store.users)["address"]
    template = rng.choice(family["where"])
    bare = rng.random() < 0.15
    if bare:
        template = re.sub(" +", " ", _SEPARATOR.sub(" ", template)).strip()
    said = fill(template, "where", street=street(rng, a, bare), city=tagged(a["city"], "city"),
                state=tagged(a["state"], "state"), zip=tagged(a["zip"], "zip"), country=tagged(a["country"], "country"))
    return lowered(said) if rng.random() < 0.15 else said


def redirect_values(rng: random.Random, store: Store) -> dict[str, Text]:
    """``street`` and ``city`` of another training user's address (lowercased 15% of the time)."""
    a = rng.choice(store.users)["address"]
    values = {"street": street(rng, a), "city": tagged(a["city"], "city")}
    return {k: lowered(v) for k, v in values.items()} if rng.random() < 0.15 else values


def names(rng: random.Random, user: dict[str, Any]) -> dict[str, Text]:
    """``first`` and ``last`` tagged; 20% of the time one of them or both lowercased."""
    first, last = user["name"]["first_name"], user["name"]["last_name"]
    if rng.random() < 0.2:
        which = rng.choice(("first", "last", "both"))
        first = first.lower() if which in ("first", "both") else first
        last = last.lower() if which in ("last", "both") else last
    return {"first": tagged(first, "first_name"), "last": tagged(last, "last_name")}


# ---- orders, payment methods, changes --------------------------------------------------------------

def order(family: Family, rng: random.Random, store: Store, user: dict[str, Any], said: dict[str, Any]) -> Text:
    """The order ``said`` as an ``order_with`` (its products) or ``order_id`` template."""
    ref, _ = _order_ref(store.db, user, said, rng)
    if ref.startswith("order with the "):
        return act(family, "order_with", rng, items=ref[len("order with the "):])
    return act(family, "order_id", rng, id=tagged(said["order_id"], "_id"))


def methods(user: dict[str, Any], exclude: str | None = None) -> list[str]:
    return [p for mid in sorted(user["payment_methods"]) if mid != exclude and (p := _method_phrase(user, mid))]


def change(family: Family, rng: random.Random, item: dict[str, Any], variant: dict[str, Any]) -> Text:
    """What changes (``describe_change`` of the suites, with the family's prefixes): "in grey", "with color grey"."""
    changed = {k: v for k, v in variant["options"].items() if item["options"].get(k) != v}
    if rng.random() < 0.5:
        return fill("{p}{v}", p=act(family, "change_bare", rng), v=_join([_words(k, v) for k, v in changed.items()]))
    return fill("{p}{v}", p=act(family, "change_keyed", rng), v=_join([f"{k} {v}" for k, v in changed.items()]))


def swaps(store: Store, rng: random.Random, said: dict[str, Any]) -> list[tuple[dict, dict]]:
    """One or two of the order's items, each with another available variant that differs in some option."""
    unique = sorted({i["item_id"]: i for i in said["items"]}.values(), key=lambda i: i["item_id"])
    found = []
    for item in rng.sample(unique, k=len(unique)):
        variants = store.db["products"][item["product_id"]]["variants"]
        choices = [v for vid, v in sorted(variants.items()) if v["available"] and vid != item["item_id"]
                   and any(item["options"].get(k) != x for k, x in v["options"].items())]
        if choices:
            found.append((item, rng.choice(choices)))
    return found[:rng.choice((1, 1, 2))]
