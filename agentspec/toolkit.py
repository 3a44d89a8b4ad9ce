"""Tools, the one tool registry, and toolkit discovery.

A tool is a plain typed Python function: its signature and Google-style docstring become a JSON
schema (``Tool.from_function``). Tools can also come from OpenAI/BFCL JSON (``Tool.from_openai``);
those have no Python function and can be validated but not called.

The registry's ``call`` keeps three outcomes apart (the contract the agent loop relies on):

- ``invalid_arguments``: the arguments do not match the schema. Nothing is called; the observation
  is the validation error, for the model to correct.
- ``tool_error``: the tool raised ``ToolError``, or an exception type it declares user-facing
  (``@user_errors(ValueError)`` on the function, or a ``user_errors`` tuple on its toolkit). The
  observation is ``"Error: <message>"``; the model sees it and carries on.
- ``ok``: the tool returned; the observation is the result (a ``str`` as is, anything else
  JSON-encoded).

Any other exception raised inside a tool is a bug (ours or the toolkit's) and propagates from
``call`` unchanged: it is never turned into an observation. An unknown tool name raises
``UnknownToolError`` (step parsing rejects unknown names before they reach the registry).

Toolkits (objects with ``name`` and ``functions()``) are discovered through the entry-point group
``agentspec.toolkits``; built-in ones register the same way as third-party ones.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from agentspec._toolschema import arguments_model, normalize_schema, parameters_schema, parse_docstring
from agentspec.errors import (
    ToolArgumentError,
    ToolDefinitionError,
    ToolError,
    UnknownToolError,
    UnknownToolkitError,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "OutcomeKind",
    "Tool",
    "Toolkit",
    "ToolOutcome",
    "ToolRegistry",
    "available_toolkits",
    "load_toolkit",
    "open_session_toolkit",
    "toolkit_factory",
    "user_errors",
]

ENTRY_POINT_GROUP = "agentspec.toolkits"
_USER_ERRORS_ATTR = "__agentspec_user_errors__"


def user_errors(*exc_types: type[Exception]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare exception types a tool raises for the model to see (like ``ToolError``).

    >>> @user_errors(KeyError)
    ... def get_order(order_id: str) -> str: ...
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _USER_ERRORS_ATTR, tuple(exc_types))
        return fn

    return decorate


@dataclass(frozen=True, eq=True)
class Tool:
    """One callable tool: ``name``, ``description``, ``parameters`` (a JSON schema object).

    Equality and ``fingerprint`` cover the name, description and schema only, so a tool imported
    back from its own OpenAI JSON equals the original. ``function`` is None for imported tools.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    user_errors: tuple[type[Exception], ...] = field(default=(), compare=False, repr=False)
    arguments_model: type[BaseModel] | None = field(default=None, compare=False, repr=False)

    __hash__ = None  # type: ignore[assignment]  # parameters is a dict; hash fingerprint instead

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], *, name: str | None = None, user_errors: Sequence[type[Exception]] = ()
    ) -> Tool:
        """Build a tool from a typed function (or bound method) and its Google-style docstring."""
        if not (name or getattr(fn, "__name__", "")):
            raise ToolDefinitionError(f"{fn!r} has no __name__.", hint="Pass name=... explicitly.")
        description, arg_docs = parse_docstring(getattr(fn, "__doc__", None))
        model, annotations = arguments_model(fn, arg_docs)
        declared = tuple(getattr(fn, _USER_ERRORS_ATTR, ())) + tuple(user_errors)
        return cls(
            name=name or getattr(fn, "__name__", ""),
            description=description,
            parameters=parameters_schema(model, annotations),
            function=fn,
            user_errors=declared,
            arguments_model=model,
        )

    @classmethod
    def from_openai(cls, spec: dict[str, Any]) -> Tool:
        """Import ``{"type": "function", "function": {...}}`` or the bare function dict (BFCL too)."""
        fn = spec.get("function", spec) if spec.get("type") == "function" else spec
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ToolDefinitionError(
                f"Not an OpenAI function spec: {spec!r:.200}",
                hint='Expected {"type": "function", "function": {"name": ..., "parameters": {...}}}.',
            )
        parameters = normalize_schema(fn.get("parameters") or {"type": "object", "properties": {}})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        return cls(name=fn["name"], description=fn.get("description", ""), parameters=parameters)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``tools=[...]`` entry for this tool (a deep copy; safe to mutate)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),
            },
        }

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical OpenAI JSON: equal tools, equal fingerprints (cache keys)."""
        return hashlib.sha256(json.dumps(self.to_openai(), sort_keys=True).encode()).hexdigest()

    @property
    def argument_names(self) -> list[str]:
        """Argument names in signature order (the order the step grammar fixes)."""
        return list(self.parameters.get("properties", {}))

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Return arguments ready to pass to the function; raise ``ToolArgumentError`` listing each bad field.

        A string that is not valid Unicode text (an unpaired surrogate) is refused. With a Python
        function, values are converted by pydantic (nested models become instances, defaults are
        filled in). Without one, the arguments are checked against the JSON schema
        and returned as given.
        """
        if not isinstance(arguments, dict):
            raise ToolArgumentError(self.name, [("", f"expected an object, got {type(arguments).__name__}")])
        bad_text = _unpaired_surrogate(arguments)
        if bad_text is not None:
            raise ToolArgumentError(self.name, [(bad_text, "not valid Unicode text (an unpaired surrogate \\udXXX)")])
        if self.arguments_model is None:
            import jsonschema  # only imported tools need it; keeps the chat path's imports light

            validator = jsonschema.Draft202012Validator(self.parameters)
            problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
            if problems:
                raise ToolArgumentError(
                    self.name, [(".".join(map(str, e.absolute_path)), e.message) for e in problems]
                )
            return dict(arguments)
        try:
            parsed = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolArgumentError(
                self.name, [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
            ) from None
        fields = self.arguments_model.model_fields
        return {info.alias or key: getattr(parsed, key) for key, info in fields.items()}


@runtime_checkable
class Toolkit(Protocol):
    """What an entry-point factory returns: a name and the tool functions (typed, documented).

    A toolkit may also carry ``user_errors: tuple[type[Exception], ...]``: exception types its
    functions raise for the model to see (e.g. ``ValueError("Order not found")``).
    """

    name: str

    def functions(self) -> list[Callable[..., Any]]: ...


OutcomeKind = Literal["ok", "tool_error", "invalid_arguments"]


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one ``ToolRegistry.call``; ``observation`` is what the model sees."""

    kind: OutcomeKind
    tool: str
    arguments: dict[str, Any]
    observation: str
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class ToolRegistry:
    """The tools an agent can call, in registration order; names are unique."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any] | Toolkit] = ()):
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool | Callable[..., Any] | Toolkit) -> list[Tool]:
        """Add a ``Tool``, a typed function, or every function of a ``Toolkit``; return what was added."""
        if isinstance(item, Tool):
            new = [item]
        elif isinstance(item, Toolkit) and not callable(item):
            declared = tuple(getattr(item, "user_errors", ()))
            new = [Tool.from_function(fn, user_errors=declared) for fn in item.functions()]
        elif callable(item):
            new = [Tool.from_function(item)]
        else:
            raise ToolDefinitionError(
                f"Cannot register {item!r}.",
                hint="Register a Tool, a typed function, or a toolkit with name and functions().",
            )
        for tool in new:
            if tool.name in self._tools:
                raise ToolDefinitionError(
                    f"Two tools are named {tool.name!r}.",
                    hint="Rename one of them (Tool.from_function(fn, name=...)) or register a subset.",
                )
        for tool in new:
            self._tools[tool.name] = tool
        return new

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(
                f"No tool named {name!r}.", hint=f"Known tools: {', '.join(self._tools) or '(none)'}."
            ) from None

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A new registry with only ``names``, in the order given."""
        return ToolRegistry([self.get(name) for name in names])

    def to_openai(self) -> list[dict[str, Any]]:
        return [tool.to_openai() for tool in self._tools.values()]

    @classmethod
    def from_openai(cls, specs: Iterable[dict[str, Any]]) -> ToolRegistry:
        return cls([Tool.from_openai(spec) for spec in specs])

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Validate, then call; see the module docstring for the three outcomes."""
        tool = self.get(name)
        if tool.function is None:
            raise ToolDefinitionError(
                f"Tool {name!r} has no Python function (it was imported from a schema).",
                hint="Register the function itself, or execute this tool outside the registry.",
            )
        try:
            kwargs = tool.validate(arguments)
        except ToolArgumentError as exc:
            return ToolOutcome("invalid_arguments", name, arguments, f"Error: {exc.message}", exc)
        try:
            result = tool.function(**kwargs)
        except ToolError as exc:
            return ToolOutcome("tool_error", name, arguments, f"Error: {exc.message}", exc)
        except tool.user_errors as exc:  # declared user-facing by the tool or its toolkit
            return ToolOutcome("tool_error", name, arguments, f"Error: {_message(exc)}", exc)
        observation = result if isinstance(result, str) else json.dumps(to_jsonable_python(result))
        return ToolOutcome("ok", name, arguments, observation)


def _unpaired_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) in ``value`` holding an unpaired surrogate, or None.

    JSON can spell one (``"\\ud800"``), but it is not text: no database, file or tokenizer can encode it.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        found = _unpaired_surrogate(key, where) if isinstance(key, str) else None
        found = found if found is not None else _unpaired_surrogate(item, where)
        if found is not None:
            return found
    return None


def _message(exc: Exception) -> str:
    # KeyError('x') would print with quotes; its argument is the message.
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)


def available_toolkits() -> list[str]:
    """Names of the toolkits installed under the ``agentspec.toolkits`` entry-point group."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def toolkit_factory(name: str) -> Callable[..., Any]:
    """The factory the entry point ``name`` names; unknown names list the known ones."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = available_toolkits()
        raise UnknownToolkitError(
            f"No toolkit named {name!r}. Available: {', '.join(known) or '(none installed)'}.",
            hint=f"Use one of the available names, or install a package that declares "
            f"[project.entry-points.\"{ENTRY_POINT_GROUP}\"] {name} = \"module:factory\".",
        )
    return found[0].load()


def load_toolkit(name: str, **config: Any) -> Toolkit:
    """Find the entry point ``name`` and return ``factory(**config)``."""
    return _checked(name, toolkit_factory(name)(**config))


def open_session_toolkit(name: str, config: dict[str, Any], directory: Any, data: str | None) -> Toolkit:
    """The toolkit ``name`` for one session: its factory's ``open_session(config, directory, data)``
    (``agentspec.hooks``), else ``factory(**config)``, which then takes no ``data`` override."""
    factory = toolkit_factory(name)
    opener = getattr(factory, "open_session", None)
    if opener is not None:
        return _checked(name, opener(dict(config), directory, data))
    if data is not None:
        raise UnknownToolkitError(f"toolkit {name!r} takes no data override (--db {data})",
                                  hint="Set its data in the spec's toolkits[].config instead.", code="bad_option")
    return _checked(name, factory(**config))


def _checked(name: str, toolkit: Any) -> Toolkit:
    if not isinstance(toolkit, Toolkit):
        raise ToolDefinitionError(
            f"The factory of toolkit {name!r} returned {type(toolkit).__name__}, not a toolkit.",
            hint="The factory must return an object with `name` and `functions()`.",
        )
    return toolkit
