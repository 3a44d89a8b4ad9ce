"""Decide one agent step: decode it (under the step grammar where the backend allows) and parse it.

    decoder = StepDecoder(model)                      # mode "auto"
    decided = decoder.decide(messages, registry.tools, grounding)
    decided.step            # Step (reply | calls), or None if every attempt was malformed

How each backend decodes (``mode="auto"``):

- ``llamacpp`` / ``transformers``: under the step grammar (``constraint.StepConstraint``, llguidance
  through the backend's ``logits_processor`` hook). The output is then still checked by
  ``parse_step``: the grammar is the guarantee, the parser the audit (a step that fails it, e.g.
  cut off by ``max_tokens``, is retried like an unconstrained one).
- ``openai``: the step schema goes to the server as structured output (``response_format:
  {"type": "json_schema", ...}`` via ``extra_body``) and the answer is validated with
  ``parse_step``. ``DecodedStep.constrained`` is False there: we cannot verify that the server
  honoured the schema.
- ``scripted`` and any other backend: unconstrained, validated, retried.

``mode="validate"`` forces the unconstrained path on any backend. ``mode="grammar"`` requires a
grammar: a backend that cannot constrain raises ``ConstrainedDecodingUnavailableError`` at
construction. So does ``"auto"`` on llamacpp/transformers when the grammar machinery is missing or
fails its self-check: a decoder that should constrain refuses to start rather than degrade silently
(DESIGN.md section 4). Pass ``mode="validate"`` to run unconstrained on purpose.

Retries (bounded by ``max_attempts``): a malformed step is shown back to the model with the error in
one short corrective user message; only the latest failed attempt is shown, so the prompt does not
grow with the number of attempts. Later attempts use ``seed + attempt - 1`` so sampled decodes differ.

Streaming: ``on_delta`` (an attribute, None by default) is called with each text delta of every
attempt as the model decodes it, and ``on_attempt`` at the start of each attempt; the parsed step,
not the deltas, is what counts (an attempt may be retried). A callback that raises stops the decode
there (the server cancels a turn whose client left this way).

Grammars (and, unconstrained, schemas) are cached in a ``GrammarCache`` keyed by ``step_key`` (tool
set, grounding snapshot of the kinds those tools use, flags), so a step whose grounding did not
change pays nothing. Not here: running tools (``execute``), prompts (``prompt``), the agent loop.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from agentspec.decoding.cache import GrammarCache, step_key
from agentspec.decoding.constraint import CONSTRAINED_BACKENDS, CompiledGrammar, StepConstraint
from agentspec.decoding.grounding import Grounding
from agentspec.decoding.schema import step_schema
from agentspec.decoding.steps import Step, parse_step
from agentspec.errors import ConstrainedDecodingUnavailableError, MalformedStepError
from agentspec.runtime.base import ChatModel, Completion, GenerationSettings, Message
from agentspec.toolkit import Tool

__all__ = ["DecodedStep", "DecodeMode", "StepDecoder", "response_format"]

DecodeMode = Literal["auto", "grammar", "validate"]
_MODES = ("auto", "grammar", "validate")
# How much of a failed attempt is echoed back in the corrective turn (characters).
_ECHO_CHARS = 600


@dataclass
class DecodedStep:
    """The outcome of ``StepDecoder.decide``."""

    step: Step | None  # None only if every attempt was malformed (possible only unconstrained)
    text: str  # raw text of the last attempt
    attempts: int
    errors: list[str]  # MalformedStepError reasons of the failed attempts, in order
    constrained: bool  # True when a grammar constrained the decoding (locally, verified)
    compile_ms: float  # grammar build time paid in this call (0.0 on a cache hit)
    completion: Completion  # of the last attempt (usage, timings)
    details: list[str] = field(default_factory=list)  # full error messages, parallel to ``errors``


@dataclass(frozen=True)
class _Entry:
    """A cached step grammar: the schema, and the compiled grammar when decoding is constrained."""

    schema: dict[str, Any]
    compiled: CompiledGrammar | None


class StepDecoder:
    """Decodes steps for one model; see the module docstring for the per-backend strategy."""

    def __init__(
        self,
        model: ChatModel,
        *,
        mode: DecodeMode = "auto",
        max_attempts: int = 3,
        cache: GrammarCache | None = None,
    ):
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.model = model
        self.mode = mode
        self.max_attempts = max_attempts
        self.cache: GrammarCache[_Entry] = cache if cache is not None else GrammarCache()
        self.on_delta: Callable[[str], None] | None = None
        self.on_attempt: Callable[[int], None] | None = None
        backend = getattr(model, "backend", None)
        self.constraint: StepConstraint | None = None
        if mode == "validate":
            self.strategy = "validate"
        elif backend in CONSTRAINED_BACKENDS:
            self.strategy = "grammar"
            self.constraint = StepConstraint.for_model(model)  # raises rather than degrade
        elif mode == "grammar":
            raise ConstrainedDecodingUnavailableError(
                f"mode='grammar' needs a backend that decodes under a grammar; {backend!r} cannot"
                + (" (an OpenAI server may ignore a schema, and we cannot check it does)." if backend == "openai" else "."),
                hint="Use mode='auto' (server structured output + validation on openai) or 'validate', "
                "or a llamacpp / transformers model.",
            )
        elif backend == "openai":
            self.strategy = "server"
        else:
            self.strategy = "validate"

    @property
    def constrained(self) -> bool:
        return self.strategy == "grammar"

    def decide(
        self,
        messages: list[Message],
        tools: Sequence[Tool],
        grounding: Grounding | None,
        *,
        allow_reply: bool = True,
        require_tool: bool = False,
        parallel: bool = True,
        max_calls: int = 4,
        settings: GenerationSettings | None = None,
    ) -> DecodedStep:
        """Decode and parse one step; malformed attempts are retried up to ``max_attempts``.

        Raises ``EmptyGrammarError`` when no branch is possible (a call is required and no tool can
        be called with the identifiers seen so far), and ``ConstrainedDecodingUnavailableError``
        if the grammar did not apply to a constrained decode.
        """
        settings = settings or getattr(self.model, "default_settings", None) or GenerationSettings()
        flags = {"allow_reply": allow_reply, "require_tool": require_tool, "parallel": parallel, "max_calls": max_calls}
        entry, compile_ms = self._grammar(tools, grounding, flags)
        limit = max_calls if parallel else 1
        errors: list[str] = []
        details: list[str] = []
        prompt = list(messages)
        text, completion = "", None
        for attempt in range(1, self.max_attempts + 1):
            attempt_settings = settings if attempt == 1 else settings.with_(seed=settings.seed + attempt - 1)
            if self.on_attempt is not None:
                self.on_attempt(attempt)
            completion = self._complete(prompt, attempt_settings, entry)
            text = completion.text
            try:
                step = parse_step(
                    _unfence(text), tools, grounding,
                    allow_reply=allow_reply, require_tool=require_tool, max_calls=limit,
                )
            except MalformedStepError as exc:
                errors.append(exc.reason)
                cut = " (cut off at max_tokens)" if completion.finish_reason == "length" else ""
                details.append(exc.message + cut)
                prompt = list(messages) + _correction(text, exc.message + cut, allow_reply and not require_tool)
                continue
            return DecodedStep(step, text, attempt, errors, self.constrained, compile_ms, completion, details)
        assert completion is not None
        return DecodedStep(None, text, self.max_attempts, errors, self.constrained, compile_ms, completion, details)

    # -- internals ---------------------------------------------------------------------------

    def _grammar(self, tools: Sequence[Tool], grounding: Grounding | None, flags: dict[str, Any]) -> tuple[_Entry, float]:
        """The cached grammar for this step, and the build time paid now (0.0 on a hit)."""
        paid = [0.0]

        def build() -> _Entry:
            started = time.perf_counter()
            schema = step_schema(tools, grounding, **flags)
            compiled = self.constraint.compile(schema) if self.constraint is not None else None
            paid[0] = (time.perf_counter() - started) * 1e3
            return _Entry(schema, compiled)

        # Compiled grammars are tokenizer-specific: the constraint (one per model) is part of the key.
        key = (self.constraint if self.constraint is not None else self.strategy, step_key(tools, grounding, **flags))
        return self.cache.get_or_build(key, build), paid[0]

    def _complete(self, prompt: list[Message], settings: GenerationSettings, entry: _Entry) -> Completion:
        if self.strategy == "grammar":
            assert self.constraint is not None and entry.compiled is not None
            processor = self.constraint.processor(entry.compiled)
            completion = self._generate(prompt, settings, **self.constraint.hooks(processor))
            processor.verify(completion.usage.completion_tokens)
            return completion
        if self.strategy == "server":
            return self._generate(prompt, settings, extra_body={"response_format": response_format(entry.schema)})
        return self._generate(prompt, settings)

    def _generate(self, prompt: list[Message], settings: GenerationSettings, **hooks: Any) -> Completion:
        """The model's completion, its deltas passed to ``on_delta`` as they come when one is set."""
        if self.on_delta is None:
            return self.model.complete(prompt, settings, **hooks)
        stream = self.model.stream(prompt, settings, **hooks)
        try:
            for delta in stream:
                if delta:
                    self.on_delta(delta)
        finally:
            stream.close()
        assert stream.completion is not None
        return stream.completion


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI structured-output parameter for a step schema (``x-*`` extension keys removed)."""
    return {"type": "json_schema", "json_schema": {"name": "step", "schema": _strip_extensions(schema), "strict": True}}


def _strip_extensions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_extensions(v) for k, v in node.items() if not (isinstance(k, str) and k.startswith("x-"))}
    if isinstance(node, list):
        return [_strip_extensions(v) for v in node]
    return node


def _unfence(text: str) -> str:
    """Strip whitespace and one surrounding Markdown code fence (```json ... ```), nothing more."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) > 6:
        body = stripped[3:-3]
        newline = body.find("\n")
        if newline != -1 and body[:newline].strip().isalpha():
            body = body[newline + 1:]  # language tag
        return body.strip()
    return stripped


def _correction(text: str, problem: str, reply_ok: bool) -> list[Message]:
    """The corrective turn after a malformed attempt: the attempt (truncated) and the error."""
    shown = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "..."
    forms = '{"calls": [...]} or {"reply": "..."}' if reply_ok else '{"calls": [...]}'
    return [
        {"role": "assistant", "content": shown},
        {"role": "user", "content": f"That answer was invalid. {problem}\n"
         f"Answer again with exactly one JSON object, {forms}, nothing else."},
    ]
