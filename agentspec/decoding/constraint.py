"""Grammar-constrained decoding of a step schema: llguidance matchers behind a logits processor.

Contract:

- ``StepConstraint.for_model(model)`` builds the tokenizer-side structures (an llguidance
  ``LLTokenizer`` over the model's vocabulary, ~0.4 s for SmolLM2's 49k tokens) ONCE per model
  object and runs ``self_check`` before returning. Only the ``llamacpp`` and ``transformers``
  backends can be constrained; anything else raises ``ConstrainedDecodingUnavailableError``.
- ``compile(schema)`` turns a step schema into a ``CompiledGrammar`` (an llguidance matcher in its
  start state). ``processor(compiled)`` returns a fresh ``StepLogitsProcessor`` for one decode.
- ``StepLogitsProcessor`` takes both hook signatures: llama-cpp-python's ``(input_ids: np.ndarray
  [prompt + generated], scores: np.ndarray[n_vocab] float32) -> scores`` and the transformers loop's
  ``(ids: list[int], logits: torch.Tensor[n_vocab]) -> logits``. It tracks only the generated
  suffix (the prompt length is fixed at the first call), masks disallowed tokens to -inf, allows
  EOS only once the step is complete, and then allows nothing but EOS (so the step always parses).
- Failures never pass silently. llama.cpp calls the processor from a ctypes sampler callback that
  swallows exceptions (the outlines + missing-numba trap of DESIGN.md section 4), so the processor
  catches its own errors, records them, and forces EOS; ``verify(n_tokens)`` then raises
  ``ConstrainedDecodingUnavailableError`` if it was not called for every token, a sampled token was
  outside the mask, or it failed. ``self_check`` proves at construction that masking takes effect.

Why llguidance directly, not through outlines (measured on this machine, SmolLM2-135M, the 16 retail
tools, 6.7 kB step schema; see ``benchmarks/decoding.py`` for the side-by-side numbers):

- outlines' default backend (outlines_core) compiles the schema to a regex and then an index over
  the whole vocabulary: ~1 s per new schema with 49k tokens (~16 s with Gemma's 262k). Grounding
  changes the schema every step, so that cost would be paid on most steps.
- llguidance compiles lazily: ~6 ms per new schema (grammar_from_json_schema + LLMatcher), the mask
  for one token ~0.2 ms, and a matcher copy ~0.1 ms. The tokenizer is built once per model.
- outlines' own llguidance processor applies the mask with ``np.repeat``/``np.tile`` over the
  vocabulary and warns (does not fail) on a rejected token; ours unpacks the bitmask with
  ``np.unpackbits`` and treats any rejection as a hard error. outlines remains the library for
  the "bare" baseline in the benchmark and the reference for the step schema's JSON dialect.

Whitespace rule: no free whitespace; item separator ``", "`` and key separator ``": "``, exactly
``json.dumps``'s defaults, so a constrained step is byte-identical to ``Step.to_text()`` (key order
follows the schema, which follows the tools' signatures) except where the model picks a different
but valid string escape.
"""
from __future__ import annotations

import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentspec.errors import ConstrainedDecodingUnavailableError, GrammarCompileError

__all__ = [
    "CONSTRAINED_BACKENDS",
    "JSON_OPTIONS",
    "CompiledGrammar",
    "StepConstraint",
    "StepLogitsProcessor",
    "apply_mask",
]

CONSTRAINED_BACKENDS = ("llamacpp", "transformers")

# llguidance JSON compile options: see "Whitespace rule" above. lenient: ignore keywords llguidance
# does not implement (e.g. "format"); parse_step still validates them after decoding.
JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": True,
}

_CONSTRAINTS: "weakref.WeakKeyDictionary[Any, StepConstraint]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CompiledGrammar:
    """A step grammar ready to decode: the matcher in its start state (copied per decode)."""

    matcher: Any  # llguidance.LLMatcher, never advanced itself
    compile_ms: float


def apply_mask(scores: Any, allowed: np.ndarray) -> Any:
    """Set ``scores`` of disallowed tokens to -inf in place; ``allowed`` is bool[n >= len(scores)]."""
    n = scores.shape[-1]
    if hasattr(scores, "masked_fill_"):  # torch (transformers loop)
        import torch

        keep = torch.from_numpy(allowed[:n]).to(scores.device)
        scores.masked_fill_(~keep, float("-inf"))
    else:
        np.putmask(scores, ~allowed[:n], -np.inf)
    return scores


class StepLogitsProcessor:
    """Masks logits to one step grammar during one decode (see the module docstring)."""

    def __init__(self, matcher: Any, vocab_size: int, eos_ids: list[int]):
        self.matcher = matcher
        self.eos_ids = eos_ids
        self.calls = 0  # times the backend called us (one per sampled token)
        self.consumed: list[int] = []  # generated tokens fed to the matcher
        self.error: str | None = None
        self._prompt_len: int | None = None
        # Bitmask buffer: int32 words, bit i of word j is token 32*j + i (llguidance's layout).
        self._words = np.full((vocab_size + 31) // 32, -1, dtype=np.int32)
        self._vocab_size = vocab_size

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.calls += 1
        try:
            # 1. The first call sees the prompt only; later calls see prompt + generated tokens.
            #    Slice before converting: the prompt may be thousands of tokens.
            if self._prompt_len is None:
                self._prompt_len = len(input_ids)
            new = input_ids[self._prompt_len + len(self.consumed):]
            for token in (new if isinstance(new, list) else new.tolist()):
                if not self.matcher.consume_token(int(token)):
                    raise RuntimeError(
                        f"token {token} was sampled although the grammar forbids it "
                        f"({self.matcher.get_error() or 'mask not applied'})"
                    )
                self.consumed.append(int(token))
            # 2. Compute the allowed set for the next token; EOS is in it only when the step is complete.
            self.matcher.unsafe_compute_mask_ptr(self._words.ctypes.data, self._words.nbytes)
            if self.matcher.is_error():
                raise RuntimeError(f"grammar matcher error: {self.matcher.get_error()}")
            allowed = np.unpackbits(self._words.view(np.uint8), bitorder="little").astype(bool)
            return apply_mask(scores, allowed)
        except Exception as exc:  # noqa: BLE001 - recorded and re-raised by verify(); see module docstring
            if self.error is None:
                self.error = f"{type(exc).__name__}: {exc}"
            return _only_eos(scores, self.eos_ids)

    def verify(self, n_generated: int) -> None:
        """Raise if the constraint did not apply to every one of the ``n_generated`` tokens."""
        if self.error is not None:
            raise ConstrainedDecodingUnavailableError(
                f"The grammar constraint failed during decoding: {self.error}",
                hint="This is a bug or a broken grammar library; decode with mode='validate' meanwhile.",
            )
        # The backend calls us before sampling each token (the EOS that ends a decode included).
        if self.calls < max(n_generated, 1):
            raise ConstrainedDecodingUnavailableError(
                f"The backend generated {n_generated} tokens but called the grammar processor "
                f"{self.calls} times: output was not constrained.",
                hint="The backend ignores logits_processor; use mode='validate' for it.",
            )


def _only_eos(scores: Any, eos_ids: list[int]) -> Any:
    if hasattr(scores, "fill_"):
        keep = scores.new_full(scores.shape, float("-inf"))
        keep[eos_ids] = 0.0
        scores.copy_(keep)
        return scores
    scores[:] = -np.inf
    scores[eos_ids] = 0.0
    return scores


class StepConstraint:
    """Per-model grammar machinery: the llguidance tokenizer, compilation, processors."""

    def __init__(self, model: Any):
        """Build the tokenizer for ``model``; prefer ``for_model`` (cached, self-checked)."""
        backend = getattr(model, "backend", None)
        if backend not in CONSTRAINED_BACKENDS:
            raise ConstrainedDecodingUnavailableError(
                f"The {backend!r} backend cannot decode under a grammar (no logits hook).",
                hint="Use mode='validate' (or 'auto'), or a llamacpp / transformers model.",
            )
        try:
            import llguidance  # noqa: F401
        except ImportError as exc:
            raise ConstrainedDecodingUnavailableError(
                f"Constrained decoding needs llguidance ({exc}).",
                hint="pip install llguidance, or decode with mode='validate' (unconstrained + checks).",
            ) from exc
        self.backend = backend
        self.tokenizer, self.vocab_size, self.eos_ids = _build_tokenizer(model, backend)

    @classmethod
    def for_model(cls, model: Any) -> StepConstraint:
        """The constraint of ``model``, built and self-checked once per model object."""
        found = _CONSTRAINTS.get(model)
        if found is None:
            found = cls(model)
            found.self_check()
            _CONSTRAINTS[model] = found
        return found

    def compile(self, schema: dict[str, Any]) -> CompiledGrammar:
        from llguidance import LLMatcher

        started = time.perf_counter()
        grammar = LLMatcher.grammar_from_json_schema(schema, overrides=JSON_OPTIONS)
        matcher = LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise GrammarCompileError(
                f"llguidance cannot compile the step schema ({len(str(schema))} characters): {matcher.get_error()}",
                hint="Simplify the offending tool's parameter schema (see the error for the keyword); a "
                "schema too large comes from its enums (agentspec.decoding.grounding bounds grounded values).",
            )
        return CompiledGrammar(matcher, (time.perf_counter() - started) * 1e3)

    def processor(self, compiled: CompiledGrammar) -> StepLogitsProcessor:
        return StepLogitsProcessor(compiled.matcher.deep_copy(), self.vocab_size, self.eos_ids)

    def hooks(self, processor: StepLogitsProcessor) -> dict[str, Any]:
        """The ``stream(**hooks)`` that installs ``processor`` on this backend."""
        # llama-cpp-python iterates a LogitsProcessorList; the transformers loop calls one function.
        return {"logits_processor": [processor] if self.backend == "llamacpp" else processor}

    def self_check(self) -> None:
        """Prove masking takes effect: a dummy decode of ``{"reply": "ok"}`` must see only grammar tokens.

        Checks, on an all-zero logits array of the backend's type: (1) at the start some tokens
        are allowed and some (EOS among them) are -inf; (2) after the complete step, only EOS is
        finite. A no-op processor, a mask that is computed but not applied, or a grammar library
        failing inside the processor all fail here.
        """
        schema = {"type": "object", "properties": {"reply": {"type": "string", "enum": ["ok"]}},
                  "required": ["reply"], "additionalProperties": False}
        proc = self.processor(self.compile(schema))
        text_tokens = self.tokenizer.tokenize_str('{"reply": "ok"}')
        prompt = [0, 0, 0]

        def run(ids: list[int]) -> np.ndarray:
            scores = _dummy_scores(self.backend, self.vocab_size)
            arg: Any = np.array(ids, dtype=np.intc) if self.backend == "llamacpp" else ids
            out = proc(arg, scores)
            return np.asarray(out.tolist() if hasattr(out, "tolist") and not isinstance(out, np.ndarray) else out)

        start = run(prompt)
        finite = np.isfinite(start)
        problems = []
        if proc.error:
            problems.append(proc.error)
        if finite.all():
            problems.append("no token was masked at the start of a step")
        elif not finite.any():
            problems.append("every token was masked at the start of a step")
        elif any(finite[e] for e in self.eos_ids):
            problems.append("EOS was allowed before the step was complete")
        end = run(prompt + text_tokens)
        if proc.error and proc.error not in problems:
            problems.append(proc.error)
        if not problems and set(np.flatnonzero(np.isfinite(end)).tolist()) != set(self.eos_ids):
            problems.append("after a complete step, tokens other than EOS were allowed")
        if problems:
            raise ConstrainedDecodingUnavailableError(
                "Grammar-constrained decoding would not apply: " + "; ".join(problems) + ".",
                hint="Refusing to decode silently unconstrained. Check the llguidance installation, "
                "or use mode='validate' to decode unconstrained with parse checks and retries.",
            )


def _dummy_scores(backend: str, n: int) -> Any:
    if backend == "transformers":
        import torch

        return torch.zeros(n, dtype=torch.float32)
    return np.zeros(n, dtype=np.float32)


def _build_tokenizer(model: Any, backend: str) -> tuple[Any, int, list[int]]:
    """(LLTokenizer, logits length, EOS ids) for a llamacpp or transformers model."""
    if backend == "llamacpp":
        import llama_cpp
        import llguidance.llamacpp

        vocab = llama_cpp.llama_model_get_vocab(model.llm.model)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        eos = [t for t in (llama_cpp.llama_vocab_eos(vocab), llama_cpp.llama_vocab_eot(vocab)) if t >= 0]
        eos = sorted(set(eos))
        with warnings.catch_warnings():  # it calls llama_token_get_attr, deprecated: one warning per token
            warnings.simplefilter("ignore", DeprecationWarning)
            tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab, n_vocab=n_vocab, eos_token=eos)
        return tokenizer, n_vocab, eos
    import llguidance.hf

    # Logits may be longer than the tokenizer (padded embedding matrix): size the mask to them.
    n_vocab = int(model.model.get_output_embeddings().weight.shape[0])
    eos = sorted(getattr(model, "_eos_ids", None) or {model.tokenizer.eos_token_id})
    tokenizer = llguidance.hf.from_tokenizer(model.tokenizer, n_vocab=n_vocab, eos_token=eos)
    return tokenizer, n_vocab, eos
