"""Run a decided step's tool calls, ground their results, and a small decide-act loop.

The three outcomes of DESIGN.md section 5.7 stay apart, and each is visible in the trace:

- a malformed step is retried by the decoder (``StepRecord.decided.errors`` lists the reasons of
  the failed attempts); when every attempt failed the loop stops with a ``"malformed"`` record;
- a tool that fails (``ToolError`` or a declared user error) or gets arguments its schema rejects
  becomes an error observation the model sees (``CallRecord.outcome`` ``"tool_error"`` /
  ``"invalid_arguments"``) and the loop continues;
- any other exception is our bug (or the toolkit's): a ``"bug"`` record is appended to the trace
  (with the calls that completed before it) and the exception propagates unchanged.

Grounding: the observation of every successful call is fed to ``Grounding.observe_text``, so ids
returned by tools become usable in the next step. Error observations are not (an id quoted in
"order #W1 not found" was not shown to exist). ``run_tool_loop`` also observes the user messages
it is given.

``run_tool_loop`` is deliberately small: for one-shot suites (BFCL-like) and tests. The agent's own
loop (policy guard, memory, checkpoints) lives in ``agentspec.graph``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentspec.decoding.engine import DecodedStep, StepDecoder
from agentspec.decoding.grounding import Grounding
from agentspec.decoding.prompt import observation_message, step_message
from agentspec.decoding.steps import Step, ToolCall
from agentspec.runtime.base import Message
from agentspec.toolkit import OutcomeKind, Tool, ToolRegistry

__all__ = ["CallRecord", "LoopResult", "StepRecord", "execute_step", "run_tool_loop"]

StepKind = Literal["reply", "calls", "malformed", "bug"]


@dataclass(frozen=True)
class CallRecord:
    """One executed call: its outcome kind, the observation the model sees, ids it grounded."""

    call: ToolCall
    outcome: OutcomeKind  # "ok" | "tool_error" | "invalid_arguments"
    observation: str
    grounded: tuple[tuple[str, str], ...] = ()  # (kind, value) pairs new to the grounding


@dataclass
class StepRecord:
    """One step of ``run_tool_loop``'s trace."""

    index: int
    kind: StepKind
    decided: DecodedStep
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None  # "bug": the exception, as ``Type: message``

    @property
    def retried(self) -> list[str]:
        """Reasons of the malformed attempts before this step's outcome (empty if first try)."""
        return list(self.decided.errors)


@dataclass
class LoopResult:
    messages: list[Message]  # the input messages + every step and observation
    trace: list[StepRecord]
    reply: str | None  # the final reply, if the loop ended with one
    stopped: Literal["reply", "max_steps", "malformed"]


def execute_step(
    step: Step, registry: ToolRegistry, grounding: Grounding | None, *, records: list[CallRecord] | None = None
) -> list[CallRecord]:
    """Run ``step``'s calls in order through ``registry.call``; a reply step runs nothing.

    ``records`` (optional) receives each record as it completes, so a caller still has the calls
    made before a bug raised.
    """
    out = records if records is not None else []
    for call in step.calls:
        outcome = registry.call(call.name, call.arguments)  # our bugs propagate from here
        new: set[tuple[str, str]] = set()
        if grounding is not None and outcome.kind == "ok":
            new = grounding.observe_text(outcome.observation)
        out.append(CallRecord(call, outcome.kind, outcome.observation, tuple(sorted(new))))
    return out


def run_tool_loop(
    decoder: StepDecoder,
    registry: ToolRegistry,
    messages: list[Message],
    grounding: Grounding | None,
    max_steps: int = 8,
    *,
    tools: Sequence[Tool] | None = None,
    trace: list[StepRecord] | None = None,
    **decide_options: Any,
) -> LoopResult:
    """Decide and act until a reply, a step that stays malformed, or ``max_steps`` steps.

    ``tools`` defaults to every tool of ``registry``; ``decide_options`` go to ``decoder.decide``
    (``require_tool``, ``parallel``, ``settings``, ...). Pass ``trace`` to keep the records even
    when a bug raises.
    """
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    tools = list(registry.tools if tools is None else tools)
    trace = trace if trace is not None else []
    convo = list(messages)
    if grounding is not None:
        for message in convo:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                grounding.observe_text(message["content"])
    for index in range(max_steps):
        decided = decoder.decide(convo, tools, grounding, **decide_options)
        if decided.step is None:
            trace.append(StepRecord(index, "malformed", decided))
            return LoopResult(convo, trace, None, "malformed")
        convo.append(step_message(decided.step))
        if decided.step.reply is not None:
            trace.append(StepRecord(index, "reply", decided))
            return LoopResult(convo, trace, decided.step.reply.text, "reply")
        record = StepRecord(index, "calls", decided)
        trace.append(record)
        try:
            execute_step(decided.step, registry, grounding, records=record.calls)
        except Exception as exc:
            record.kind = "bug"
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        convo.extend(observation_message(r.call, r.observation) for r in record.calls)
    return LoopResult(convo, trace, None, "max_steps")
