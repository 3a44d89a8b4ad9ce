"""How retail tools are called: refusals become ``Error:`` observations, arguments are checked.

Three outcomes are kept apart (DESIGN.md §5.7):
- a *refusal* (the policy forbids the action, an id does not exist) is raised inside a tool as
  ``Refusal``; the ``@tool`` wrapper turns it into the observation ``"Error: <why>"``. Because the
  wrapper sits outside the tool's transaction, the rollback has already happened;
- a *bad call* (unknown tool, missing/unknown/mistyped argument) is found by ``check_arguments`` before
  the tool runs, and also becomes an ``Error:`` observation naming the problem;
- anything else raised by a tool is a bug of ours and propagates unchanged.

Argument checking is strict and supports exactly the annotation shapes the retail tools use: ``str``
(valid Unicode text: an unpaired surrogate escape such as ``"\\ud800"`` is refused),
``Literal[...]`` of strings and ``list[str]``, each possibly wrapped in ``Annotated`` (for the
``Identifier`` marker). A tool with any other annotation is a programming error (TypeError at check
time). No coercion: a zip code sent as the number 12345 is refused, not turned into "12345".
"""
from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

__all__ = ["Refusal", "tool", "check_arguments"]


class Refusal(Exception):
    """A tool declines the request; the message is shown to the model after ``Error: ``."""


def tool(func: Callable[..., str]) -> Callable[..., str]:
    """Turn a ``Refusal`` raised by ``func`` into the observation ``"Error: <message>"``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        try:
            return func(*args, **kwargs)
        except Refusal as exc:
            return f"Error: {exc}"

    return wrapper


def check_arguments(name: str, func: Callable[..., Any], arguments: Any) -> str | None:
    """None if ``arguments`` suit ``func``'s signature, else an ``Error: ...`` observation saying why."""
    if not isinstance(arguments, dict):
        return f"Error: the arguments of {name} must be a JSON object, got {_describe(arguments)}"
    params = inspect.signature(func).parameters
    hints = typing.get_type_hints(func, include_extras=True)
    unknown = [key for key in arguments if key not in params]
    if unknown:
        expected = ", ".join(params) or "no arguments"
        return f"Error: {name} got unknown argument(s) {', '.join(map(repr, unknown))}; expected: {expected}"
    missing = [p for p in params.values() if p.default is inspect.Parameter.empty and p.name not in arguments]
    if missing:
        return f"Error: {name} is missing required argument(s) {', '.join(repr(p.name) for p in missing)}"
    for key, value in arguments.items():
        problem = _check_value(hints[key], value)
        if problem is not None:
            return f"Error: argument {key!r} of {name} {problem}"
    return None


def _check_value(annotation: Any, value: Any) -> str | None:
    """None if ``value`` matches ``annotation``, else the end of a sentence saying what is wrong."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _check_value(get_args(annotation)[0], value)
    if annotation is str:
        if not isinstance(value, str):
            return f"must be a string, got {_describe(value)}"
        return None if _is_text(value) else "must be valid Unicode text (it holds an unpaired surrogate \\udXXX)"
    if origin is Literal:
        allowed = get_args(annotation)
        if isinstance(value, str) and value in allowed:
            return None
        return f"must be one of {', '.join(map(repr, allowed))}, got {_describe(value)}"
    if origin is list:
        (inner,) = get_args(annotation)
        if not isinstance(value, list):
            return f"must be a list, got {_describe(value)}"
        for index, element in enumerate(value):
            problem = _check_value(inner, element)
            if problem is not None:
                return f"element {index} {problem}"
        return None
    raise TypeError(f"retail tools do not support the annotation {annotation!r}")


def _is_text(value: str) -> bool:
    """False for a string with an unpaired surrogate (JSON's "\\ud800"), which no database or file can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind.get(type(value), type(value).__name__)} {text}" if value is not None else "null"
