"""Which seen identifiers a customer's words refer to: the retail toolkit's ``mentions`` hook.

Contract: ``mentioned(db, kind, texts, candidates, argument, seen)`` returns the ``candidates`` (ids
of ``kind`` seen in the conversation) that the user's ``texts`` refer to for a write's ``argument``
(``seen``: every id shown so far, by kind), or None for a kind it does not know (the graph then keeps
the ids the texts spell out). Customers rarely type ids:

- an **order** is named by its id ("#W1234567", with or without the "#"), else by the products in it
  ("my order with the Smartphone and Tea Kettle"): the orders with the most of their product names
  in the texts, of the seen orders and the other orders of the users seen (so an order described
  before any lookup listed it is that order, not the one seen last); a product is named by its whole name or by its last word ("the keyboard and the
  garden hose": a Mechanical Keyboard and a Garden Hose);
- an **item** by its product's name ("return the Dumbbell Set"): every candidate item of a named
  product, so the new variant of an exchange stays open. When the texts also give options ("the
  Tablet (8-inch, 128GB, gold) from my order with the Backpack and Tablet"), the named products
  described by at least half as many options as the best-described one are kept: the Backpack
  there names the order, not the item; of several items of one product, the best-described
  ones. A product named only in such a list of an order's products
  ("return the Laptop from my order with the Laptop and T-Shirt") names the order, not an item,
  when another mention names an item. A write's ``item_ids`` (the items it changes) are the items
  so named of the orders the texts name (of every seen order when they name none; of several orders
  named alike, those the write takes, when any: "the Air Purifier" to exchange is in the delivered
  order, not in a pending one with an Air Purifier too), read from the
  store even before the model read the order: a catalogue variant read from the product is never
  the old item, and "the Pet Bed in my order #W9980894" is that order's Pet Bed;
- a write's ``new_item_ids`` (the variant an exchange or a modification asks for) is the old item
  with the options the texts change (``_variants``: "the Backpack (grey, large, nylon) ... for the
  one with grey, large, polyester" -> the polyester one). That variant is the answer even when the
  conversation has not shown it yet (the graph then offers it, grounded by the customer's words):
  the only item of that product seen so far is usually the old one. When the words together ask for a
  version the catalogue lacks, the latest message's change alone counts ("the size 12 ones" refused,
  then "ok, the red one then": a choice among the versions offered). Only products named outside an
  order's product list change ("the order that has the Headphones and Smartphone, swap the Smartphone
  for a black one": not the Headphones). Texts that change no option, or ask for a version the
  catalogue lacks even so, name none (with the retail spec's ``policy.targets.said`` the customer is
  then asked which version); values that only say which of several items of one product is meant,
  just before its name where a message first names it ("the Sunglasses and the plastic Skateboard"
  of a maple and a plastic one), change nothing (``_pieces.without_identifying_words``). Several
  products each with its own change ("swap
  the Bookshelf for one in brown and the Headphones for one in black") change by the words about
  each (from its name to the next product's), and each is one of the items changed; so do two items
  of one product each told apart by a value before its name ("the silver Smart Watch for a gold one
  and the black Smart Watch in LCD": ``_pieces.item_words``), the n-th new id for the n-th old one;
- a **product** by its name ("the Backpack"), of the seen ones and the whole catalogue (a question about
  a product names it before anything listed it);
- a **name**, and its **zip**, by a customer of the store whose name and zip code the texts give (``_names``);
- a **payment method** (``_methods``) by a card's last four digits, else by kind or brand, of the seen
  ones and the seen users' (so before the profile is read); the latest message naming any says which.

An empty list means the texts name nothing of that kind: the graph then leaves the choice open, so a
phrasing this module does not know never strands the user. Matching is on whole words, case-folded.

Not here: how the graph uses the answer (``agentspec.graph.guard.keep_named_targets``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

from ._addresses import address_line
from ._asking import WRITE_STATUSES
from ._methods import methods_named
from ._names import named_customer
from ._reads import says
from ._sqlite import Database
from ._pieces import item_words, listed, outside_order_names, segments, without_identifying_words
from ._variants import changed_variants, relaxed_variant

__all__ = ["mentioned"]


def _product_said(text: str, name: str, others: Iterable[str] = ()) -> bool:
    """A product named in ``text`` (both lower-case): its whole name, or its last word alone when that
    is four letters or more ("the keyboard" for the Mechanical Keyboard, "the earbuds", "my shirt" for
    the T-Shirt; not "set"), outside the whole names of ``others`` ("the Action Camera" is no Digital Camera)."""
    head = re.split(r"[\s-]", name)[-1]
    if not name or says(text, name):
        return bool(name)
    if len(head) < 4 or not says(text, head):
        return False
    for other in others:
        if other and other != name:
            text = re.sub(rf"(?<![\w-]){re.escape(other)}s?(?![\w-])", " ", text)
    return says(text, head)


def _orders(db: Database, text: str, candidates: list[str], statuses: tuple[str, ...] = ()) -> list[str]:
    """The candidates ``text`` spells out, else those whose products it names most; of several so named,
    those of ``statuses`` when any is (the orders the write takes: "the Air Purifier" to exchange is the
    delivered order's, not the pending one's)."""
    spelled = [c for c in candidates if says(text, c.lower()) or says(text, c.lower().lstrip("#"))]
    if spelled:
        return spelled
    scores: dict[str, int] = {}
    for order_id in candidates:
        order = db.get("orders", order_id) or {}
        names = {str(item.get("name", "")).lower() for item in order.get("items", [])}
        # A product's whole name outweighs its last word: "the Electric Kettle" is not the Tea Kettle's order.
        scores[order_id] = sum(2 * says(text, name) or _product_said(text, name) for name in names if name)
    best = max(scores.values(), default=0)
    named = [c for c in candidates if best and scores[c] == best]
    return _taken_by(db, named, statuses) if len(named) > 1 and statuses else named


def _with_users(db: Database, candidates: list[str], seen: dict[str, list[str]], field: str) -> list[str]:
    """``candidates`` and the ``field`` ("orders", "payment_methods") of the users the conversation has
    shown: "my order with the Laptop and Sunglasses" or "refund it to my PayPal" names that user's own
    before anything listed it."""
    owned = [str(x) for user_id in seen.get("user", ()) for x in (db.get("users", user_id) or {}).get(field, [])]
    return list(dict.fromkeys([*candidates, *owned]))


def _products(db: Database, item_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """item id -> (product name, options name -> value), lower-case, for the ids the catalogue knows."""
    wanted, found = set(item_ids), {}
    for _, product in db.items("products"):
        for item_id in wanted.intersection(product.get("variants", {})):
            options = product["variants"][item_id].get("options") or {}
            found[item_id] = (str(product.get("name", "")).lower(),
                              {str(k).lower(): str(v).lower() for k, v in options.items()})
    return found


def _says_option(text: str, key: str, value: str) -> bool:
    """An option value said: bare when three letters or more (a bare size "M" would match "I'm"), or with
    its option's name ("the size S Cycling Helmet")."""
    return (len(value) > 2 and says(text, value)) or says(text, f"{key} {value}")


def _order_lists_named(db: Database, text: str, orders: list[str]) -> str:
    """``text`` with each list of two or more product names that is exactly the products of one of
    ``orders`` read as naming that order, whatever words lead to it ("the one w the Grill, Electric
    Kettle and Smartphone in it"): it is written the way ``_pieces.outside_order_names`` reads such a list."""
    lists = set()
    for order_id in orders:
        names = frozenset(str(i.get("name", "")).lower() for i in (db.get("orders", order_id) or {}).get("items", []))
        if len(names - {""}) >= 2:
            lists.add(names - {""})
    if not lists:
        return text
    names = set().union(*lists)

    def named(match: re.Match[str]) -> str:
        said = frozenset(n for n in names if says(match.group(0), n))
        return f"order with {match.group(0)}" if said in lists else match.group(0)

    return re.sub(rf"(?<![\w-]){listed(names)}", named, text)


def _items(db: Database, text: str, candidates: list[str], best_items: bool = False,
           each_product: bool = False, told: Collection[str] = ()) -> list[str]:
    products = _products(db, candidates)
    # Named outside an order's product list, when any is; else named anywhere ("my order with the Lamp").
    names = {name for name, _ in products.values() if name}
    outside = outside_order_names(text, names)
    named = [c for c in candidates if c in products and _product_said(outside, products[c][0], names)] or \
        [c for c in candidates if c in products and _product_said(text, products[c][0], names)]
    # How well the texts describe each named product: the most option values of one of its items
    # (``_says_option``). A product named only in passing ("my order with the Bicycle, Grill and
    # Headphones") or matching one stray colour scores below half of the best-described one and is
    # dropped; two products both described stay.
    said = {c: sum(_says_option(text, k, v) for k, v in products[c][1].items()) for c in named}
    score: dict[str, int] = {}
    for c in named:
        score[products[c][0]] = max(score.get(products[c][0], 0), said[c])
    best = max(score.values(), default=0)
    # ``best_items`` (the items a write changes): of one product's items (an order with two Pet Beds),
    # the best-described, "the Pet Bed (beige)"; otherwise every variant stays (the new one is open).
    # ``each_product``: every product has its own change (``_each_changed``), so none is named in passing;
    # ``told``: items each told apart by its own words ("the large Backpack ... and the medium Backpack ...").
    # A product said with no option beside one with a single option ("return the Hiking Boots and the
    # black Wireless Earbuds") is meant as much: items a customer tells apart by one word.
    return [c for c in named if (each_product or 2 * score[products[c][0]] >= best or best < 2)
            and (said[c] == score[products[c][0]] or not best_items or c in told)]


def _order_items(db: Database, text: str, orders: list[str], statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The items of the seen ``orders`` that the text names (all of them when it names none)."""
    named = _orders(db, text, orders, statuses) or orders
    return [item for order_id in named for item in (db.get("orders", order_id) or {}).get("items", [])]


def _own_words(text: str, items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(words, items) for each thing the text says on its own: each item told apart from its product's
    other items by its own words (``_pieces.item_words``: "the silver Smart Watch ... and the black
    Smart Watch ..."), else each product named, with its words (``_pieces.segments``); [] when the text
    is about one thing only."""
    told = item_words(text, items)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_name.setdefault(str(item.get("name", "")).lower(), []).append(item)
    said = segments(text, set(by_name))
    subjects: list[tuple[str, list[dict[str, Any]]]] = []
    for name, group in by_name.items():
        own = [item for item in group if str(item.get("item_id")) in told]
        if own:
            subjects += [(told[str(item.get("item_id"))], [item]) for item in own]
        elif name in said:
            subjects.append((said[name], group))
    return subjects if len(subjects) >= 2 else []


def _each_changed(db: Database, text: str, named: list[dict[str, Any]]) -> list[str]:
    """Several products or items, each with its own change ("swap the Bookshelf for one in brown and the
    Headphones for one in black"): each one changed by the words about it alone ("black" is the
    headphones'). Empty unless every one named outside order lists is so changed: "the T-Shirt in my
    order with the T-Shirt and white Mug to the white one" changes one product, read whole."""
    subjects = _own_words(text, named)
    changed = [changed_variants(db, words, items) for words, items in subjects]
    return [v for variants in changed for v in variants] if changed and all(changed) else []


def _new_items(db: Database, text: str, candidates: list[str], orders: list[str], latest: str = "",
               statuses: tuple[str, ...] = ()) -> list[str]:
    in_orders = _order_items(db, text, orders, statuses)
    names = {str(i.get("name", "")).lower() for i in in_orders} - {""}
    outside = outside_order_names(text, names)  # "the order that has the Lamp and Mug": which order, no change
    named = [i for i in in_orders if _product_said(outside, str(i.get("name", "")).lower(), names)] or \
        [i for i in in_orders if _product_said(text, str(i.get("name", "")).lower(), names)]
    each = _each_changed(db, text, named)  # "the large Backpack for ... and the medium Backpack for ..."
    if each:
        return each
    # "the plastic Skateboard" of a maple and a plastic one says which; nothing else changes: no version yet.
    plain = without_identifying_words(text, in_orders)
    if plain != text and not _asked_versions(db, plain, named, plain.rsplit("\n", 1)[-1] if latest else ""):
        return []
    return _versions_read_whole(db, text, named, latest)


def _asked_versions(db: Database, text: str, named: list[dict[str, Any]], latest: str) -> list[str]:
    """The versions ``text`` asks the ``named`` items to become; [] when it changes no option, or no one
    version has what was said (the customer is asked which)."""
    return _each_changed(db, text, named) or _versions_read_whole(db, text, named, latest)


def _versions_read_whole(db: Database, text: str, named: list[dict[str, Any]], latest: str) -> list[str]:
    """``_asked_versions`` by the whole text, not each item's or product's own words."""
    # A version the catalogue lacks, then "ok, the red one then": the latest message's change alone; else,
    # for one item, the one available version with every value said ("wireless, black": the laser one).
    new = changed_variants(db, text, named) or (changed_variants(db, latest, named) if latest else []) or \
        (relaxed_variant(db, text, named[0]) if len(named) == 1 else [])
    return list(dict.fromkeys(new))


def _product_ids(db: Database, text: str, candidates: list[str]) -> list[str]:
    """The candidates and catalogue products ``text`` names (candidates first); a product named by its whole
    name outweighs those named by their last word alone ("the Tea Kettle" is not the Electric Kettle)."""
    names = {pid: str(name or "").lower() for pid, name in db.field("products", "name").items()}
    named = [c for c in dict.fromkeys([*candidates, *names]) if names.get(c) and _product_said(text, names[c])]
    whole = [c for c in named if says(text, names[c])]
    return whole or named


_BY_KIND = {"order": _orders, "item": _items, "product": _product_ids}


# The writes that turn items into other variants: their new options describe ``new_item_ids``, not ``item_ids``.
CHANGING_TOOLS = ("exchange_delivered_order_items", "modify_pending_order_items")


def _the_changed_ones(db: Database, text: str, order_items: list[dict[str, Any]], orders: list[str],
                      statuses: tuple[str, ...] = ()) -> list[str]:
    """The ids of ``order_items`` (the named orders' items) the words change into a variant that exists
    and is not already theirs, when any: "swap the medium Backpack for a black, large one" in an order
    with a medium and a large backpack changes the medium one (black-large-medium's other options exist,
    the large one's do not); "swap the T-Shirt for the red one" where one of two T-Shirts is red changes
    the other; "the one with the Laptop and Portable Charger, trade the Portable Charger for one in
    20000mAh" changes no laptop. Of those, the ones that become a variant the words ask for, when any
    ("the maple Skateboard ... in plastic and custom": not the plastic one, which would become another);
    of several that would, the ones a value the asked variant lacks describes (``_told_apart``).
    Several products each with its own words ("the Air Purifier for one in large, ionic and the Pet Bed
    for one in medium") change by those words (``_pieces.segments``), not by every option the text says;
    so do items of one product each told apart by its own words (``_pieces.item_words``), even into the
    other one's version ("the medium Backpack ... size large": the large one changes too).
    None changed: all of them (the words describe no new variant yet)."""
    by_id = {str(i.get("item_id")): i for i in order_items}
    items = list(by_id)
    asked = set(_new_items(db, text, items, orders, statuses=statuses))
    names = {str(i.get("name", "")).lower() for i in order_items} - {""}
    # "the plastic Skateboard" of two, and nothing asked: which one, no change.
    changes = text if asked else without_identifying_words(text, order_items)
    said = segments(text, names)
    said_changes = said if changes == text else segments(changes, names)
    own, own_changes = (said, said_changes) if len(said) >= 2 else ({}, {})  # each product its own words
    told = item_words(changes, order_items)  # "the silver Smart Watch for ... and the black one ...": each its own

    def words(item: str) -> str:
        return own.get(str(by_id[item].get("name", "")).lower(), text)

    def change_words(item: str) -> str:
        return told.get(item) or own_changes.get(str(by_id[item].get("name", "")).lower(), changes)

    becomes = {i: set(changed_variants(db, change_words(i), [by_id[i]])) - {i} for i in items}
    # An item that is another's new version is changed only by its own words (two Backpacks, sizes swapped).
    changed = [i for i in items if becomes[i] and (i not in asked or i in told)]
    becoming = [i for i in changed if becomes[i] & asked]
    return _told_apart(db, becoming, by_id, becomes, asked, words, set(told)) or changed or items


def _told_apart(db: Database, items: list[str], by_id: dict[str, dict[str, Any]], becomes: dict[str, set[str]],
                asked: set[str], words: Callable[[str], str], told: set[str]) -> list[str]:
    """Of several ``items`` of one product that would all become the asked variant, the ones ``told``
    apart by a value before the product's name ("the 6 hours Wireless Earbuds"), else those the words
    describe by a value the asked variant does not have ("the maple Skateboard ... in bamboo, 34 inch":
    maple is the old one's; 34 inch, said of the new one, tells no old one apart); all of them when the
    words tell none apart. Items that become different asked variants (each its own words) all stay."""
    alike: dict[tuple[str, ...], list[str]] = {}
    for item in items:
        alike.setdefault((str(by_id[item].get("name", "")).lower(), *sorted(becomes[item] & asked)), []).append(item)
    kept: list[str] = []
    for group in alike.values():
        if len(group) == 1 or told & set(group):
            kept += [i for i in group if i in told] or group
            continue
        scores = {}
        for item in group:
            new_options = _products(db, sorted(becomes[item] & asked)[:1]).values()
            new = next(iter(new_options), ("", {}))[1]
            old = {str(k).lower(): str(v).lower() for k, v in (by_id[item].get("options") or {}).items()}
            scores[item] = sum(_says_option(words(item), k, v) for k, v in old.items() if new.get(k) != v)
        best = max(scores.values())
        kept += [i for i in group if scores[i] == best or not best]
    return [i for i in items if i in kept]


def _taken_by(db: Database, orders: list[str], statuses: tuple[str, ...]) -> list[str]:
    """The ``orders`` of ``statuses`` (a write's items come from those: an exchange's from delivered
    orders), or all of them when none is: the dry run then says why the write cannot take them."""
    taken = [o for o in orders if (db.get("orders", o) or {}).get("status") in statuses]
    return taken or orders


def mentioned(db: Database, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
              seen: dict[str, list[str]] | None = None,
              slots: list[dict[str, list[str]]] | None = None, tool: str | None = None) -> list[str] | None:
    """The candidates of ``kind`` that ``texts`` refer to, for ``tool``'s ``argument`` when given (``seen``:
    every id the conversation has shown, by kind; ``slots``: the reader's spans of each text, by tag); None
    for a kind this toolkit does not resolve (a name no customer of the store matches: the reader's slots
    say it)."""
    text, orders = "\n".join(texts).lower(), list((seen or {}).get("order", ()))
    statuses = WRITE_STATUSES.get(tool or "", ())  # of several orders named alike, those the write takes
    if kind in ("item", "order"):
        text = _order_lists_named(db, text, _with_users(db, orders, seen or {}, "orders"))
    if kind == "dictated":
        return address_line(db, texts, slots or [], argument)
    if kind in ("name", "zip"):
        named = named_customer(db, texts, argument)
        if named is not None or kind == "name":
            return named
        return [c for c in candidates if c in text]  # no customer's name goes with it: any zip the words give
    if kind == "payment_method":  # one choice: the latest message that names a method says it (``_methods``)
        return methods_named(db, texts, _with_users(db, list(candidates), seen or {}, "payment_methods"))
    find = _BY_KIND.get(kind)
    if find is None:
        return None
    if kind == "order":
        return _orders(db, text, _with_users(db, list(candidates), seen or {}, "orders"), statuses)
    if kind == "item" and argument == "new_item_ids" and orders:
        return _new_items(db, text, list(candidates), orders, texts[-1].lower() if len(texts) > 1 else "", statuses)
    if kind == "item" and argument == "item_ids" and orders:
        order_items = _order_items(db, text, orders, statuses)
        in_orders = list(dict.fromkeys(str(i.get("item_id")) for i in order_items))
        names = {str(i.get("name", "")).lower() for i in order_items}
        named = [i for i in order_items if _product_said(text, str(i.get("name", "")).lower(), names)]
        each = bool(_each_changed(db, text, named))
        told = set(item_words(text, named)) if each else set()
        if tool in CHANGING_TOOLS:
            in_orders = _the_changed_ones(db, text, order_items, orders, statuses)
        return _items(db, text, in_orders, best_items=True, each_product=each, told=told) or \
            _items(db, text, list(candidates))
    return find(db, text, list(candidates))
