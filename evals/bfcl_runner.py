"""Run a model on BFCL cases through agentspec's step decoder, and score with the AST checker.

One step per case: the BFCL functions become ``Tool``s (``Tool.from_openai`` of
``bfcl_functions_to_json_schema``), the system prompt is ``tools_prompt`` (appended to the case's
own system message, if any), and ``StepDecoder.decide`` decodes one step. ``steps`` sets the flags:

- ``category`` (the default): the flags follow the category, as BFCL expects the answer:
  ``simple`` / ``multiple`` (live or not): exactly one call (``require_tool=True, parallel=False``);
  ``parallel*``: one or more calls (``require_tool=True, parallel=True``); ``irrelevance`` /
  ``relevance``: a reply is allowed (declining is the right answer in the first).
- ``free``: the same flags for every case (a reply or any number of calls), so the model itself
  decides whether to call and how many calls to make, as a deployed agent must.

A reply step is the prediction "no call" (``calls=[]``); a step that stayed malformed after every
attempt is a parse error. A case that cannot be decoded at all (its functions do not become tools, its
grammar does not compile) is recorded with ``malformed`` (the reason) and the run goes on: it counts
as a ``malformed_case`` error, as do the cases the loader skipped (``skipped``). Predictions are
appended to ``--out`` as JSON lines while running, so an interrupted run resumes where it stopped
(cases already in the file are not decoded again).
No identifier grounding: BFCL functions carry no identifier annotations.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentspec.decoding import StepDecoder, tools_prompt
from agentspec.errors import EmptyGrammarError, GrammarCompileError, ToolDefinitionError
from agentspec.runtime.base import ChatModel, GenerationSettings, Message
from agentspec.toolkit import Tool

from .bfcl import BfclCase, BfclFormatError, bfcl_functions_to_json_schema, score

# What a malformed case raises while it is decoded: it is recorded, the run goes on.
_CASE_ERRORS = (BfclFormatError, ToolDefinitionError, GrammarCompileError, EmptyGrammarError)

__all__ = ["DEFAULT_SETTINGS", "STEPS", "case_flags", "case_messages", "case_tools", "predict", "run_bfcl",
           "step_flags"]

STEPS = ("category", "free")

# Greedy, as leaderboards run; 256 tokens is far above the longest live-simple call.
DEFAULT_SETTINGS = GenerationSettings(max_tokens=256, temperature=0.0)


def case_tools(case: BfclCase) -> list[Tool]:
    return [Tool.from_openai(bfcl_functions_to_json_schema(f)) for f in case.functions]


def case_flags(case: BfclCase) -> dict[str, Any]:
    """``decide`` flags for the case's category (see the module docstring)."""
    category = case.category
    if "relevance" in category:  # irrelevance and relevance
        return {"allow_reply": True, "require_tool": False, "parallel": "parallel" in category}
    return {"allow_reply": False, "require_tool": True, "parallel": "parallel" in category}


def step_flags(case: BfclCase, steps: str) -> dict[str, Any]:
    """``decide`` flags for ``steps`` (``STEPS``; see the module docstring)."""
    if steps == "free":
        return {"allow_reply": True, "require_tool": False, "parallel": True}
    if steps != "category":
        raise ValueError(f"unknown steps mode {steps!r}; use one of {STEPS}")
    return case_flags(case)


def case_messages(case: BfclCase, tools: Sequence[Tool], flags: dict[str, Any]) -> list[Message]:
    """The case's first-turn messages with the tools prompt in the system message."""
    instructions = tools_prompt(tools, allow_reply=flags["allow_reply"], require_tool=flags["require_tool"],
                                parallel=flags["parallel"])
    messages = [dict(m) for m in case.messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n\n{instructions}"
        return messages
    return [{"role": "system", "content": instructions}, *messages]


def predict(decoder: StepDecoder, case: BfclCase, settings: GenerationSettings, steps: str = "category") -> dict[str, Any]:
    """One BFCL prediction ``{"id", "calls", "parse_error", "attempts", "errors", "text"}``."""
    tools = case_tools(case)
    flags = step_flags(case, steps)
    decided = decoder.decide(case_messages(case, tools, flags), tools, None, settings=settings, **flags)
    if decided.step is None:
        calls, parse_error = None, decided.details[-1] if decided.details else "malformed"
    else:
        calls = [{"name": c.name, "arguments": dict(c.arguments)} for c in decided.step.calls]
        parse_error = None
    return {"id": case.id, "calls": calls, "parse_error": parse_error, "attempts": decided.attempts,
            "errors": decided.errors, "constrained": decided.constrained, "text": decided.text}


def run_bfcl(
    cases: Sequence[BfclCase],
    model: ChatModel,
    *,
    mode: str = "auto",
    max_attempts: int = 3,
    settings: GenerationSettings = DEFAULT_SETTINGS,
    out: Path | None = None,
    on_case: Callable[[dict[str, Any]], None] | None = None,
    skipped: Sequence[dict[str, Any]] = (),
    steps: str = "category",
) -> dict[str, Any]:
    """Predict every case (resuming from ``out``), score, and return the report.

    The report is ``evals.bfcl.score``'s (``n``, ``accuracy``, ``valid_rate``, ``errors``,
    ``per_case``, ``malformed_cases``) plus ``mode``, ``constrained``, ``retried`` (cases that needed
    more than one attempt) and ``malformed_attempts`` (reason -> count over all attempts). ``skipped``:
    the cases ``load_bfcl`` left out, scored as malformed.
    """
    decoder = StepDecoder(model, mode=mode, max_attempts=max_attempts)  # type: ignore[arg-type]
    done: dict[str, dict[str, Any]] = {}
    if out is not None and out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["id"]] = row
    handle = out.open("a", encoding="utf-8") if out is not None else None
    predictions = []
    try:
        for case in cases:
            row = done.get(case.id)
            if row is None:
                try:
                    row = predict(decoder, case, settings, steps)
                except _CASE_ERRORS as exc:
                    row = {"id": case.id, "calls": None, "parse_error": None, "malformed": exc.message,
                           "attempts": 0, "errors": [], "constrained": None, "text": ""}
                if handle is not None:
                    handle.write(json.dumps(row) + "\n")
                    handle.flush()
            predictions.append(row)
            if on_case is not None:
                on_case(row)
    finally:
        if handle is not None:
            handle.close()
    report = score(cases, [{"id": p["id"], "calls": p["calls"], "parse_error": p["parse_error"],
                            "malformed": p.get("malformed")} for p in predictions], skipped=skipped)
    reasons: dict[str, int] = {}
    for p in predictions:
        for reason in p["errors"]:
            reasons[reason] = reasons.get(reason, 0) + 1
    report.update({
        "mode": decoder.strategy,
        "constrained": decoder.constrained,
        "retried": sum(p["attempts"] > 1 for p in predictions),
        "malformed_attempts": reasons,
        "steps": steps,
    })
    return report
