"""How tools, steps and tool results are shown to the model, as chat messages.

The step format the model reads in its system prompt is the one it writes (``Step.to_text``) and
the one the grammar enforces: ``{"reply": "..."}`` or ``{"calls": [{"name": ..., "arguments":
{...}}]}`` with ``json.dumps`` spacing. Training data built from these three functions therefore
agrees token for token with what the agent sees and produces at inference.

- ``tools_prompt(tools)``: the tool list (one JSON object per line, OpenAI function shape, internal
  ``x-`` keys and pydantic ``title`` noise removed) followed by the step-format instructions. Put
  it in (or after) the system prompt.
- ``step_message(step)``: the assistant message recording a decided step.
- ``observation_message(call, observation)``: a tool result, as a ``user`` message prefixed with
  the tool name. A ``user`` turn rather than a ``tool`` role because every chat template renders it
  (Gemma's and many small models' templates reject unknown roles) and OpenAI servers require a
  ``tool_call_id`` for ``tool`` messages, which the step format has no place for.

Not here: the agent's persona and policy text (prompts/ templates), message history policy.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentspec.decoding.steps import Step, ToolCall
from agentspec.runtime.base import Message
from agentspec.toolkit import Tool

__all__ = ["OBSERVATION_PREFIX", "observation_message", "step_message", "tool_listing", "tools_prompt"]

OBSERVATION_PREFIX = "Tool result of"


def _clean(schema: Any) -> Any:
    """Drop ``x-*`` extension keys and ``title`` (pydantic adds one per field; pure noise to a model)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key.startswith("x-") or (key == "title" and isinstance(value, str)):
                continue
            # A property literally named "title" is a dict entry under "properties": kept by recursion.
            out[key] = _clean(value)
        return out
    if isinstance(schema, list):
        return [_clean(item) for item in schema]
    return schema


def tool_listing(tools: Sequence[Tool]) -> str:
    """One compact JSON line per tool: ``{"name", "description", "parameters"}``."""
    lines = []
    for tool in tools:
        params = tool.parameters
        # "properties" may hold a parameter named "title": clean each property schema, not the names.
        cleaned: dict[str, Any] = {"type": params.get("type", "object")}
        cleaned["properties"] = {name: _clean(sub) for name, sub in params.get("properties", {}).items()}
        for key, value in params.items():
            if key not in cleaned and key not in ("title", "additionalProperties") and not key.startswith("x-"):
                cleaned[key] = _clean(value)
        entry = {"name": tool.name, "description": tool.description, "parameters": cleaned}
        lines.append(json.dumps(entry, ensure_ascii=False))
    return "\n".join(lines)


def tools_prompt(
    tools: Sequence[Tool], *, allow_reply: bool = True, require_tool: bool = False, parallel: bool = True
) -> str:
    """The tool list and the step-format instructions for a system prompt.

    The flags mirror ``StepDecoder.decide``'s, so the instructions never offer a branch the grammar
    forbids (a model told it may reply, then forced to call, writes worse arguments).
    """
    reply_ok = allow_reply and not require_tool
    call_form = '{"calls": [{"name": "<tool name>", "arguments": {"<argument>": <value>}}]}'
    lines = ["You can call these tools:", tool_listing(tools), ""]
    if reply_ok:
        lines += [
            "Answer with exactly one JSON object and nothing else, either",
            f"- a tool call: {call_form}",
            '- or a reply to the user: {"reply": "<your message>"}',
        ]
    else:
        lines += ["Answer with exactly one JSON object and nothing else, a tool call:", call_form]
    if parallel:
        lines.append("Several independent calls may go in the same \"calls\" list.")
    else:
        lines.append("Make exactly one call.")
    lines.append(
        "Give every required argument. Take argument values from the user's words and from earlier "
        "tool results; never invent an id."
    )
    return "\n".join(lines)


def step_message(step: Step) -> Message:
    """The assistant message recording ``step`` (content = ``step.to_text()``, the canonical form)."""
    return {"role": "assistant", "content": step.to_text()}


def observation_message(call: ToolCall, observation: str) -> Message:
    """How the result of ``call`` is shown to the model: ``Tool result of <name>: <observation>``."""
    return {"role": "user", "content": f"{OBSERVATION_PREFIX} {call.name}: {observation}"}
