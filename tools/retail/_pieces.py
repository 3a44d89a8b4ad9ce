"""Which of a customer's words are about which product or item of an order.

- ``outside_order_names(text, names)``: the text without the product lists that only say which order
  ("my order with the Laptop and T-Shirt", "the Lamp and Mug order");
- ``segments(text, names)``: each product name -> the words about it, from each of its mentions (with
  the two words before it: "the maple Skateboard") to the next mention of another product;
- ``item_words(text, items)``: of several items of one product, the words about each item a mention
  tells apart by a value only it has just before the product's name ("the silver Smart Watch for a
  gold one and the black Smart Watch in LCD": silver and black say which watch; gold and LCD are
  the changes), the telling values left out;
- ``without_identifying_words(text, items)``: the text without those telling values where a message
  first names the product: "the Sunglasses and the plastic Skateboard" (an order with a maple and a
  plastic one) says which item, not which version. A later message's values are changes ("the
  plastic Skateboard" answering which version).

All text is lower-case; matching is on whole words.
"""
from __future__ import annotations

import re
from typing import Any

from ._variants import lower_options

__all__ = ["item_words", "listed", "outside_order_names", "segments", "without_identifying_words"]

# How an order is named by what is in it: "order with", "order containing", "the order I placed with",
# "the order that had", "the order I got with", "the one with".
_ORDER_WITH = (r"\b(?:order|the\s+one)\s+(?:(?:that|which|i|we)\s+)?"
               r"(?:(?:placed|got|made|bought|received|had|has|contains|contained|containing|with)\s+){1,2}")
# The words just before a mention that may say which item it is: up to three, no digit or clause mark.
_LEAD = r"(?:[\w-]+\s+){1,3}$"


def listed(names: set[str]) -> str:
    """A pattern for a list of ``names`` ("the Laptop, Mug and T-Shirts")."""
    name = "(?:the |a |an )?(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")s?"
    return rf"{name}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+){name})*"


def outside_order_names(text: str, names: set[str]) -> str:
    """``text`` without the product lists that name an order ("my order with the Laptop and T-Shirt",
    "the Laptop and T-Shirt order"): those say which order, not which item."""
    if not names:
        return text
    pattern = listed(names)
    text = re.sub(rf"{_ORDER_WITH}{pattern}", " ", text)
    return re.sub(rf"(?<![\w-]){pattern}\s+order\b", " order", text)


def _mentions(text: str, names: set[str]) -> list[tuple[int, str]]:
    """(start, name) of every mention of ``names`` in ``text``, in order."""
    return sorted((m.start(), name) for name in names
                  for m in re.finditer(rf"(?<![\w-]){re.escape(name)}s?(?![\w-])", text))


def segments(text: str, names: set[str]) -> dict[str, str]:
    """Each product name -> what the text says about it: from each of its mentions (with the two words
    before it in its clause) to the next mention of another of ``names`` (its two words not included),
    order lists blanked."""
    outside = outside_order_names(text, names)
    spots = _mentions(outside, names)
    starts = []  # each mention with its lead: words only, no clause mark crossed
    for i, (start, name) in enumerate(spots):
        lead = re.search(r"(?:[^\W\d_][\w-]*\s+){1,2}$", outside[spots[i - 1][0] if i else 0:start])
        starts.append(start - (len(lead.group()) if lead else 0))
    pieces: dict[str, list[str]] = {name: [] for name in names}
    for i, (_, name) in enumerate(spots):
        end = next((starts[j] for j in range(i + 1, len(spots)) if spots[j][1] != name), len(outside))
        pieces[name].append(outside[starts[i]:max(end, starts[i])])
    return {name: " ".join(found) for name, found in pieces.items() if found}


def _telling(items: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """Product name -> item id -> the option values that tell it from the product's other items, for
    the products of which ``items`` hold several."""
    by_name: dict[str, dict[str, dict[str, str]]] = {}
    for item in items:
        group = by_name.setdefault(str(item.get("name", "")).lower(), {})
        group[str(item.get("item_id"))] = lower_options(item.get("options"))
    return {name: {item_id: {v for k, v in own.items() if any(o.get(k) != v for o in group.values())}
                   for item_id, own in group.items()}
            for name, group in by_name.items() if name and len(group) >= 2}


def _told(lead: str, telling: dict[str, set[str]]) -> tuple[str | None, int]:
    """The one item (of ``telling``: item id -> its telling values) whose values the words ``lead``
    say, and where in ``lead`` the first of them starts; (None, len(lead)) when it tells no one item."""
    found = {}
    for value in sorted(set().union(*telling.values()), key=len, reverse=True):
        said = re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", lead)
        if said and not any(a <= said.start() < b for a, b in found.values()):
            found[value] = said.span()
    fitting = [item_id for item_id, values in telling.items() if found and set(found) <= values]
    if len(fitting) != 1:
        return None, len(lead)
    return fitting[0], min(a for a, _ in found.values())


def _blanked(text: str, values: set[str]) -> str:
    """``text`` with ``values`` (whole words) blanked, longest first."""
    for value in sorted(values, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", " ", text)
    return text


def item_words(text: str, items: list[dict[str, Any]]) -> dict[str, str]:
    """Item id -> the words about it, for the items of ``items`` a mention tells apart from the
    product's other items (module docstring): from the telling value to where the words about the next
    mention of any product begin, the telling values blanked."""
    telling = _telling(items)
    if not telling:
        return {}
    names = {str(item.get("name", "")).lower() for item in items} - {""}
    outside = outside_order_names(text, names)
    spots = _mentions(outside, names)
    told, cuts = [], []  # per mention: the item it tells (or None), where the words about it begin
    for i, (start, name) in enumerate(spots):
        window = outside[spots[i - 1][0] + len(spots[i - 1][1]) if i else 0:start]
        lead = re.search(_LEAD, window)
        lead_start = start - (len(lead.group()) if lead else 0)
        item_id, offset = _told(outside[lead_start:start], telling[name]) if name in telling else (None, 0)
        two_words = re.search(r"(?:[^\W\d_][\w-]*\s+){1,2}$", window)
        told.append(item_id)
        cuts.append(lead_start + offset if item_id else start - (len(two_words.group()) if two_words else 0))
    words: dict[str, list[str]] = {}
    for i, (start, name) in enumerate(spots):
        if told[i] is not None:
            end = cuts[i + 1] if i + 1 < len(spots) else len(outside)
            piece = outside[cuts[i]:max(end, start)]
            words.setdefault(told[i], []).append(_blanked(piece[:start - cuts[i]], telling[name][told[i]])
                                                 + piece[start - cuts[i]:])
    return {item_id: " ".join(found) for item_id, found in words.items()}


def without_identifying_words(text: str, items: list[dict[str, Any]]) -> str:
    """``text`` (lower-case messages, one per line) without the values that tell ``items`` of one product
    apart, in the words before each mention of its name in the first message naming it (module docstring)."""
    messages = text.split("\n")
    for name, telling in _telling(items).items():
        mention = re.compile(rf"(?<![\w-]){re.escape(name)}s?(?![\w-])")
        for index, message in enumerate(messages):
            spots = list(mention.finditer(message))
            if not spots:
                continue
            pieces, at = [], 0
            for spot in spots:
                lead = re.search(_LEAD, message[at:spot.start()])
                lead_start = at + lead.start() if lead else spot.start()
                item_id, _ = _told(message[lead_start:spot.start()], telling)
                words = message[lead_start:spot.start()]
                pieces += [message[at:lead_start], _blanked(words, telling[item_id]) if item_id else words]
                at = spot.start()
            messages[index] = "".join(pieces) + message[at:]
            break
    return "\n".join(messages)
