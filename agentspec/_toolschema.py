"""How a typed Python function, or a foreign schema, becomes a tool's JSON schema (private).

Contract:
- ``arguments_model(fn)`` builds a pydantic model of the function's parameters (``self``/``cls``
  excluded, defaults kept, per-argument descriptions from the Google-style ``Args:`` section).
- ``parameters_schema(model, hints)`` exports it as a self-contained JSON schema: ``$defs`` inlined
  (the step grammar embeds each tool's schema inside a larger one, where ``#/$defs`` would dangle),
  no ``title`` keys, and ``x-grounded: <kind>`` on every string that carries ``Identifier(kind)``,
  including inside list items, optionals and nested pydantic models.
- ``normalize_schema(schema)`` turns the dialects found in the wild (BFCL's ``"type": "dict"``,
  ``"float"``, ``"tuple"``, ``"any"``, a per-property boolean ``required``) into standard JSON schema;
  on a standard schema it is the identity, so ``from_openai(to_openai(t)) == t``. A ``required`` that
  is not a list of names raises ``ToolDefinitionError``.

It does not validate arguments or call anything; ``agentspec.toolkit`` does.
"""
from __future__ import annotations

import copy
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model

from agentspec.errors import ToolDefinitionError
from agentspec.tools.types import GROUNDED_KEY, Identifier

__all__ = ["parse_docstring", "arguments_model", "parameters_schema", "normalize_schema"]

_SECTIONS = {
    "args", "arguments", "parameters", "params", "returns", "return", "yields", "raises",
    "example", "examples", "note", "notes", "attributes", "see also", "warning", "warnings",
}
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return (description, {argument: description}) from a Google-style docstring.

    The description is all text before the first section header, paragraphs kept apart by a blank
    line and lines inside a paragraph joined by spaces (a tool's policy notes often follow the
    summary, and the model needs them).
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    intro: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    base_indent: int | None = None
    for line in lines:
        stripped = line.strip()
        header = stripped[:-1].lower() if stripped.endswith(":") else None
        if header in _SECTIONS and not line.startswith(" "):
            section, current, base_indent = header, None, None
            continue
        if section is None:
            intro.append(stripped)
            continue
        if section not in {"args", "arguments", "parameters", "params"} or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if base_indent is None:
            base_indent = indent
        match = _ARG_LINE.match(stripped) if indent <= base_indent else None
        if match:
            current = match.group(1)
            args[current] = match.group(2).strip()
        elif current is not None:  # continuation line of the current argument
            args[current] = f"{args[current]} {stripped}".strip()
    paragraphs = " ".join(line if line else "\n\n" for line in intro)
    description = "\n\n".join(p.strip() for p in paragraphs.split("\n\n") if p.strip())
    return description, args


def arguments_model(fn: Callable[..., Any], arg_docs: Mapping[str, str]) -> tuple[type[BaseModel], dict[str, Any]]:
    """Build the pydantic model of ``fn``'s parameters; also return {parameter: annotation}.

    Fields are named ``p0, p1, ...`` with the parameter name as alias, so that parameters called
    ``json``, ``schema`` or ``_x`` neither shadow BaseModel attributes nor become private.
    """
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # an annotation that does not resolve: the tool author's to fix
        raise ToolDefinitionError(
            f"Cannot resolve the type hints of {_qualname(fn)}: {exc}",
            hint="Make every annotation importable where the function is defined.",
        ) from exc
    fields: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    for i, (name, param) in enumerate(inspect.signature(fn).parameters.items()):
        if i == 0 and name in {"self", "cls"}:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"{_qualname(fn)} takes *{name}; a tool's arguments must be named.",
                hint="Replace *args/**kwargs with named, typed parameters.",
            )
        if name not in hints:
            raise ToolDefinitionError(
                f"Parameter {name!r} of {_qualname(fn)} has no type annotation.",
                hint=f"Annotate it, e.g. `{name}: str`.",
            )
        default = ... if param.default is param.empty else param.default
        fields[f"p{len(fields)}"] = (hints[name], Field(default, alias=name, description=arg_docs.get(name)))
        annotations[name] = hints[name]
    model = create_model(  # type: ignore[call-overload]
        f"{getattr(fn, '__name__', 'tool')}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model, annotations


def parameters_schema(model: type[BaseModel], annotations: Mapping[str, Any]) -> dict[str, Any]:
    """Export ``model`` as a self-contained, title-free JSON schema with ``x-grounded`` marks."""
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    schema = _strip_titles(_inline(raw, defs, ()))
    schema.setdefault("properties", {})
    for name, annotation in annotations.items():
        _mark(annotation, schema["properties"][name])
    return schema


def _qualname(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _inline(node: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    """Replace every ``{"$ref": "#/$defs/X"}`` by a copy of X; a recursive type cannot be inlined."""
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in stack:
            raise ToolDefinitionError(
                f"Type {name!r} is recursive; a step grammar must be finite.",
                hint="Flatten the recursive model into a bounded structure.",
            )
        target = _inline(copy.deepcopy(defs[name]), defs, stack + (name,))
        extra = {k: v for k, v in node.items() if k != "$ref"}  # e.g. a description next to the ref
        return {**target, **extra}
    return {key: _inline(value, defs, stack) for key, value in node.items()}


def _strip_titles(node: Any) -> Any:
    """Drop the ``title`` keyword pydantic adds everywhere; a property *named* title is kept."""
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in {"properties", "patternProperties", "$defs"} and isinstance(value, dict):
            out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        else:
            out[key] = _strip_titles(value)
    return out


def _mark(tp: Any, schema: dict[str, Any]) -> None:
    """Walk a Python type and its exported schema side by side, marking Identifier strings."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        for item in meta:
            if isinstance(item, Identifier):
                _apply_identifier(schema, item.kind, tp)
        _mark(base, schema)
    elif origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if len(members) == 1 and not branches:
            _mark(members[0], schema)
        elif len(members) == len(branches):
            for member, branch in zip(members, branches):
                _mark(member, branch)
    elif origin is tuple and "prefixItems" in schema:
        for member, branch in zip(get_args(tp), schema["prefixItems"]):
            _mark(member, branch)
    elif origin in (list, set, frozenset, tuple, Sequence) and get_args(tp) and "items" in schema:
        _mark(get_args(tp)[0], schema["items"])
    elif origin in (dict, Mapping) and len(get_args(tp)) == 2 and isinstance(schema.get("additionalProperties"), dict):
        _mark(get_args(tp)[1], schema["additionalProperties"])
    elif inspect.isclass(tp) and issubclass(tp, BaseModel):
        properties = schema.get("properties", {})
        for name, info in tp.model_fields.items():
            prop = properties.get(info.alias or name)
            if prop is None:
                continue
            for item in info.metadata:
                if isinstance(item, Identifier):
                    _apply_identifier(prop, item.kind, tp)
            _mark(info.annotation, prop)


def _apply_identifier(schema: dict[str, Any], kind: str, where: Any) -> None:
    """Put the mark on the string schemas under ``schema`` (through optionals and lists)."""
    if schema.get("type") == "string":
        schema[GROUNDED_KEY] = kind
    elif "anyOf" in schema:
        for branch in schema["anyOf"]:
            if branch.get("type") != "null":
                _apply_identifier(branch, kind, where)
    elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _apply_identifier(schema["items"], kind, where)
    else:
        raise ToolDefinitionError(
            f"Identifier({kind!r}) is on a non-string type in {where!r}.",
            hint="Use Identifier only on str (or Optional[str], list[str]) arguments.",
        )


# BFCL and other hand-written tool catalogues use Python-ish type names.
_TYPE_ALIASES: dict[str, str | None] = {
    "dict": "object", "object": "object", "float": "number", "double": "number", "number": "number",
    "tuple": "array", "list": "array", "array": "array", "int": "integer", "long": "integer",
    "integer": "integer", "str": "string", "string": "string", "bool": "boolean",
    "boolean": "boolean", "null": "null", "none": "null", "any": None,
}
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def normalize_schema(node: Any) -> Any:
    """Return a standard JSON schema for ``node`` (a copy); unknown type names and a ``required`` that
    is not a list of names raise ``ToolDefinitionError``."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            converted = _convert_type(value)
            if converted is not None:
                out["type"] = converted
        elif key in {"properties", "patternProperties", "$defs", "definitions"} and isinstance(value, dict):
            out[key] = {name: normalize_schema(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties", "not", "contains"} and isinstance(value, dict):
            out[key] = normalize_schema(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [normalize_schema(sub) for sub in value]
        elif key == "required":
            if isinstance(value, bool):
                continue  # a per-property boolean "required" (BFCL, draft 3): the parent's list rules
            if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
                raise ToolDefinitionError(
                    f"'required' must be a list of property names, got {value!r:.200}.",
                    hint='List the names of the required properties, e.g. "required": ["city"].',
                )
            out[key] = list(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _convert_type(value: Any) -> Any:
    if isinstance(value, list):
        converted = [_convert_type(v) for v in value]
        return None if None in converted else converted
    if not isinstance(value, str) or value.lower() not in _TYPE_ALIASES:
        raise ToolDefinitionError(
            f"Unknown JSON-schema type {value!r}.",
            hint=f"Use one of {sorted(k for k in _TYPE_ALIASES if k != 'none')}.",
        )
    return _TYPE_ALIASES[value.lower()]
