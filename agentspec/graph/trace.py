"""Showing a session's trace: one row per model step, tool call, guard refusal or graph-made reply.

Contract: the entries are written by the nodes into ``state["trace"]`` (see ``nodes``/``guard``);
each has ``turn``, ``kind`` (decide | tool | guard | graph | route | request | grounding), ``outcome``
and ``output``; route (the expert) and request (what the user asked for) rows add ``scores``; grounding
rows (the bounds of the grounding dropped values of a message) add ``dropped`` (kind -> count); model steps
add ``prompt_tokens``, ``completion_tokens``, ``attempts``, ``errors``, ``constrained``,
``compacted``, ``tools_offered``; model steps and tool calls add ``latency_ms``; tool and guard rows
add ``calls``. ``trace_table`` renders them with rich; ``summarize`` totals them. Read-only.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.table import Table

__all__ = ["summarize", "trace_table"]


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _what(entry: dict[str, Any]) -> str:
    if entry.get("kind") in ("tool", "guard") and entry.get("calls"):
        call = entry["calls"][0]
        args = json.dumps(call["arguments"], ensure_ascii=False)
        return f"{call['name']}({args[1:-1]}) → {entry.get('output', '')}"
    if entry.get("kind") == "request":
        scores = ", ".join(f"{k} {v:.2f}" for k, v in entry.get("scores", {}).items())
        return f"asked: {', '.join(entry.get('output') or []) or '-'}; so far: {', '.join(entry.get('requests') or []) or '-'} ({scores})"
    return str(entry.get("output", ""))


def trace_table(entries: Iterable[dict[str, Any]], *, title: str | None = None, width: int = 70) -> Table:
    table = Table("turn", "kind", "prompt tok", "out tok", "step / call → observation", "outcome", "ms",
                  title=title, show_lines=False)
    for e in entries:
        outcome = str(e.get("outcome", ""))
        if e.get("attempts", 1) > 1:
            outcome += f" ({e['attempts']} attempts: {', '.join(e.get('errors', []))})"
        if e.get("compacted"):
            outcome += f" [{e['compacted']} obs compacted]"
        table.add_row(str(e.get("turn", "")), str(e.get("kind", "")),
                      str(e.get("prompt_tokens", "")), str(e.get("completion_tokens", "")),
                      _short(_what(e), width), outcome,
                      f"{e['latency_ms']:.0f}" if "latency_ms" in e else "")
    return table


def summarize(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals over entries: model steps, malformed attempts, tokens, tool calls, refusals, time."""
    out = {"model_steps": 0, "attempts": 0, "malformed_attempts": 0, "prompt_tokens": 0, "completion_tokens": 0,
           "tool_calls": 0, "tool_errors": 0, "refused": 0, "model_ms": 0.0, "tool_ms": 0.0}
    for e in entries:
        if e.get("kind") == "decide":
            out["model_steps"] += 1
            out["attempts"] += e.get("attempts", 1)
            out["malformed_attempts"] += len(e.get("errors", []))
            out["prompt_tokens"] += e.get("prompt_tokens", 0)
            out["completion_tokens"] += e.get("completion_tokens", 0)
            out["model_ms"] += e.get("latency_ms", 0.0)
        elif e.get("kind") == "tool":
            out["tool_calls"] += 1
            out["tool_errors"] += e.get("outcome") != "ok"
            out["tool_ms"] += e.get("latency_ms", 0.0)
        elif e.get("kind") == "guard":
            out["refused"] += 1
    return out
