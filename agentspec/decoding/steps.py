"""Parsing one model step: text in the step format -> ``Step``, or ``MalformedStepError``.

Used to check unconstrained output (a backend that cannot decode under a grammar, an OpenAI
endpoint) with the same rules the grammar enforces, plus the ones it enforces only by construction:

1. the text is JSON (``not_json``);
2. it is ``{"reply": "<non-empty text>"}`` or ``{"calls": [{"name": ..., "arguments": {...}}, ...]}``
   with no other keys (``bad_shape``); a reply where a call is required is ``reply_not_allowed``,
   more than ``max_calls`` calls is ``too_many_calls``;
3. every name is one of ``tools`` (``unknown_tool``);
4. the arguments validate against that tool's schema (``invalid_arguments``);
5. no identifier argument takes a value its schema excludes (``excluded_identifier``, see
   ``schema.without_values``);
6. every identifier argument was seen in the conversation (``ungrounded_identifier``), unless
   ``grounding`` is None.

It does not call tools. ``Step.to_text()`` renders the canonical form (``json.dumps`` separators,
non-ASCII kept as is, arguments in signature order) that training data uses token for token.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from agentspec.decoding.grounding import Grounding
from agentspec.decoding.schema import EXCLUDED_KEY
from agentspec.errors import MalformedStepError, ToolArgumentError
from agentspec.toolkit import Tool
from agentspec.tools.types import GROUNDED_KEY

__all__ = ["Reply", "Step", "ToolCall", "parse_step"]


class Reply(BaseModel):
    """A message to the user; ends the agent's turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str


class ToolCall(BaseModel):
    """One tool call as the model wrote it (arguments are raw JSON values, in signature order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    arguments: dict[str, Any]


class Step(BaseModel):
    """Exactly one of: a reply, or one or more tool calls."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    reply: Reply | None = None
    calls: tuple[ToolCall, ...] = ()

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        if (self.reply is None) == (not self.calls):
            raise ValueError("a step is either a reply or a non-empty list of calls")
        return self

    @property
    def is_reply(self) -> bool:
        return self.reply is not None

    def to_text(self) -> str:
        """The canonical text of this step in the step format."""
        if self.reply is not None:
            return json.dumps({"reply": self.reply.text}, ensure_ascii=False)
        calls = [{"name": c.name, "arguments": c.arguments} for c in self.calls]
        return json.dumps({"calls": calls}, ensure_ascii=False)


def parse_step(
    text: str,
    tools: Iterable[Tool],
    grounding: Grounding | None = None,
    *,
    allow_reply: bool = True,
    require_tool: bool = False,
    max_calls: int | None = None,
) -> Step:
    """Parse and check one step (see the module docstring for the rules, in order)."""
    by_name = {tool.name: tool for tool in tools}

    def fail(reason: str, detail: str) -> MalformedStepError:
        return MalformedStepError(reason, detail, text=text)

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise fail("not_json", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) not in ({"reply"}, {"calls"}):
        raise fail("bad_shape", 'expected {"reply": "..."} or {"calls": [{"name": ..., "arguments": {...}}]}')
    if "reply" in data:
        if not isinstance(data["reply"], str) or not data["reply"]:
            raise fail("bad_shape", '"reply" must be a non-empty string')
        if require_tool or not allow_reply:
            raise fail("reply_not_allowed", "this step must call a tool")
        return Step(reply=Reply(text=data["reply"]))
    raw_calls = data["calls"]
    if not isinstance(raw_calls, list) or not raw_calls:
        raise fail("bad_shape", '"calls" must be a non-empty list')
    if max_calls is not None and len(raw_calls) > max_calls:
        raise fail("too_many_calls", f"{len(raw_calls)} calls, at most {max_calls} allowed")
    calls = []
    for raw in raw_calls:
        if (
            not isinstance(raw, dict)
            or set(raw) != {"name", "arguments"}
            or not isinstance(raw["name"], str)
            or not isinstance(raw["arguments"], dict)
        ):
            raise fail("bad_shape", 'each call must be {"name": "<tool>", "arguments": {...}}')
        tool = by_name.get(raw["name"])
        if tool is None:
            raise fail("unknown_tool", f"no tool named {raw['name']!r}; known: {', '.join(by_name) or '(none)'}")
        arguments = raw["arguments"]
        try:
            tool.validate(arguments)
        except ToolArgumentError as exc:
            raise fail("invalid_arguments", exc.message) from None
        for name, schema in tool.parameters.get("properties", {}).items():
            # The function's own validation knows its full enum; the graph may have narrowed it
            # (``with_choices``), which a grammar enforces and this check does without one.
            if isinstance(schema, dict) and isinstance(schema.get("enum"), list) and name in arguments \
                    and arguments[name] not in schema["enum"]:
                raise fail("invalid_arguments", f"{raw['name']}.{name}={arguments[name]!r} is not one of "
                           f"{schema['enum']} here")
        for path, kind, value, excluded in _identifiers(tool.parameters, arguments, ""):
            if value in excluded:
                raise fail("excluded_identifier",
                           f"{raw['name']}.{path}={value!r} is excluded here: it was already looked up in this "
                           "turn (use its result), or the user named another one for this write")
            if grounding is not None and (kind, value) not in grounding:
                raise fail("ungrounded_identifier",
                           f"{raw['name']}.{path}={value!r} is not a {kind} id seen in the conversation")
        order = list(tool.parameters.get("properties", {}))
        ordered = {k: arguments[k] for k in order if k in arguments}
        calls.append(ToolCall(name=tool.name, arguments=ordered))
    return Step(calls=tuple(calls))


def _identifiers(schema: Any, value: Any, path: str) -> Iterator[tuple[str, str, str, list[str]]]:
    """Yield (path, kind, value, excluded values) for each string of ``value`` that ``schema`` marks grounded."""
    if not isinstance(schema, dict):
        return
    kind = schema.get(GROUNDED_KEY)
    if isinstance(kind, str) and isinstance(value, str):
        yield path, kind, value, schema.get(EXCLUDED_KEY, [])
        return
    for branch in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:  # either may be absent
        yield from _identifiers(branch, value, path)
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _identifiers(sub, value[name], f"{path}.{name}" if path else name)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _identifiers(schema["items"], item, f"{path}[{i}]")
