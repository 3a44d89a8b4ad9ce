"""How tools, steps and tool results are shown to the model, as chat messages.

The step format the model reads in its system prompt is the one it writes (``Step.to_text``) and
the one the grammar enforces: ``{"reply": "..."}`` or ``{"calls": [{"name": ..., "arguments":
{...}}]}`` with ``json.dumps`` spacing. Training data built from these three functions therefore
agrees token for token with what the agent sees and produces at inference.

- ``tools_prompt(tools, style=...)``: the tool list followed by the step-format instructions. Put
  it in (or after) the system prompt. Two listings:
  - ``"json"`` (``tool_listing``): one JSON object per tool, OpenAI function shape, internal ``x-``
    keys and pydantic ``title`` noise removed. Complete, and long: the 16 retail tools take ~3,000
    tokens, most of it argument descriptions.
  - ``"signatures"`` (``tool_signatures``): one line per tool, ``name(arg: type, ...): summary``,
    with enums as ``"a" | "b"`` and optional arguments as ``arg?: type``; the summary is the
    description's first paragraph. About a fifth of the tokens. Enough for a constrained model: the
    grammar, not the prompt, enforces names, types, required keys and grounded identifiers.
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

__all__ = ["OBSERVATION_PREFIX", "TOOL_STYLES", "observation_message", "step_message", "tool_listing",
           "tool_signatures", "tools_prompt"]

OBSERVATION_PREFIX = "Tool result of"
TOOL_STYLES = ("json", "signatures")


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


_JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "null",
               "object": "dict", "array": "list"}


def type_expression(schema: Any) -> str:
    """A short Python-like type for a JSON schema: ``str``, ``list[int]``, ``"a" | "b"``, ``{x: int}``."""
    if not isinstance(schema, dict) or not schema:
        return "any"
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(type_expression(s) for s in schema[key]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_JSON_TYPES.get(k, str(k)) for k in kind)
    if kind == "array":
        return f"list[{type_expression(schema.get('items', {}))}]"
    if kind == "object" and schema.get("properties"):
        return "{" + _arguments(schema) + "}"
    return _JSON_TYPES.get(kind, "any")


def _arguments(schema: dict[str, Any]) -> str:
    required = schema.get("required", [])
    required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    parts = []
    for name, sub in schema.get("properties", {}).items():
        mark = "" if name in required else "?"
        parts.append(f"{name}{mark}: {type_expression(sub)}")
    return ", ".join(parts)


def _summary(description: str) -> str:
    """The first paragraph of a description, on one line."""
    first = description.strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def tool_signatures(tools: Sequence[Tool]) -> str:
    """One line per tool: ``- name(arg: type, opt?: type): summary``."""
    lines = []
    for tool in tools:
        line = f"- {tool.name}({_arguments(tool.parameters)})"
        summary = _summary(tool.description)
        lines.append(f"{line}: {summary}" if summary else line)
    return "\n".join(lines)


def tools_prompt(
    tools: Sequence[Tool], *, allow_reply: bool = True, require_tool: bool = False, parallel: bool = True,
    style: str = "json",
) -> str:
    """The tool list and the step-format instructions for a system prompt.

    The flags mirror ``StepDecoder.decide``'s, so the instructions never offer a branch the grammar
    forbids (a model told it may reply, then forced to call, writes worse arguments).
    """
    reply_ok = allow_reply and not require_tool
    call_form = '{"calls": [{"name": "<tool name>", "arguments": {"<argument>": <value>}}]}'
    if style not in TOOL_STYLES:
        raise ValueError(f"unknown tool listing style {style!r}; expected one of {TOOL_STYLES}")
    listing = tool_listing(tools) if style == "json" else tool_signatures(tools)
    lines = ["You can call these tools:", listing, ""]
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
