"""The requests of the reader's training messages: one builder per wording field, and how requests join.

``request(family, rng, store, user, exclude, style)`` says one request of a class (``REQUEST_CLASS``
maps each field to its class) in full (``_CLASS_FIELDS``: its details, forbidden variants among them),
bare (``_BARE``: no details) or loose (``_LOOSE``: a problem then the wish, or only the items and the
variants wanted), with this user's values or another training user's; ``joined`` and ``then`` put two
texts in one message. Labels come from the fields used (``Text.acts``), never from the words.
Not here: which kinds of messages are made and how often (``reader_data``).
"""
from __future__ import annotations

import random
from typing import Any, Callable

from agentspec.errors import AgentSpecError
from agentspec.evals._describe import _join, describe_item
from agentspec.evals.wording import Family
from agentspec.train._spans import Text, decap, fill, join_texts, tagged, trim_end
from agentspec.train._values import Store, act, change, methods, order, redirect_values, swaps, where

__all__ = ["Builder", "REASONS", "REQUEST_CLASS", "ReaderDataError", "ends_sentence", "field_builder", "joined", "request",
           "request_classes", "request_field", "then"]


class ReaderDataError(AgentSpecError):
    code = "reader_data"


REASONS = {"reason_not_needed": "no longer needed", "reason_by_mistake": "ordered by mistake"}  # act -> choice

# Per class, its fields said in full and their weights: the plain request most of the time.
_CLASS_FIELDS = {
    "cancel": {"cancel": 6, "forbidden_cancel": 1, "forbidden_foreign": 1},
    "modify_address": {"address": 5, "forbidden_address": 1}, "account_address": {"user_address": 1},
    "modify_payment": {"payment": 1}, "modify_items": {"modify": 1}, "exchange": {"exchange": 1},
    "return": {"returns": 3, "forbidden_return": 1}, "status": {"status": 1}, "transfer": {"transfers": 1},
    "product": {"product_question": 1},
}
_BARE = {"cancel": "bare_cancel", "modify_address": "bare_address", "modify_payment": "bare_payment",
         "modify_items": "bare_modify", "exchange": "bare_exchange", "return": "bare_return",
         "status": "bare_status", "transfer": "bare_human", "account_address": "bare_user_address"}
_LOOSE = {"exchange": {"loose_exchange": 1, "brief_exchange": 1}, "return": {"loose_return": 1},
          "modify_items": {"loose_modify": 1, "brief_modify": 1}}
_STYLES = {"full": 6, "bare": 3, "loose": 1}  # how a request inside a larger message is said
REQUEST_CLASS = {field: cls for table in (_CLASS_FIELDS, _LOOSE) for cls, fields in table.items() for field in fields} \
    | {field: cls for cls, field in _BARE.items()}


# ---- requests: one builder per field; None when this user has nothing that fits ------------------------

Builder = Callable[[Family, random.Random, Store, dict[str, Any]], "Text | None"]


def _with_order(statuses: tuple[str, ...], make: Callable[..., Text | None]) -> Builder:
    def build(family, rng, store, user):
        orders = store.orders(user, *statuses)
        return make(family, rng, store, user, rng.choice(orders)) if orders else None
    return build


def _oid(said: dict[str, Any]) -> Text:
    return tagged(said["order_id"], "_id")


def _payment(family, rng, store, user, said):
    paid = said["payment_history"][0]["payment_method_id"] if said.get("payment_history") else None
    found = methods(user, exclude=paid)
    return act(family, "payment", rng, o=order(family, rng, store, user, said),
               method=rng.choice(found)) if found else None


def _parts(family: Family, rng: random.Random, said: dict[str, Any], found: list) -> Text:
    """Each item of ``found`` and the variant wanted ("the Jeans for one in 32 waist"), joined."""
    return join_texts([act(family, "swap", rng, item=describe_item(said, item),
                           change=change(family, rng, item, variant)) for item, variant in found])


def _swap(field: str):
    def make(family, rng, store, user, said):
        found, pays = swaps(store, rng, said), methods(user)
        if not found or not pays:
            return None
        parts = _parts(family, rng, said, found)
        return act(family, field, rng, o=order(family, rng, store, user, said), parts=parts,
                   pay="my " + rng.choice(pays))
    return make


def _returns(family, rng, store, user, said):
    pays = methods(user)
    if not pays:
        return None
    by_id = {item["item_id"]: item for item in said["items"]}
    chosen = sorted(rng.sample(sorted(by_id), k=min(len(by_id), rng.choice((1, 2, 3)))))
    things = _join([describe_item(said, by_id[i]) for i in chosen])
    return act(family, "returns", rng, o=order(family, rng, store, user, said), things=things,
               pay=rng.choice(pays))


def _foreign(family, rng, store, user):
    others = [u for u in rng.sample(store.users, k=min(8, len(store.users))) if u is not user and u["orders"]]
    orders = store.orders(others[0]) if others else []
    return act(family, "forbidden_foreign", rng, id=_oid(rng.choice(orders))) if orders else None


def _cancel(family, rng, store, user, said):
    why = act(family, rng.choice(tuple(REASONS)), rng)
    return act(family, "cancel", rng, o=order(family, rng, store, user, said), why=why)


def _product_question(family, rng, store, user):
    """A question about a catalogue product, named as the catalogue spells it or lower-cased."""
    name = str(rng.choice(sorted(store.db["products"].values(), key=lambda p: p["product_id"]))["name"])
    return act(family, "product_question", rng, product=name.lower() if rng.random() < 0.3 else name)


def field_builder(name: str) -> Builder:
    """A field said as it is (no placeholders)."""
    return lambda f, r, s, u: act(f, name, r)


def _loose(field: str) -> Callable[..., Text]:
    """One item of the order (``describe_item``: "the Pet Bed", "the blue Jacket"), said loosely."""
    return lambda f, r, s, u, o: act(f, field, r, item=describe_item(o, r.choice(o["items"])))


def _brief(field: str) -> Callable[..., Text | None]:
    """The items of the order and the variants wanted (``{parts}``), nothing else: no order, no payment."""
    def make(family, rng, store, user, said):
        found = swaps(store, rng, said)
        return act(family, field, rng, parts=_parts(family, rng, said, found)) if found else None
    return make


_BUILDERS: dict[str, Builder] = {
    "cancel": _with_order(("pending",), _cancel),
    "forbidden_cancel": _with_order(("processed", "delivered"),
                                    lambda f, r, s, u, o: act(f, "forbidden_cancel", r, id=_oid(o))),
    "forbidden_foreign": _foreign,
    "address": _with_order(("pending",), lambda f, r, s, u, o: act(f, "address", r, o=order(f, r, s, u, o),
                                                                    where=where(f, r, s))),
    "user_address": lambda f, r, s, u: act(f, "user_address", r, where=where(f, r, s)),
    "forbidden_address": _with_order(("processed", "delivered"), lambda f, r, s, u, o: act(
        f, "forbidden_address", r, id=_oid(o), **redirect_values(r, s))),
    "payment": _with_order(("pending",), _payment),
    "modify": _with_order(("pending",), _swap("modify")),
    "exchange": _with_order(("delivered",), _swap("exchange")),
    "returns": _with_order(("delivered",), _returns),
    "forbidden_return": _with_order(("pending", "processed"),
                                    lambda f, r, s, u, o: act(f, "forbidden_return", r, id=_oid(o))),
    "status": _with_order(("pending", "processed", "delivered"),
                          lambda f, r, s, u, o: act(f, "status", r, o=order(f, r, s, u, o))),
    "transfers": field_builder("transfers"), "product_question": _product_question,
    "loose_exchange": _with_order(("delivered",), _loose("loose_exchange")),
    "loose_return": _with_order(("delivered",), _loose("loose_return")),
    "loose_modify": _with_order(("pending",), _loose("loose_modify")),
    "brief_exchange": _with_order(("delivered",), _brief("brief_exchange")),
    "brief_modify": _with_order(("pending",), _brief("brief_modify")),
} | {field: field_builder(field) for field in _BARE.values()}


def request(family: Family, rng: random.Random, store: Store, user: dict[str, Any],
             exclude: tuple[str, ...] = (), style: str | None = None) -> Text:
    """One request of a class not in ``exclude``, said ``style`` ("full", "bare", "loose"; None: drawn
    from ``_STYLES``): this user's values, or another training user's."""
    style = style or rng.choices(list(_STYLES), list(_STYLES.values()))[0]
    table = {"full": _CLASS_FIELDS, "bare": _BARE, "loose": _LOOSE}[style]
    if not (classes := [c for c in table if c not in exclude and _worded(family, table[c])]):
        table, classes = _BARE, [c for c in _BARE if c not in exclude and _worded(family, _BARE[c])]  # loose: all asked
    cls = rng.choice(classes)
    fields = {f: w for f, w in (table[cls] if isinstance(table[cls], dict) else {table[cls]: 1}).items()
              if family.has(f)}
    return request_field(family, rng, store, user, rng.choices(list(fields), list(fields.values()))[0])


def _worded(family: Family, fields: "str | dict[str, int]") -> bool:
    """Whether ``family`` words some field of a class (an optional field, ``product_question``, ``brief_*``,
    may be left out: the class is then said by the others)."""
    return any(family.has(f) for f in ([fields] if isinstance(fields, str) else fields))


def request_field(family: Family, rng: random.Random, store: Store, user: dict[str, Any], field: str) -> Text:
    """The request ``field`` (a key of ``_BUILDERS``) said with this user's values, or another training user's."""
    for candidate in [user] + [rng.choice(store.users) for _ in range(50)]:
        if (said := _BUILDERS[field](family, rng, store, candidate)) is not None:
            return said
    raise ReaderDataError(f"no training user has what a {field!r} request needs",
                          hint="the db needs users with pending, processed and delivered orders")


def request_classes(text: Text) -> tuple[str, ...]:
    return tuple(dict.fromkeys(REQUEST_CLASS[a] for a in text.acts if a in REQUEST_CLASS))


def joined(family: Family, rng: random.Random, first: Text, second: Text) -> Text:
    how = rng.randrange(5)
    if how == 0:
        return fill("{a} {b}", a=first, b=second)
    if how in (1, 2):
        return fill("{a}" + (" also " if how == 1 else " and then ") + "{b}", a=trim_end(first), b=decap(second))
    if how == 3:
        sep = " Also, " if ends_sentence(first) else ". Also, "
        return fill("{a}" + sep + "{b}", a=first, b=decap(second))
    return fill("{a} {b}", a=first, b=act(family, "next", rng, r=second))


def ends_sentence(text: Text) -> bool:
    return text.plain.rstrip()[-1:] in (".", "?", "!")


def then(rng: random.Random, first: Text, second: Text) -> Text:
    """Two sentences in one message: a space after a full stop, else one of " ", ". ", ", ", "! "."""
    sep = " " if ends_sentence(first) else rng.choice((" ", ". ", ", ", "! "))
    return fill("{a}{sep}{b}", a=first, sep=sep, b=second)
