"""A scripted fake model implementing the real ``ChatModel`` protocol, for fast tests and demos.

Replies are queued with ``enqueue`` (or given at construction) and returned in order; each reply is
streamed word by word so streaming code paths are exercised. Every call is recorded in ``calls`` so
tests can assert on the exact messages a model was shown. Tokens are counted as whitespace-separated
words; the context policy (``fit_messages``) is the real one. It never loads a model.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Iterator

from agentspec.runtime.base import Completion, GenerationSettings, Message, TokenStream, fit_messages

__all__ = ["ScriptedChatModel"]

Reply = str | Callable[[list[Message]], str]


class ScriptedChatModel:
    """Returns queued replies in order; a callable reply is computed from the messages."""

    backend = "scripted"

    def __init__(self, replies: Iterable[Reply] = (), *, name: str = "scripted", context_length: int = 4096,
                 default_reply: Reply | None = None):
        self.name = name
        self.context_length = context_length
        self.default_settings = GenerationSettings()
        self._queue: list[Reply] = list(replies)
        self._default = default_reply
        self.calls: list[dict[str, Any]] = []  # messages (after fitting) and settings of each call

    def enqueue(self, *replies: Reply) -> "ScriptedChatModel":
        self._queue.extend(replies)
        return self

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _count(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m.get("content") or "") + 3 for m in messages)

    def stream(self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any) -> TokenStream:
        s = settings or self.default_settings
        max_tokens = min(s.max_tokens, self.context_length // 2)
        fitted, dropped = fit_messages(messages, self._count, self.context_length - max_tokens)
        self.calls.append({"messages": list(fitted), "settings": s, "hooks": hooks})
        if self._queue:
            reply = self._queue.pop(0)
        elif self._default is not None:
            reply = self._default
        else:
            raise AssertionError("ScriptedChatModel: no reply queued for this call")
        text = reply(fitted) if callable(reply) else reply
        return TokenStream(
            _words(text, max_tokens), prompt_tokens=self._count(fitted), dropped_messages=dropped,
            max_tokens=max_tokens,
        )

    def complete(self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any) -> Completion:
        return self.stream(messages, settings, **hooks).read()


def _words(text: str, max_tokens: int) -> Iterator[tuple[str, int]]:
    # Split keeping whitespace attached, so the concatenation of deltas is exactly ``text``.
    for i, piece in enumerate(re.findall(r"\s*\S+\s*|\s+", text)):
        if i >= max_tokens:
            return
        yield piece, 1
