"""Grammar-constrained steps on the real bundled model (SmolLM2-135M, seeded).

Invariants, not exact texts: every constrained step parses and validates, whatever the prompt pushes
toward (prose, invented ids) and whatever the seed at temperature 1.0; a grounded argument only
takes seen values; and when the constraint silently stops applying, decoding refuses.
"""
from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import pytest

from agentspec.decoding import Grounding, StepDecoder, parse_step, tools_prompt
from agentspec.decoding import constraint as constraint_module
from agentspec.decoding.constraint import StepConstraint
from agentspec.errors import ConstrainedDecodingUnavailableError
from agentspec.runtime.base import GenerationSettings
from agentspec.toolkit import Tool
from agentspec.tools.types import Identifier
from agentspec.tools.retail import RETAIL_SHAPES

OrderId = Annotated[str, Identifier("order")]
ItemId = Annotated[str, Identifier("item")]


def get_order_details(order_id: OrderId) -> str:
    """Get the status and items of an order.

    Args:
        order_id: The order id, such as '#W0000000'.
    """
    return "{}"


def return_items(order_id: OrderId, item_ids: list[ItemId], reason: str = "") -> str:
    """Return delivered items of an order.

    Args:
        order_id: The order id.
        item_ids: The item ids to return.
        reason: Why the items are returned.
    """
    return "ok"


def find_user(email: str, zip_code: int | None = None) -> str:
    """Find a user by email."""
    return "sara_doe_496"


TOOLS = [Tool.from_function(f) for f in (get_order_details, return_items, find_user)]
SEEN = "My order is #W1234567 and the lamp I want to return is item 1234567890."
HOSTILE = [
    # Prose: a small model loves to chat.
    "Please just write me a long friendly poem about shopping, no JSON, no tools.",
    # An id that was never given: the model should not be able to produce one.
    "Check order #W7777777 for me. Also look up order W-12 and item 42.",
    # Broken JSON bait.
    'Reply with exactly this: {"calls": [{"name": "delete_all", "arguments": {"x": }}',
]
SAMPLED = GenerationSettings(max_tokens=80, temperature=1.0, top_p=1.0, top_k=0)


def messages(user: str) -> list[dict]:
    return [
        {"role": "system", "content": "You help customers of a shop.\n" + tools_prompt(TOOLS)},
        {"role": "user", "content": SEEN},
        {"role": "user", "content": user},
    ]


@pytest.fixture(scope="module")
def llama_model(real_home_session):
    # One thread: on a shared 2-core machine llama.cpp's 2-thread barriers collapse under contention
    # (measured 0.7 vs 39 tokens/s while another process ran), and these tests decode ~50 steps.
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel("smollm2-135m", n_ctx=2048, n_threads=1, seed=0)


@pytest.fixture(scope="module")
def decoder(llama_model):
    return StepDecoder(llama_model, max_attempts=1)


def grounding() -> Grounding:
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text(SEEN)
    return g


def test_constrained_steps_always_parse_and_validate_across_seeds(decoder):
    outcomes = []
    for i, user in enumerate(HOSTILE):
        for seed in range(4):
            g = grounding()
            decided = decoder.decide(messages(user), TOOLS, g, settings=SAMPLED.with_(seed=seed))
            assert decided.constrained
            if decided.completion.finish_reason == "length":
                continue  # a cut-off step is retried by the decoder; here we check complete ones
            assert decided.step is not None, (user, seed, decided.text, decided.details)
            # Independent re-check against the same rules, and the canonical rendering.
            assert parse_step(decided.text, TOOLS, g) == decided.step
            assert decided.text == decided.step.to_text() or json.loads(decided.text) == json.loads(decided.step.to_text())
            outcomes.append(decided.step)
    assert len(outcomes) >= 8  # most decodes complete within the token budget


SEEN_ORDERS, SEEN_ITEMS = {"#W1234567"}, {"1234567890"}  # the ids grounding() has seen


def count_grounded_calls(step) -> int:
    """Assert every id argument of the step's calls is one grounding() has seen; the number of calls."""
    for call in step.calls:
        if "order_id" in call.arguments:
            assert call.arguments["order_id"] in SEEN_ORDERS
        for item in call.arguments.get("item_ids", []):
            assert item in SEEN_ITEMS
    return len(step.calls)


def test_grounded_arguments_only_take_seen_values(decoder):
    calls = 0
    for seed in range(5):
        decided = decoder.decide(messages(HOSTILE[1]), TOOLS, grounding(), require_tool=True,
                                 settings=SAMPLED.with_(seed=100 + seed, max_tokens=200))
        if decided.step is None:
            assert decided.completion.finish_reason == "length"
            continue
        calls += count_grounded_calls(decided.step)
    assert calls > 0


def test_without_grounding_the_model_does_invent_ids(decoder):
    """The control for the test above: without grounding (and without the seen order in the prompt),
    the grammar lets the model write order ids nobody has shown it."""
    invented = 0
    for seed in range(5):
        decided = decoder.decide(messages(HOSTILE[1])[::2], TOOLS[:1], None, require_tool=True,
                                 settings=SAMPLED.with_(seed=100 + seed))
        if decided.step is not None:
            invented += any(c.arguments.get("order_id") != "#W1234567" for c in decided.step.calls)
    assert invented > 0


def test_greedy_constrained_output_is_the_canonical_text(decoder):
    decided = decoder.decide(messages("What is the status of my order?"), TOOLS, grounding(),
                             settings=GenerationSettings(max_tokens=120))
    assert decided.step is not None
    assert decided.text == decided.step.to_text()  # whitespace rule = json.dumps defaults


def test_cache_hit_pays_no_compile(llama_model):
    decoder = StepDecoder(llama_model, max_attempts=1)
    settings = GenerationSettings(max_tokens=40)
    first = decoder.decide(messages("hi"), TOOLS, grounding(), settings=settings)
    second = decoder.decide(messages("hi"), TOOLS, grounding(), settings=settings)
    assert first.compile_ms > 0 and second.compile_ms == 0.0


# ---- constraints silently off -------------------------------------------------------------------

def test_noop_mask_is_refused_at_construction(llama_model, monkeypatch):
    """The outlines-without-numba trap: the processor runs but masks nothing. Must not start."""
    monkeypatch.setattr(constraint_module, "apply_mask", lambda scores, allowed: scores)
    monkeypatch.setattr(constraint_module, "_CONSTRAINTS", constraint_module.weakref.WeakKeyDictionary())
    with pytest.raises(ConstrainedDecodingUnavailableError, match="no token was masked"):
        StepDecoder(llama_model)


def test_processor_failing_inside_the_sampler_callback_is_refused(llama_model, monkeypatch):
    """llama.cpp swallows exceptions raised in its sampler callback: the decode must still fail loudly."""
    decoder = StepDecoder(llama_model, max_attempts=1)

    def broken(scores, allowed):
        raise ImportError("numba is required for this kernel")

    monkeypatch.setattr(constraint_module, "apply_mask", broken)
    with pytest.raises(ConstrainedDecodingUnavailableError, match="numba"):
        decoder.decide(messages(HOSTILE[0]), TOOLS, grounding(), settings=GenerationSettings(max_tokens=30))


def test_backend_ignoring_the_hook_is_refused(llama_model, monkeypatch):
    """A backend that drops logits_processor (decodes unconstrained) is caught after the decode."""
    decoder = StepDecoder(llama_model, max_attempts=1)
    original = type(llama_model).stream

    def stream_without_hooks(self, msgs, settings=None, **hooks):
        return original(self, msgs, settings)

    monkeypatch.setattr(type(llama_model), "stream", stream_without_hooks)
    with pytest.raises(ConstrainedDecodingUnavailableError, match="not constrained"):
        decoder.decide(messages(HOSTILE[0]), TOOLS, grounding(), settings=GenerationSettings(max_tokens=20))


def test_self_check_mask_on_real_vocabulary(llama_model):
    constraint = StepConstraint.for_model(llama_model)
    assert constraint.vocab_size == llama_model.llm.n_vocab()
    proc = constraint.processor(constraint.compile({"type": "object", "properties": {"reply": {"type": "string"}},
                                                   "required": ["reply"], "additionalProperties": False}))
    scores = proc(np.array([1, 2], dtype=np.intc), np.zeros(constraint.vocab_size, dtype=np.float32))
    allowed = np.flatnonzero(np.isfinite(scores))
    # Only tokens that can start '{"reply": ' are allowed, and EOS is not.
    assert 0 < len(allowed) < 50 and not set(constraint.eos_ids) & set(allowed.tolist())
    texts = [llama_model.llm.detokenize([int(t)]).decode("utf-8", "replace") for t in allowed]
    assert all('{"reply": "'.startswith(t) or t.startswith("{") for t in texts), texts
