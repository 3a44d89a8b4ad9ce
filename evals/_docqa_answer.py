"""Asking a model the docqa questions, with or without retrieved passages; resumable, one JSON line each.

Contract:
- ``load_answer_model(spec, threads=None, n_ctx=4096)``: the model of an agent spec (its model file and
  LoRA adapters, the first adapter active, as the agent runs), with ``threads`` and ``n_ctx`` overriding
  the spec's. The spec's prompts and graph are not used: every arm gets the same QA prompt.
- ``messages(question, passages)``: a system prompt asking for one short sentence, followed (with
  retrieval) by the passages with their source (``format_passages``), then the question.
- ``answer_arm(model, arm, questions, results, index=None, k=3, on_answer=None)``: asks each question
  greedily (at most ``MAX_TOKENS`` tokens) and appends one row per question to the JSON-lines file
  ``results`` (``arm``, ``id``, ``kind``, ``answer``, ``correct``, ``seconds``, ``prompt_tokens``,
  ``retrieved``) as soon as it is answered. Rows already there for that arm are reused, not asked
  again: an interrupted run resumes. A torn last line (a kill mid-write) is ignored.
- ``summarize(rows)``: accuracy with its Wilson 95% interval, mean seconds per question, per kind.
  ``paired_difference(a, b)``: accuracy of b - a on their common questions, with a paired bootstrap
  95% interval (2000 resamples, seed 0).

Not here: the questions and the scoring rule (``docqa``), reports (``_docqa_run``).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentspec.memory.documents import DocumentIndex, Passage, format_passages
from agentspec.runtime.base import GenerationSettings

from .docqa import KINDS, Question, is_correct, wilson

__all__ = ["MAX_TOKENS", "SYSTEM", "load_answer_model", "messages", "answer_arm", "read_rows", "summarize",
           "paired_difference"]

MAX_TOKENS = 48
SYSTEM = "You are the customer-service assistant of an online shop. Answer the customer's question in one short sentence."
_WITH_PASSAGES = "Answer from these passages of the shop's documents:\n\n{passages}"


def load_answer_model(spec: str, threads: int | None = None, n_ctx: int = 4096) -> Any:
    """The spec's model (and adapters) with ``threads`` and ``n_ctx`` instead of the spec's."""
    from agentspec.spec import load_model, load_spec

    agent = load_spec(spec)
    agent.model.n_ctx = n_ctx
    if threads:
        agent.model.threads = threads
    return load_model(agent)


def messages(question: str, passages: Sequence[Passage] = ()) -> list[dict[str, str]]:
    system = SYSTEM if not passages else f"{SYSTEM}\n\n{_WITH_PASSAGES.format(passages=format_passages(passages))}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def read_rows(results: Path, arm: str | None = None) -> list[dict[str, Any]]:
    """The rows of ``results`` (of ``arm`` only, if given); a torn last line is skipped."""
    if not results.is_file():
        return []
    rows = []
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if arm is None or row.get("arm") == arm:
            rows.append(row)
    return rows


def _append(results: Path, row: dict[str, Any]) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if results.is_file() and results.stat().st_size:
        with results.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with results.open("a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(row) + "\n")  # after a torn line: start a fresh one
        f.flush()
        os.fsync(f.fileno())


def answer_arm(model: Any, arm: str, questions: Sequence[Question], results: Path, *,
               index: DocumentIndex | None = None, k: int = 3,
               on_answer: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Rows of ``arm`` for ``questions`` (in order): reused from ``results`` or asked now and appended."""
    done = {row["id"]: row for row in read_rows(results, arm)}
    settings = GenerationSettings(max_tokens=MAX_TOKENS, temperature=0.0)
    rows = []
    for q in questions:
        row = done.get(q.id)
        if row is None:
            passages = index.search(q.text, k=k) if index is not None else []
            started = time.perf_counter()
            completion = model.complete(messages(q.text, passages), settings)
            seconds = time.perf_counter() - started
            row = {"arm": arm, "id": q.id, "kind": q.kind, "split": q.split, "question": q.text,
                   "answer": completion.text.strip(), "correct": is_correct(q, completion.text),
                   "seconds": round(seconds, 3), "prompt_tokens": completion.usage.prompt_tokens,
                   "retrieved": [p.source for p in passages], "gold_retrieved": any(p.source in q.sources for p in passages)}
            _append(results, row)
        rows.append(row)
        if on_answer:
            on_answer(row)
    return rows


def _accuracy(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n, correct = len(rows), sum(bool(r["correct"]) for r in rows)
    return {"n": n, "correct": correct, "accuracy": round(correct / n, 4) if n else None, "ci": wilson(correct, n)}


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy (Wilson 95% CI), seconds and prompt tokens per question, and accuracy per kind."""
    seconds = [r["seconds"] for r in rows]
    return {**_accuracy(rows),
            "seconds_per_question": round(sum(seconds) / len(seconds), 3) if seconds else None,
            "prompt_tokens_per_question": round(sum(r["prompt_tokens"] for r in rows) / len(rows), 1) if rows else None,
            "by_kind": {kind: _accuracy([r for r in rows if r["kind"] == kind]) for kind in KINDS
                        if any(r["kind"] == kind for r in rows)}}


def paired_difference(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], resamples: int = 2000) -> dict[str, Any]:
    """Accuracy of b - a on the questions both answered, with a paired bootstrap 95% interval."""
    import numpy as np

    right_a = {r["id"]: bool(r["correct"]) for r in a}
    common = [r["id"] for r in b if r["id"] in right_a]
    right_b = {r["id"]: bool(r["correct"]) for r in b}
    if not common:
        return {"n": 0, "diff": None, "ci": None}
    d = np.array([int(right_b[i]) - int(right_a[i]) for i in common], dtype=float)
    means = d[np.random.default_rng(0).integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    return {"n": len(common), "diff": round(float(d.mean()), 4),
            "ci": [round(float(np.quantile(means, 0.025)), 4), round(float(np.quantile(means, 0.975)), 4)]}
