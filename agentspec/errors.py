"""The exception hierarchy: every error a user can cause names the problem and the fix.

Each class has a stable ``code`` (for scripts and logs) and a ``hint`` (what to do about it).
Constructors have no side effects. Our own bugs are not wrapped in these: they raise as they are.
"""
from __future__ import annotations

__all__ = [
    "AgentSpecError",
    "ModelFileError",
    "UnknownBackendError",
    "UnknownModelError",
    "EndpointError",
    "ContextOverflowError",
    "BackendUnavailableError",
]


class AgentSpecError(Exception):
    """Base class: a problem the user can fix. ``str()`` gives the message and the hint."""

    code: str = "agentspec_error"
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message}\nHint: {self.hint}" if self.hint else self.message


class ModelFileError(AgentSpecError):
    """A GGUF file is missing, unreadable or not a valid GGUF."""

    code = "model_file"


class UnknownModelError(AgentSpecError):
    """A model name that is neither a bundled model nor an existing path."""

    code = "unknown_model"


class UnknownBackendError(AgentSpecError):
    """A backend name that is not registered."""

    code = "unknown_backend"


class BackendUnavailableError(AgentSpecError):
    """A backend whose optional dependencies are not installed."""

    code = "backend_unavailable"


class EndpointError(AgentSpecError):
    """An OpenAI-compatible endpoint that cannot be reached or answers with an error."""

    code = "endpoint"


class ContextOverflowError(AgentSpecError):
    """A prompt that cannot fit the context even after dropping every droppable turn."""

    code = "context_overflow"


# --- tools and decoding -------------------------------------------------------------------------

__all__ += [
    "ToolDefinitionError",
    "ToolArgumentError",
    "ToolError",
    "UnknownToolError",
    "UnknownToolkitError",
    "MalformedStepError",
    "EmptyGrammarError",
]


class ToolDefinitionError(AgentSpecError):
    """A function or schema that cannot become a tool (missing annotation, ``*args``, duplicate name)."""

    code = "tool_definition"


class ToolArgumentError(AgentSpecError):
    """Arguments that do not match a tool's schema. ``errors`` lists ``(field path, problem)`` pairs."""

    code = "tool_arguments"

    def __init__(self, tool: str, errors: list[tuple[str, str]], *, hint: str | None = None):
        lines = "\n".join(f"  - {path or '(arguments)'}: {problem}" for path, problem in errors)
        super().__init__(
            f"Invalid arguments for tool {tool!r}:\n{lines}",
            hint=hint or f"Call {tool!r} with arguments that match its JSON schema (see Tool.parameters).",
        )
        self.tool = tool
        self.errors = list(errors)


class ToolError(AgentSpecError):
    """Raised BY a tool for a failure the model should see ("order not found"), not a bug.

    The registry turns it into the observation ``"Error: <message>"``; the hint is not shown to the model.
    """

    code = "tool_error"


class UnknownToolError(AgentSpecError):
    """A tool name that is not in the registry."""

    code = "unknown_tool"


class UnknownToolkitError(AgentSpecError):
    """A toolkit name with no entry point in the ``agentspec.toolkits`` group."""

    code = "unknown_toolkit"


class MalformedStepError(AgentSpecError):
    """A model step that is not in the step format. ``reason`` says which rule it broke.

    Reasons: ``not_json``, ``bad_shape``, ``unknown_tool``, ``invalid_arguments``,
    ``excluded_identifier``, ``ungrounded_identifier``, ``reply_not_allowed``, ``too_many_calls``. The
    step is retried.
    """

    code = "malformed_step"

    def __init__(self, reason: str, detail: str, *, text: str | None = None):
        super().__init__(
            f"Malformed step ({reason}): {detail}",
            hint="The step is retried with this error shown to the model; decode under the step "
            "grammar (agentspec.decoding.step_schema) to rule it out.",
        )
        self.reason = reason
        self.detail = detail
        self.text = text


class EmptyGrammarError(AgentSpecError):
    """A step grammar with no branch left: a tool call is required but no tool can be called yet."""

    code = "empty_grammar"


# --- constrained decoding ------------------------------------------------------------------------

__all__ += ["ConstrainedDecodingUnavailableError", "GrammarCompileError"]


class ConstrainedDecodingUnavailableError(AgentSpecError):
    """Grammar-constrained decoding was asked for (or is the default) but would not actually apply.

    Raised at ``StepDecoder`` construction (the backend cannot constrain, the grammar library is
    missing, or the self-check found that the logits processor does not mask), and during a
    decode when the processor was not called for every token or failed inside the backend's
    sampler callback (llama.cpp swallows exceptions there, which would leave output unconstrained).
    """

    code = "constraint_unavailable"


class GrammarCompileError(AgentSpecError):
    """The grammar backend rejected a step schema (an unsupported keyword, a pattern it cannot parse)."""

    code = "grammar_compile"
