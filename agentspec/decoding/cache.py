"""An LRU cache for step grammars, keyed by what determines them.

A step schema depends only on the tool set, the grounding values of the kinds those tools use, and
the step flags. ``step_key`` builds that key; ``GrammarCache`` maps it to whatever is expensive to
rebuild: the schema here, the backend's compiled grammar later (same key, a second cache).
Thread-safe: a server may decode several sessions at once. Building happens outside the lock, so
two threads missing on the same key may both build; the second result wins, which is harmless.
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from agentspec.decoding.grounding import Grounding
from agentspec.decoding.schema import (
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_REPLY_CHARS,
    grounded_kinds,
    step_schema,
    tools_fingerprint,
)
from agentspec.toolkit import Tool

__all__ = ["GrammarCache", "cached_step_schema", "step_key"]

V = TypeVar("V")


class GrammarCache(Generic[V]):
    """Least-recently-used map of at most ``maxsize`` entries, with hit and miss counters."""

    def __init__(self, maxsize: int = 128):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """Return the cached value for ``key``, or ``build()`` it, store it and evict the oldest."""
        with self._lock:
            if key in self._data:
                self.hits += 1
                self._data.move_to_end(key)
                return self._data[key]
            self.misses += 1
        value = build()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


def step_key(
    tools: Sequence[Tool],
    grounding: Grounding | None,
    *,
    allow_reply: bool = True,
    require_tool: bool = False,
    parallel: bool = True,
    max_calls: int = DEFAULT_MAX_CALLS,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> tuple[Hashable, ...]:
    """The cache key of a step grammar. Grounded values of kinds no tool uses do not change it."""
    snapshot = None if grounding is None else grounding.snapshot(grounded_kinds(tools))
    return (tools_fingerprint(tools), snapshot, allow_reply, require_tool, parallel, max_calls, max_reply_chars)


def cached_step_schema(cache: GrammarCache[dict[str, Any]], tools: Sequence[Tool], grounding: Grounding | None, **flags: Any) -> dict[str, Any]:
    """``step_schema`` through ``cache``; returns a copy, so callers may mutate it."""
    key = step_key(tools, grounding, **flags)
    return copy.deepcopy(cache.get_or_build(key, lambda: step_schema(tools, grounding, **flags)))
