"""The grammar of one agent step, as a JSON schema (a grammar backend such as outlines compiles it).

Step format, token for token what training data uses (``Step.to_text`` renders it):

    {"reply": "<text>"}
    {"calls": [{"name": "<tool>", "arguments": {...}}, ...]}

``step_schema`` builds ``anyOf[reply object, calls object]``. Each call is ``anyOf`` over the tools
of ``{"name": {"const": tool}, "arguments": <the tool's parameters>}``; every object is closed
(``additionalProperties: false``) and key order is stable (``name`` before ``arguments``; arguments
in signature order), because a JSON-schema grammar fixes key order.

Grounding: a property marked ``x-grounded: <kind>`` becomes ``{"type": "string", "enum": [seen
values]}`` (also as list items and optional branches), less the values listed under ``x-excluded``
(``without_values``). A required one with no seen value cannot be satisfied, so its tool is left out
of the grammar; an optional one without values is dropped from
the properties. If no tool remains, the calls branch is omitted; if a call is required and no tool
remains, ``EmptyGrammarError`` is raised.

Bounds for regex-compiling backends: at most ``max_calls`` calls (1 when ``parallel=False``), and a
reply of 1 to ``max_reply_chars`` characters. A free-text argument string (no enum, const, pattern
or bound of its own) gets ``maxLength: MAX_ARGUMENT_CHARS``: without a bound a small model can loop
inside a string until ``max_tokens`` cuts the step off unparseable (11 of 60 BFCL live-simple cases
did); with it the grammar closes the string. The bound is the grammar's only: ``parse_step`` checks
arguments against the tool's own schema.

This module builds schemas only; it does not compile, cache (see ``cache``) or parse (see ``steps``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from agentspec.decoding.grounding import Grounding
from agentspec.errors import EmptyGrammarError
from agentspec.toolkit import Tool
from agentspec.tools.types import GROUNDED_KEY

__all__ = [
    "DEFAULT_MAX_CALLS",
    "DEFAULT_MAX_REPLY_CHARS",
    "EXCLUDED_KEY",
    "grounded_kinds",
    "grounded_parameters",
    "identifier_kind",
    "step_schema",
    "tools_fingerprint",
    "with_choices",
    "without_values",
]

DEFAULT_MAX_CALLS = 4
# Long enough for a customer-service answer listing a few orders; a bound keeps the reply's
# regex finite for backends that compile counted repetitions.
DEFAULT_MAX_REPLY_CHARS = 2000
# Longest free-text argument the grammar lets a model write (addresses, summaries, queries).
MAX_ARGUMENT_CHARS = 256
_STRING_BOUNDS = ("maxLength", "enum", "const", "pattern", "format")
# Next to GROUNDED_KEY: seen values the argument may not take now (``without_values``; the agent
# graph bars a lookup that already ran this turn). Prompts drop it like every ``x-`` key.
EXCLUDED_KEY = "x-excluded"


class _Unsatisfiable:
    """Marker: a sub-schema no value can satisfy (a grounded string with no seen values)."""


_UNSAT = _Unsatisfiable()


def step_schema(
    tools: Sequence[Tool],
    grounding: Grounding | None,
    *,
    allow_reply: bool = True,
    require_tool: bool = False,
    parallel: bool = True,
    max_calls: int = DEFAULT_MAX_CALLS,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> dict[str, Any]:
    """The JSON schema of one step; ``grounding=None`` leaves identifiers unconstrained strings.

    Raises ``EmptyGrammarError`` when no branch remains (a tool is required, or replies are not
    allowed, and no tool can be called with the identifiers seen so far).
    """
    if max_calls < 1 or max_reply_chars < 1:
        raise ValueError("max_calls and max_reply_chars must be at least 1")
    branches: list[dict[str, Any]] = []
    if allow_reply and not require_tool:
        branches.append(_object({"reply": {"type": "string", "minLength": 1, "maxLength": max_reply_chars}}))
    calls = []
    for tool in tools:
        arguments = grounded_parameters(tool, grounding)
        if arguments is None:
            continue
        calls.append(_object({"name": {"type": "string", "const": tool.name}, "arguments": arguments}))
    if calls:
        item = calls[0] if len(calls) == 1 else {"anyOf": calls}
        array = {"type": "array", "items": item, "minItems": 1, "maxItems": max_calls if parallel else 1}
        branches.append(_object({"calls": array}))
    if not branches:
        needed = sorted({kind for tool in tools for kind in grounded_kinds([tool])})
        raise EmptyGrammarError(
            f"No tool can be called yet: each needs an identifier not seen in the conversation "
            f"(kinds: {', '.join(needed) or 'none'}), and a reply is not allowed.",
            hint="Allow a reply for this step (allow_reply=True, require_tool=False) so the agent "
            "can ask the user for the identifier, or add a tool that needs none.",
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def grounded_parameters(tool: Tool, grounding: Grounding | None) -> dict[str, Any] | None:
    """The tool's parameters with identifiers bound to seen values and objects closed; None if uncallable."""
    result = _ground(tool.parameters, grounding)
    return None if result is _UNSAT else result


def grounded_kinds(tools: Sequence[Tool]) -> set[str]:
    """The identifier kinds the tools' arguments use (restricts grounding snapshots in cache keys)."""
    kinds: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get(GROUNDED_KEY), str):
                kinds.add(node[GROUNDED_KEY])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for tool in tools:
        walk(tool.parameters)
    return kinds


def without_values(tool: Tool, argument: str, values: Sequence[str]) -> Tool:
    """A copy of ``tool`` whose grounded top-level ``argument`` (or each item of it, for a list of
    identifiers) may not take ``values``.

    The grammar leaves them out of the argument's enum (the tool drops out of the grammar when no
    value remains) and ``parse_step`` refuses them (``excluded_identifier``).
    """
    schema = tool.parameters["properties"][argument]
    if isinstance(schema.get(GROUNDED_KEY), str):
        excluded = sorted({*schema.get(EXCLUDED_KEY, ()), *values})
        bound = {**schema, EXCLUDED_KEY: excluded}
    elif isinstance(schema.get("items"), dict) and isinstance(schema["items"].get(GROUNDED_KEY), str):
        items = schema["items"]
        bound = {**schema, "items": {**items, EXCLUDED_KEY: sorted({*items.get(EXCLUDED_KEY, ()), *values})}}
    else:
        raise ValueError(f"{tool.name}.{argument} is not a grounded identifier or a list of them")
    properties = {**tool.parameters["properties"], argument: bound}
    return dataclasses.replace(tool, parameters={**tool.parameters, "properties": properties})


def with_choices(tool: Tool, argument: str, values: Sequence[str]) -> Tool:
    """A copy of ``tool`` whose top-level enumerated ``argument`` may take only ``values`` (a subset of its enum)."""
    schema = tool.parameters["properties"][argument]
    if not isinstance(schema.get("enum"), list):
        raise ValueError(f"{tool.name}.{argument} is not an enumerated argument")
    kept = [v for v in schema["enum"] if v in set(values)]
    if not kept:
        raise ValueError(f"{tool.name}.{argument}: none of {list(values)} is among its values {schema['enum']}")
    properties = {**tool.parameters["properties"], argument: {**schema, "enum": kept}}
    return dataclasses.replace(tool, parameters={**tool.parameters, "properties": properties})


def identifier_kind(schema: Any) -> str | None:
    """The identifier kind of a top-level argument's schema: its own, or its items' for a list of them."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get(GROUNDED_KEY)
    if isinstance(kind, str):
        return kind
    items = schema.get("items")
    kind = items.get(GROUNDED_KEY) if isinstance(items, dict) else None
    return kind if isinstance(kind, str) else None


def tools_fingerprint(tools: Sequence[Tool]) -> str:
    """Order-sensitive digest of a tool set (the grammar's anyOf follows the tools' order)."""
    return hashlib.sha256(json.dumps([t.fingerprint for t in tools]).encode()).hexdigest()


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _only_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if "anyOf" in schema:
        return all(_only_null(m) for m in schema["anyOf"])
    return schema.get("type") == "null"


def _ground(schema: Any, grounding: Grounding | None) -> Any:
    """Copy ``schema`` binding grounded strings to enums; return ``_UNSAT`` if nothing can satisfy it."""
    if not isinstance(schema, dict):
        return schema
    kind = schema.get(GROUNDED_KEY)
    if isinstance(kind, str) and grounding is not None:
        excluded = set(schema.get(EXCLUDED_KEY, ()))
        values = [v for v in grounding.values(kind) if v not in excluded]
        if not values:
            return _UNSAT
        bound = {"type": "string", "enum": list(values)}
        if "description" in schema:
            bound["description"] = schema["description"]
        return bound
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in (GROUNDED_KEY, EXCLUDED_KEY):
            continue  # grounding=None: a plain string
        if key == "properties":
            required = schema.get("required", ())
            required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
            props = {}
            for name, sub in value.items():
                grounded = _ground(sub, grounding)
                if grounded is _UNSAT:
                    if name in required:
                        return _UNSAT
                    continue  # optional identifier with no values: not offered
                if name not in required and _only_null(grounded) and not _only_null(sub):
                    continue  # Optional[identifier] reduced to null: offering it adds nothing
                props[name] = grounded
            out[key] = props
        elif key in {"anyOf", "oneOf"}:
            members = [m for m in (_ground(sub, grounding) for sub in value) if m is not _UNSAT]
            if not members:
                return _UNSAT
            out[key] = members
        elif key in {"items", "additionalProperties"} and isinstance(value, dict):
            # A list of identifiers none of which is known is useless even if empty is valid.
            grounded = _ground(value, grounding)
            if grounded is _UNSAT:
                return _UNSAT
            out[key] = grounded
        elif key in {"prefixItems", "allOf"}:
            members = [_ground(sub, grounding) for sub in value]
            if any(m is _UNSAT for m in members):
                return _UNSAT
            out[key] = members
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # the grammar must not let the model add keys
    if out.get("type") == "string" and not any(k in out for k in _STRING_BOUNDS):
        out["maxLength"] = MAX_ARGUMENT_CHARS  # see the module docstring: no runaway strings
    return out
