"""The variant an exchange or a modification asks for: the old item with the options the customer changes.

``changed_variants(db, text, items)``: for each of ``items`` (order items whose product the text
names), each option takes the value of it the text says last, when that is another value ("the
Backpack (grey, large, nylon) ... for the one with grey, large, polyester" -> material polyester;
"the same jacket in navy" -> color navy), and the variant with exactly those options is the answer.
How the words are read:

- a value said with its option's name ("connectivity wired") beats one said bare ("my Wireless
  Earbuds, for the one with connectivity wired"), unless the bare one comes after it ("color blue ...
  the red one"); a value said with another option's name is that option's ("frame color silver, lens
  color black" leaves the frame silver);
- an option of values yes and no is also said by its name alone: "a waterproof pair" is yes, "not
  waterproof" no;
- option names are not values ("bagged/bagless bagged" says "bagged" only), unless a value holds its
  option's name ("Brand B"); a value inside a longer
  value said there does not count ("matte black" is not "black"); a value of one or two letters (a
  size "M") only with its option's name, before it ("3x zoom") or after it ("size M"), or set off by
  brackets and commas ("I'm" does not say "M");
- of several items the text would change, the best-described ones win: first by how many of the
  values the change replaces are said ("the maple Skateboard ... in plastic": maple can only be the
  old one's), then by the share of their options said (so a laptop's five and a shirt's four both
  count in full): a product named only to say which order, one of whose options the new item
  shares by chance, stays as it is.

An empty answer means the text changes nothing (or asks for a combination the catalogue lacks).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._sqlite import Database

__all__ = ["changed_variants", "closest_variants", "lower_options", "relaxed_variant", "said_options"]


def _said_spans(text: str, unkeyed: str, value: str, key: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where option ``value`` of option ``key`` is said with its name ("color black"; a value of one or
    two letters also before it: "3x zoom"), and where
    as a bare word outside the option names (``unkeyed``: "bagged/bagless bagged" says "bagged" only).
    A bare value of one or two letters (a size "M") counts only set off by brackets or commas: "I'm"."""
    keyed = [m.span(1) for m in re.finditer(rf"(?<![\w-]){re.escape(key)} ({re.escape(value)})(?![\w-])", text)]
    if len(value) <= 2:  # a short value also just before its option's name: "3x zoom", "an i7 processor"
        keyed += [m.span(1) for m in re.finditer(rf"(?<![\w-])({re.escape(value)}) {re.escape(key)}(?![\w-])", text)]
    bare = (rf"(?<![\w-]){re.escape(value)}(?![\w-])" if len(value) > 2
            else rf"(?<=[(,])\s?{re.escape(value)}(?=[\s,).;]|$)")
    # A value that holds its option's name ("Brand B" of "brand") is looked for where the name was not blanked.
    holds_key = re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", value) is not None
    return keyed, [m.span() for m in re.finditer(bare, text if holds_key else unkeyed)]


def _yes_no_spans(text: str, key: str) -> dict[str, list[tuple[int, int]]]:
    """An option whose values are yes and no, said by its name alone: "a waterproof pair" says yes,
    "not waterproof" or "non-waterproof" says no ("waterproof no" is said with its name already)."""
    spans: dict[str, list[tuple[int, int]]] = {"yes": [], "no": []}
    pattern = rf"(?<![\w-])(?:(not|non|no)[\s-]+)?{re.escape(key)}(?![\w-])(?![:\s]+(?:yes|no)(?![\w-]))"
    for m in re.finditer(pattern, text):
        spans["no" if m.group(1) else "yes"].append(m.span())
    return spans


def lower_options(options: Any) -> dict[str, str]:
    """Option names and values, lower-case."""
    return {str(k).lower(): str(v).lower() for k, v in (options or {}).items()}


def _unkeyed(text: str, keys: Iterable[str]) -> str:
    """``text`` with the option names blanked out (blanked, not removed: spans stay comparable)."""
    for key in keys:
        text = re.sub(rf"(?<![\w-]){re.escape(key.lower())}(?![\w-])", lambda m: " " * len(m.group()), text)
    return text


def _described(text: str, options: dict[str, str]) -> float:
    """The share of ``options`` (name -> value, lower-case) that the text says."""
    unkeyed = _unkeyed(text, options)
    said = [any(_said_spans(text, unkeyed, value, key)) for key, value in options.items()]
    return sum(said) / len(said) if said else 0.0


def _changed_options(text: str, old: dict[str, str], variants: list[dict[str, str]]) -> dict[str, str]:
    """``old`` options with each option set to the value of it said last (the old one keeps it)."""
    return {**old, **said_options(text, old, variants)}


def said_options(text: str, old: dict[str, str], variants: list[dict[str, str]]) -> dict[str, str]:
    """The options of ``old`` (lower-case) the text says a value of, each with the value said last."""
    target, unkeyed = {}, _unkeyed(text, old)
    lowered = [lower_options(v) for v in variants]
    said = {key: {v: _said_spans(text, unkeyed, v, key.lower()) for v in {o.get(key, "") for o in lowered} - {""}}
            for key in old}
    for key, found in said.items():
        if set(found) == {"yes", "no"}:
            for value, spans in _yes_no_spans(text, key.lower()).items():
                found[value] = (found[value][0] + spans, found[value][1])
    for key in old:
        values, found = set(said[key]), said[key]
        # A value said with another option's name ("frame color silver, lens color black") is that one's.
        theirs = {span for other in said if other != key for keyed, _ in said[other].values() for span in keyed}
        # A bare word before the option is last named ("my Wireless Earbuds, for the one with
        # connectivity wired") is not this option; one after it ("color blue ... the red one") is.
        named_at = max((a for keyed, _ in found.values() for a, _ in keyed), default=-1)
        spans = {v: keyed + [span for span in bare if span[0] > named_at and span not in theirs]
                 for v, (keyed, bare) in found.items()}
        # "matte black" also says "black": a span inside a longer said value's span does not count.
        ends = {v: max((e for a, e in spans[v] if not any(o != v and c <= a and e <= d and (c, d) != (a, e)
                                                        for o in values for c, d in spans[o])), default=-1)
                for v in values}
        last = max(ends, key=lambda v: ends[v], default=None)
        if last is not None and ends[last] >= 0:
            target[key] = last
    return target


def _said_and_others(text: str, item: dict[str, Any],
                     variants: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, str]]]:
    """``item``'s options, the option values the text says for it (``said_options``), and the options of
    the available ``variants`` other than ``item`` (id -> options), all lower-case."""
    old = lower_options(item.get("options"))
    said = said_options(text, old, [v.get("options") or {} for v in variants.values()])
    others = {i: lower_options(v.get("options")) for i, v in variants.items()
              if v.get("available") and i != str(item.get("item_id"))}
    return old, said, others


def _matching(options: dict[str, str], wanted: dict[str, str]) -> int:
    return sum(options.get(k) == value for k, value in wanted.items())


def closest_variants(text: str, item: dict[str, Any], variants: dict[str, Any]) -> list[str]:
    """The available ``variants`` (id -> variant; not ``item``'s own) that have the most of the option
    values the text (lower-case) says for ``item``; all of them when it says none."""
    _, said, others = _said_and_others(text, item, variants)
    kept = {i: _matching(options, said) for i, options in others.items()}
    best = max(kept.values(), default=0)
    return [i for i in others if kept[i] == best]


def relaxed_variant(db: Database, text: str, item: dict[str, Any]) -> list[str]:
    """For a combination the catalogue lacks ("a wireless one, black" where the black wireless one has
    another sensor): the one available variant with every option value the text says for ``item``, when
    it changes one, and of those the most of ``item``'s other options; [] when none or several tie."""
    variants = (db.get("products", str(item.get("product_id"))) or {}).get("variants", {})
    old, said, others = _said_and_others(text, item, variants)
    if _matching(old, said) == len(said):
        return []
    fitting = {i: options for i, options in others.items() if _matching(options, said) == len(said)}
    kept = {i: _matching(options, old) for i, options in fitting.items()}
    best = [i for i in fitting if kept[i] == max(kept.values())]
    return best if len(best) == 1 else []


def changed_variants(db: Database, text: str, items: list[dict[str, Any]]) -> list[str]:
    """The variants (item ids) that ``text`` (lower-case) asks ``items`` (order items) to become."""
    changes: dict[int, list[str]] = {}  # id(old item) -> the variants it becomes
    replaced: dict[int, dict[str, str]] = {}  # id(old item) -> its options the change replaces
    for old in items:
        variants = (db.get("products", str(old.get("product_id"))) or {}).get("variants", {})
        old_options = lower_options(old.get("options"))
        target = _changed_options(text, old_options, [v.get("options") or {} for v in variants.values()])
        if target != old_options:
            changes[id(old)] = [item_id for item_id, v in variants.items()
                                if lower_options(v.get("options")) == target]
            replaced[id(old)] = {k: v for k, v in old_options.items() if target[k] != v}
    # A value said that the change replaces ("the maple Skateboard ... in plastic") can only describe the
    # old item: it counts first; then the share of the item's options said.
    share = {key: (_described(text, replaced[key]) * len(replaced[key]),
                   _described(text, lower_options(i.get("options"))))
             for i in items if (key := id(i)) in changes}
    new = [v for key in changes if share[key] == max(share.values()) for v in changes[key]]
    return list(dict.fromkeys(new))

