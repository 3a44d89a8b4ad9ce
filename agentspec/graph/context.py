"""Context budget: the prompt of one step, compacted to fit the model, never failing.

Contract: ``build_prompt(system, messages, count, budget, keep, max_chars)`` returns the messages to
send (``role``/``content`` only; the state's ``meta`` is stripped) and how many observations were
compacted. The state's messages are never changed: compaction is a view, recomputed per step, so the
trace and the session keep every observation in full.

Messages marked ``hidden_from_model`` (the graph's own stop sentences, see ``nodes._reply_update``)
are left out of every prompt.

Policy, in order, until the prompt fits ``budget`` tokens (``count(text)`` per message + 4 for the
chat template's framing):
1. every observation longer than ``max_chars`` is cut to that length, with a note of what was cut;
2. old observations, oldest first, except the last ``keep``, are replaced by a one-line placeholder
   ``Tool result of get_order_details: [result for #W0000001 omitted to fit the context: 1,234 chars]``;
3. then the kept ones too, except the most recent.
Compaction goes in chunks of about ``budget // 3`` tokens saved: the compacted observations end only
where the savings of compacting oldest-first cross a multiple of the chunk. Those ends depend on the
old observations alone, so the compacted prefix stays the same for several steps while the
conversation grows, and the backend's prompt-prefix cache stays valid (compacting one more
observation per step would change an early message every step and re-read the whole prompt).
If it still does not fit, the messages go out as they are and the backend's ``fit_messages`` drops
the oldest turns (reported in ``Completion.dropped_messages``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agentspec.decoding.prompt import observation_message
from agentspec.decoding.steps import ToolCall
from agentspec.runtime.base import Message

__all__ = ["FRAMING_TOKENS", "build_prompt", "observation_with_meta", "placeholder"]

FRAMING_TOKENS = 4  # role markers and separators a chat template adds around each message


def observation_with_meta(call: dict[str, Any], observation: str) -> Message:
    """``observation_message`` plus the ``meta`` compaction needs."""
    message = observation_message(ToolCall(name=call["name"], arguments=call["arguments"]), observation)
    return {**message, "meta": {"tool": call["name"], "arguments": call["arguments"], "chars": len(observation)}}


def placeholder(meta: dict[str, Any]) -> Message:
    """The one-line stand-in of a compacted observation (still names the tool and its main argument)."""
    args = meta.get("arguments") or {}
    first = next((v for v in args.values() if isinstance(v, str)), None)
    about = f" for {first}" if first and len(first) <= 40 else ""
    note = f"[result{about} omitted to fit the context: {meta['chars']:,} chars]"
    return observation_message(ToolCall(name=meta["tool"], arguments=args), note)


def _cut(message: Message, max_chars: int) -> Message:
    meta = message["meta"]
    content = message["content"]
    if meta["chars"] <= max_chars:
        return message
    # The prefix ("Tool result of <tool>: ") is kept whole; only the observation is cut.
    head = len(content) - meta["chars"]
    kept = content[: head + max_chars]
    return {**message, "content": f"{kept} ... [cut: {meta['chars'] - max_chars:,} more chars]"}


def build_prompt(
    system: str | None,
    messages: Sequence[Message],
    count: Callable[[str], int],
    budget: int,
    *,
    keep: int = 3,
    max_chars: int = 4000,
) -> tuple[list[Message], int]:
    """The prompt for one step within ``budget`` tokens where possible; see the module docstring."""
    body = [_cut(m, max_chars) if "meta" in m else m for m in messages if not m.get("hidden_from_model")]
    head = [{"role": "system", "content": system}] if system else []

    def total() -> int:
        return sum(count(m["content"] or "") + FRAMING_TOKENS for m in head + body)

    observed = [i for i, m in enumerate(body) if "meta" in m]
    chunk = max(1, budget // 3)
    compacted = 0
    # Steps 2 and 3: first everything but the last `keep`, then everything but the last one.
    for protect in (keep, 1):
        excess = total() - budget
        if excess <= 0:
            break
        candidates = [i for i in observed[: max(0, len(observed) - protect)] if not body[i].get("compacted")]
        stand_ins = {i: {**placeholder(body[i]["meta"]), "meta": body[i]["meta"], "compacted": True}
                     for i in candidates}
        savings = [count(body[i]["content"] or "") - count(stand_ins[i]["content"]) for i in candidates]
        for i in candidates[: _chunked_count(savings, excess, chunk)]:
            body[i] = stand_ins[i]
            compacted += 1
    clean = [{"role": m["role"], "content": m["content"]} for m in head + body]
    return clean, compacted


def _chunked_count(savings: Sequence[int], excess: int, chunk: int) -> int:
    """How many leading observations to compact: enough to save ``excess`` tokens, rounded up to the
    next place where the running savings cross a multiple of ``chunk`` (or all of them)."""
    saved = 0
    enough = False
    for n, gain in enumerate(savings, start=1):
        crossed = (saved + gain) // chunk > saved // chunk
        saved += gain
        enough = enough or saved >= excess
        if enough and crossed:
            return n
    return len(savings)
