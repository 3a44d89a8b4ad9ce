"""Grounding: the identifier values the conversation has actually shown, per kind.

A tool argument marked ``Identifier("order")`` may only take a value that appeared in a user
message or a tool observation. ``Grounding`` collects those values; the step grammar turns them
into an enum, and ``parse_step`` rejects anything else.

Extraction is domain-agnostic; what is domain-specific is configurable:

- JSON observations are walked structurally. A key ``<kind>_id`` gives one value of ``kind``,
  ``<kind>_ids`` a list of them (``payment_method_id`` -> ``payment_method``). A key ``id`` inside an
  entity takes the kind of the container the entity sits in (``"payment_methods": {...: {"id": ...}}``
  -> ``payment_method``; containers are singularised by dropping a trailing ``s``). A dict whose
  values are entities carrying their own id (tau2's ``"variants": {"<item_id>": {"item_id": ...}}``)
  is a map keyed by id: the ids are read inside the entities, which keep the container's kind.
  A list of strings under a plural key is a list of ids (``"orders": ["#W123"]`` -> ``order``).
  ``key_kinds`` maps a JSON key to a kind explicitly and wins over the rules above
  (``{"variants": "item"}``).
- Free text (user messages, plain observations like ``sara_doe_496``) is matched against
  per-kind regexes, ``patterns``. A token can match several kinds (a 10-digit number is both an item
  and a product id); it is then recorded under each: the grammar only needs a superset.

- Phrase kinds (``phrases``: kind -> at most N words) hold text the user dictates, such as a new
  address: every run of 1..N words inside one clause of free text (commas, semicolons, line breaks
  and sentence-ending periods end a clause), each as typed, in title case and in upper case, plus the
  empty string (an address without a second line). "ship it to 812 Chestnut Street, Suite 337, New
  York, NY 10088" gives "812 Chestnut Street", "Suite 337", "New York", "NY", "10088", ...: a model
  that must copy the address cannot write the one it read in the user's profile instead.

The shapes (``patterns``, ``key_kinds``, ``phrases``) are a toolkit's (``agentspec.hooks.IdentifierShapes``;
``Grounding.from_shapes``): nothing here knows a domain's ids.

Bounds: the values become enum alternatives of the step grammar, so whatever a customer types the
grounding stays bounded. A value longer than ``MAX_VALUE_CHARS`` is not recorded; each kind keeps its
``MAX_VALUES_PER_KIND`` newest values (in the order the text or JSON shows them; a value seen again
counts as new), the oldest are dropped and counted in ``dropped`` (the graph reports them in the
trace). Below the bounds a value, once seen, stays usable for the rest of the conversation.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MAX_VALUES_PER_KIND", "MAX_VALUE_CHARS", "Grounding", "GroundingSnapshot", "bounded_union"]

# Per kind, the newest values kept. A 700-word clause yields ~12,000 phrase runs; as enums of the step
# schema (repeated in every argument of the kind) they made llguidance refuse it ("schema too large").
# 1024 values in each grounded argument of the retail tools: a ~0.5 MB schema, compiled in ~40 ms
# with SmolLM2's tokenizer (512: ~20 ms; 2048: ~100 ms).
MAX_VALUES_PER_KIND = 1024
# Longest value recorded (characters): an identifier or a dictated phrase, not a paragraph.
MAX_VALUE_CHARS = 128

_CLAUSE_END = re.compile(r"[,;!?\n]|\.(?=\s|$)")

GroundingSnapshot = tuple[tuple[str, tuple[str, ...]], ...]

_ID_KEY = re.compile(r"^(\w+?)_ids?$")


class Grounding:
    """Identifier values seen so far, per kind. Mutable; ``snapshot()`` freezes it for cache keys."""

    def __init__(
        self,
        values: Mapping[str, Iterable[str]] | None = None,
        *,
        patterns: Mapping[str, str] | None = None,
        key_kinds: Mapping[str, str] | None = None,
        phrases: Mapping[str, int] | None = None,
    ):
        self.patterns = dict(patterns or {})
        self.phrases = dict(phrases or {})
        self.key_kinds = dict(key_kinds or {})
        # Word boundaries so "12345678901" does not yield a 10-digit id.
        self._regexes = {kind: re.compile(rf"(?<!\w)(?:{p})(?!\w)") for kind, p in self.patterns.items()}
        # kind -> values, oldest first (dict as an ordered set): the bound drops from the front.
        self._values: dict[str, dict[str, None]] = {}
        self.dropped: dict[str, int] = {}  # kind -> values dropped by the bounds since construction
        for kind, vals in (values or {}).items():
            for value in vals:
                self.add(kind, value)

    @classmethod
    def from_shapes(cls, shapes: Any, values: Mapping[str, Iterable[str]] | None = None) -> "Grounding":
        """A grounding that extracts identifiers of the shapes a toolkit declares (``IdentifierShapes``)."""
        return cls(values, patterns=shapes.patterns, key_kinds=shapes.keys, phrases=shapes.phrases)

    # -- reading -----------------------------------------------------------------------------------

    def values(self, kind: str) -> tuple[str, ...]:
        """Sorted values of ``kind`` (empty if none seen)."""
        return tuple(sorted(self._values.get(kind, ())))

    def kinds(self) -> list[str]:
        return sorted(kind for kind, vals in self._values.items() if vals)

    def snapshot(self, kinds: Iterable[str] | None = None) -> GroundingSnapshot:
        """A hashable, order-independent view, optionally restricted to ``kinds`` (better cache hits)."""
        wanted = self.kinds() if kinds is None else sorted(set(kinds))
        return tuple((kind, self.values(kind)) for kind in wanted)

    def as_dict(self) -> dict[str, list[str]]:
        """Plain JSON-able form (for graph state), oldest value first; ``Grounding(g.as_dict())``
        restores the values and their order."""
        return {kind: list(self._values[kind]) for kind in self.kinds()}

    def __contains__(self, item: object) -> bool:
        """``("order", "#W0000001") in grounding``."""
        if not (isinstance(item, tuple) and len(item) == 2):
            return False
        kind, value = item
        return value in self._values.get(kind, ())

    def __repr__(self) -> str:
        return f"Grounding({self.as_dict()!r})"

    # -- writing -----------------------------------------------------------------------------------

    def add(self, kind: str, value: str) -> bool:
        """Record one value as the newest of its kind; return True if it is new.

        A value longer than ``MAX_VALUE_CHARS`` is not recorded; past ``MAX_VALUES_PER_KIND`` the
        oldest value of the kind is dropped. Both count in ``dropped``.
        """
        bucket = self._values.setdefault(kind, {})
        if value in bucket:
            del bucket[value]  # seen again: move it to the newest end
            bucket[value] = None
            return False
        if len(value) > MAX_VALUE_CHARS:
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
            return False
        bucket[value] = None
        if len(bucket) > MAX_VALUES_PER_KIND:
            del bucket[next(iter(bucket))]
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
        return True

    def observe_text(self, text: str) -> set[tuple[str, str]]:
        """Extract identifiers from a user message or a tool observation; return the new (kind, value) pairs."""
        found: list[tuple[str, str]] = []
        stripped = text.strip()
        if stripped[:1] in "{[\"":
            try:
                parsed = json.loads(stripped)
            except ValueError:
                parsed = None
            else:
                if isinstance(parsed, str):
                    return self._add_all(self._match(parsed))
                if isinstance(parsed, (dict, list)):
                    self._walk(parsed, None, found)
                    return self._add_all(found)
        return self._add_all(self._match(text))

    def observe_json(self, data: Any) -> set[tuple[str, str]]:
        """Like ``observe_text`` for an already parsed JSON value."""
        found: list[tuple[str, str]] = []
        if isinstance(data, str):
            return self._add_all(self._match(data))
        self._walk(data, None, found)
        return self._add_all(found)

    # -- internals ---------------------------------------------------------------------------------

    def _add_all(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Add ``pairs`` in order (the last is the newest); return the new ones the bounds kept."""
        new = [(kind, value) for kind, value in pairs if self.add(kind, value)]
        return {(kind, value) for kind, value in new if value in self._values[kind]}

    def _match(self, text: str) -> list[tuple[str, str]]:
        """The (kind, value) pairs of free text, per kind in the order of the text."""
        found = [(kind, m.group(0)) for kind, rx in self._regexes.items() for m in rx.finditer(text)]
        if self.phrases:
            clauses = [[w for w in (w.strip("\"'()[]{}:") for w in clause.split()) if w]
                       for clause in _CLAUSE_END.split(text)]
            for kind, longest in self.phrases.items():
                for words in clauses:
                    for j in range(1, len(words) + 1):  # runs ordered by where they end
                        for i in range(max(0, j - longest), j):
                            run = " ".join(words[i:j])
                            # As typed, and capitalised the way an address is written: a user who
                            # types "771 broadway, charlotte, nc" means "771 Broadway", "NC".
                            found.extend(((kind, run), (kind, run.title()), (kind, run.upper())))
                found.append((kind, ""))  # last, so the bound never drops it (an empty address line)
        return found

    def _key_kind(self, key: str) -> str | None:
        """The kind a key's value holds ids of: explicit mapping, then ``<kind>_id(s)``."""
        if key in self.key_kinds:
            return self.key_kinds[key]
        match = _ID_KEY.match(key)
        return match.group(1) if match else None

    def _container_kind(self, key: str) -> str:
        """The kind of the entities under a container key: explicit mapping, else singular."""
        if key in self.key_kinds:
            return self.key_kinds[key]
        return key[:-1] if key.endswith("s") and len(key) > 1 else key

    def _walk(self, node: Any, context: str | None, found: list[tuple[str, str]]) -> None:
        """Collect ids from ``node``; ``context`` is the kind of entity ``node`` is (or holds)."""
        if isinstance(node, list):
            for item in node:
                if isinstance(item, str) and context is not None:
                    found.append((context, item))  # "orders": ["#W1", "#W2"]
                else:
                    self._walk(item, context, found)
            return
        if not isinstance(node, dict):
            return
        # A dict of entities keyed by their own ids ({"9612497925": {"item_id": "9612497925"}}):
        # the ids are read inside each entity, which keeps the container's kind.
        entity_map = _is_entity_map(node)
        for key, value in node.items():
            if key == "id":
                if context is not None and isinstance(value, str):
                    found.append((context, value))
                continue
            kind = self._key_kind(key)
            if isinstance(value, str):
                if kind is not None:
                    found.append((kind, value))
            elif isinstance(value, list):
                # "item_ids": [...] by name; "orders": ["#W1"] by the singular of the container.
                self._walk(value, kind or self._container_kind(key), found)
            elif isinstance(value, dict):
                if key in self.key_kinds:  # explicitly a dict keyed by ids of this kind
                    found.extend((self.key_kinds[key], k) for k in value)
                # Inside a dict of entities keyed by id, an entity keeps the container's kind.
                inner = context if entity_map else self._container_kind(key)
                self._walk(value, inner, found)


def _is_entity_map(node: dict[str, Any]) -> bool:
    """True if every value of ``node`` is an entity whose id field (``id`` / ``<kind>_id``) equals its key."""
    return bool(node) and all(
        isinstance(entity, dict)
        and any(v == key and (k == "id" or _ID_KEY.match(k)) for k, v in entity.items())
        for key, entity in node.items()
    )


def bounded_union(old: Mapping[str, Iterable[str]] | None,
                  new: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """Union per kind of two ``as_dict()`` forms, kinds sorted, values oldest first: ``new``'s come
    after ``old``'s (a value in both moves to ``new``'s place) and each kind keeps its
    ``MAX_VALUES_PER_KIND`` newest, the bound ``Grounding`` keeps."""
    out: dict[str, dict[str, None]] = {kind: dict.fromkeys(values) for kind, values in (old or {}).items()}
    for kind, values in (new or {}).items():
        bucket = out.setdefault(kind, {})
        for value in values:
            bucket.pop(value, None)
            bucket[value] = None
    return {kind: list(out[kind])[-MAX_VALUES_PER_KIND:] for kind in sorted(out)}
