"""The chat-model protocol every backend implements, and the context-fitting policy they share.

Contract:
- ``stream(messages, settings)`` returns a ``TokenStream``: iterate it for text deltas as they are
  decoded; once exhausted (or closed early) its ``completion`` holds the final text, usage and timings.
  Closing a stream early (Ctrl-C) leaves the model usable: the next call starts cleanly.
- ``complete(messages, settings)`` is ``stream`` drained; both give the same text for the same seed.
- Messages are OpenAI-style dicts ``{"role": "system"|"user"|"assistant", "content": str}``.
- A conversation longer than the context is fitted by ``fit_messages``: the system prompt is kept,
  the oldest turns are dropped, and the number dropped is reported in ``Completion.dropped_messages``.
  Only a single message that cannot fit on its own is an error (``ContextOverflowError``).

Not here: tool calls and grammars (agentspec.decoding builds on ``logits_processor`` hooks of the
backends), prompt templates (agentspec.runtime.template).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

from agentspec.errors import ContextOverflowError

__all__ = [
    "Message",
    "GenerationSettings",
    "Usage",
    "Timings",
    "Completion",
    "TokenStream",
    "ChatModel",
    "fit_messages",
    "common_prefix_length",
]

Message = dict[str, Any]


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings. temperature 0 means greedy; ``seed`` makes sampling repeatable."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    seed: int = 0
    stop: tuple[str, ...] = ()

    def with_(self, **changes: Any) -> "GenerationSettings":
        return replace(self, **changes)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens whose KV state was reused, not recomputed

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Timings:
    ttft_s: float = 0.0  # call start -> first token (prompt processing + first decode step)
    total_s: float = 0.0

    def decode_tokens_per_s(self, completion_tokens: int) -> float:
        """Decode speed after the first token (the prompt's cost is in ttft)."""
        decode_s = self.total_s - self.ttft_s
        if completion_tokens <= 1 or decode_s <= 0:
            return 0.0
        return (completion_tokens - 1) / decode_s


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    finish_reason: str = "stop"  # "stop" | "length" | "interrupted"
    dropped_messages: int = 0  # turns dropped to fit the context (see fit_messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reply": self.text,
            "finish_reason": self.finish_reason,
            "dropped_messages": self.dropped_messages,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "cached_tokens": self.usage.cached_tokens,
                "total_tokens": self.usage.total_tokens,
            },
            "timings": {
                "ttft_s": round(self.timings.ttft_s, 4),
                "total_s": round(self.timings.total_s, 4),
                "decode_tokens_per_s": round(
                    self.timings.decode_tokens_per_s(self.usage.completion_tokens), 2
                ),
            },
        }


class TokenStream:
    """Iterator of text deltas that records the final ``Completion``.

    A backend passes a generator of ``(delta_text, n_tokens)`` pairs plus the usage known up front;
    this class does the timing and bookkeeping so every backend measures the same way.
    """

    def __init__(
        self,
        pieces: Iterator[tuple[str, int]],
        *,
        prompt_tokens: int,
        cached_tokens: int = 0,
        dropped_messages: int = 0,
        max_tokens: int | None = None,
        on_close: Callable[[], None] | None = None,
        started: float | None = None,
        reported_usage: dict[str, int] | None = None,
    ):
        self._pieces = pieces
        self._on_close = on_close
        self._started = time.perf_counter() if started is None else started
        self._first: float | None = None
        self._parts: list[str] = []
        self._n_tokens = 0
        self._max_tokens = max_tokens
        self._prompt_tokens = prompt_tokens
        self._cached_tokens = cached_tokens
        self._dropped = dropped_messages
        # Counts a server reports while streaming (prompt_tokens, completion_tokens) win over ours.
        self._reported = reported_usage if reported_usage is not None else {}
        self.completion: Completion | None = None

    def __iter__(self) -> "TokenStream":
        return self

    def __next__(self) -> str:
        if self.completion is not None:
            raise StopIteration
        try:
            delta, n = next(self._pieces)
        except StopIteration:
            self._finish("length" if self._hit_limit() else "stop")
            raise
        except BaseException:
            self.close("interrupted")
            raise
        if self._first is None:
            self._first = time.perf_counter()
        self._parts.append(delta)
        self._n_tokens += n
        return delta

    def _hit_limit(self) -> bool:
        return self._max_tokens is not None and self._n_tokens >= self._max_tokens

    def read(self) -> Completion:
        """Drain the stream and return the completion."""
        for _ in self:
            pass
        assert self.completion is not None
        return self.completion

    def close(self, reason: str = "interrupted") -> Completion:
        """Stop early (e.g. Ctrl-C); keeps what was generated so far."""
        if self.completion is None:
            try:
                self._pieces.close()  # type: ignore[attr-defined]
            except AttributeError:
                pass
            self._finish(reason)
        assert self.completion is not None
        return self.completion

    def _finish(self, reason: str) -> None:
        end = time.perf_counter()
        first = self._first if self._first is not None else end
        self.completion = Completion(
            text="".join(self._parts),
            usage=Usage(
                self._reported.get("prompt_tokens") or self._prompt_tokens,
                self._reported.get("completion_tokens") or self._n_tokens,
                self._cached_tokens,
            ),
            timings=Timings(ttft_s=first - self._started, total_s=end - self._started),
            finish_reason=reason,
            dropped_messages=self._dropped,
        )
        if self._on_close is not None:
            self._on_close()


@runtime_checkable
class ChatModel(Protocol):
    """What the agent needs from a model, whatever runs it."""

    name: str
    backend: str
    context_length: int

    def stream(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> TokenStream: ...

    def complete(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...


def fit_messages(
    messages: list[Message], count: Callable[[list[Message]], int], budget: int
) -> tuple[list[Message], int]:
    """Drop the oldest turns until ``count(messages) <= budget``.

    Policy: leading system messages and the last message always stay; the oldest other messages go
    first, one at a time. Returns the fitted list and how many messages were dropped. Raises
    ``ContextOverflowError`` when the kept messages alone exceed the budget.
    """
    if count(messages) <= budget:
        return messages, 0
    n_system = 0
    while n_system < len(messages) and messages[n_system].get("role") == "system":
        n_system += 1
    head, body = messages[:n_system], messages[n_system:]
    dropped = 0
    # Drop from the front of the body, never the last message (the one being answered).
    while len(body) > 1:
        body = body[1:]
        dropped += 1
        # A conversation should not start with an assistant turn: drop it along with its user turn.
        while len(body) > 1 and body[0].get("role") == "assistant":
            body = body[1:]
            dropped += 1
        if count(head + body) <= budget:
            return head + body, dropped
    raise ContextOverflowError(
        f"The prompt needs {count(head + body)} tokens even after dropping {dropped} earlier "
        f"messages, but the context budget is {budget} tokens.",
        hint="Shorten the system prompt or the last message, or load the model with a larger "
        "context (--n-ctx).",
    )


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens two sequences share (what a KV cache can reuse)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
