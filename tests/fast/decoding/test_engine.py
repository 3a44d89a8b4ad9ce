"""StepDecoder without a real model: the validate path (scripted), the openai request, the refusals."""
from __future__ import annotations

import json
from typing import Annotated, Literal

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

from agentspec.decoding import (GrammarCache, Grounding, StepDecoder, response_format, step_message, tool_signatures,
                                tools_prompt)
from agentspec.decoding.constraint import StepLogitsProcessor
from agentspec.decoding.prompt import observation_message
from agentspec.decoding.steps import ToolCall
from agentspec.errors import ConstrainedDecodingUnavailableError, EmptyGrammarError
from agentspec.runtime.openai import OpenAIChatModel
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.toolkit import Tool
from agentspec.tools.types import Identifier
from agentspec.tools.retail import RETAIL_SHAPES
from fake_matcher import FakeMatcher

OrderId = Annotated[str, Identifier("order")]


def get_order_details(order_id: OrderId) -> str:
    """Get the details of an order."""
    return json.dumps({"order_id": order_id, "status": "delivered"})


def find_user_id_by_email(email: str) -> str:
    """Find a user id by email."""
    return "sara_doe_496"


TOOLS = [Tool.from_function(f) for f in (find_user_id_by_email, get_order_details)]
GOOD = '{"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W1234567"}}]}'
MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "where is #W1234567?"}]


def grounding() -> Grounding:
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text(MSGS[1]["content"])
    return g


def test_good_step_passes_first_try():
    model = ScriptedChatModel([GOOD])
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding())
    assert decided.step is not None and decided.step.calls[0].arguments == {"order_id": "#W1234567"}
    assert (decided.attempts, decided.errors, decided.constrained) == (1, [], False)
    assert decided.text == GOOD
    assert model.calls[0]["messages"] == MSGS  # the prompt is passed through untouched


def test_malformed_then_good_is_retried_with_the_error_shown():
    model = ScriptedChatModel(["Sure! The order is on its way.", GOOD])
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding())
    assert decided.step is not None and decided.attempts == 2
    assert decided.errors == ["not_json"]
    retry_prompt = model.calls[1]["messages"]
    assert retry_prompt[:2] == MSGS
    assert retry_prompt[2] == {"role": "assistant", "content": "Sure! The order is on its way."}
    assert "not_json" in retry_prompt[3]["content"] and retry_prompt[3]["role"] == "user"
    assert model.calls[1]["settings"].seed == model.calls[0]["settings"].seed + 1


def test_ungrounded_identifier_is_malformed():
    bad = '{"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W7654321"}}]}'
    model = ScriptedChatModel([bad, GOOD])
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding())
    assert decided.errors == ["ungrounded_identifier"] and decided.step is not None


def test_always_malformed_gives_none_after_max_attempts_and_bounded_prompt():
    model = ScriptedChatModel(default_reply="I cannot do JSON")
    decided = StepDecoder(model, max_attempts=4).decide(MSGS, TOOLS, grounding())
    assert decided.step is None and decided.attempts == 4
    assert decided.errors == ["not_json"] * 4 and len(decided.details) == 4
    # Only the latest failed attempt is shown: the prompt does not grow with attempts.
    assert [len(c["messages"]) for c in model.calls] == [2, 4, 4, 4]


def test_reply_where_a_call_is_required_is_rejected_and_fence_is_tolerated():
    model = ScriptedChatModel(['{"reply": "hello"}', f"```json\n{GOOD}\n```"])
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding(), require_tool=True)
    assert decided.errors == ["reply_not_allowed"] and decided.step is not None
    assert "{\"reply\"" not in model.calls[1]["messages"][-1]["content"]  # correction offers calls only


def test_parallel_false_allows_one_call():
    two = json.loads(GOOD)
    two["calls"] *= 2
    model = ScriptedChatModel([json.dumps(two), GOOD])
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding(), parallel=False)
    assert decided.errors == ["too_many_calls"]


def test_schema_cached_by_grounding_and_empty_grammar_raises():
    cache = GrammarCache()
    decoder = StepDecoder(ScriptedChatModel(default_reply=GOOD), cache=cache)
    g = grounding()
    decoder.decide(MSGS, TOOLS, g)
    decoder.decide(MSGS, TOOLS, g)
    assert (cache.misses, cache.hits) == (1, 1)
    g.add("order", "#W0000001")
    decoder.decide(MSGS, TOOLS, g)
    assert cache.misses == 2
    with pytest.raises(EmptyGrammarError):
        decoder.decide(MSGS, TOOLS[1:], Grounding.from_shapes(RETAIL_SHAPES), require_tool=True)


def test_grammar_mode_refused_where_it_cannot_apply():
    with pytest.raises(ConstrainedDecodingUnavailableError):
        StepDecoder(ScriptedChatModel(), mode="grammar")
    with pytest.raises(ConstrainedDecodingUnavailableError):
        StepDecoder(OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1"), mode="grammar")
    with pytest.raises(ValueError):
        StepDecoder(ScriptedChatModel(), mode="fast")


def _sse(text: str) -> bytes:
    event = {"choices": [{"delta": {"content": text}}]}
    return f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode()


def test_openai_sends_the_step_schema_as_structured_output_and_validates():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        reply = "not json" if len(bodies) == 1 else GOOD
        return httpx.Response(200, content=_sse(reply), headers={"content-type": "text/event-stream"})

    model = OpenAIChatModel("m", base_url="http://server/v1")
    model._client = httpx.Client(transport=httpx.MockTransport(handler))
    decided = StepDecoder(model).decide(MSGS, TOOLS, grounding())
    assert decided.step is not None and decided.attempts == 2 and decided.errors == ["not_json"]
    assert decided.constrained is False  # the server may ignore the schema; we only validate
    fmt = bodies[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "step" and fmt["json_schema"]["strict"]
    schema_text = json.dumps(fmt["json_schema"]["schema"])
    assert "x-grounded" not in schema_text and "#W1234567" in schema_text  # grounded enum, no extension keys


def test_response_format_strips_extension_keys():
    schema = {"type": "object", "properties": {"a": {"type": "string", "x-grounded": "order"}}, "x-guidance": {}}
    out = response_format(schema)["json_schema"]["schema"]
    assert out == {"type": "object", "properties": {"a": {"type": "string"}}}


def test_prompt_helpers_render_the_canonical_step_format():
    model = ScriptedChatModel([GOOD])
    step = StepDecoder(model).decide(MSGS, TOOLS, grounding()).step
    assert step_message(step) == {"role": "assistant", "content": GOOD}
    obs = observation_message(ToolCall(name="get_order_details", arguments={}), '{"status": "delivered"}')
    assert obs["role"] == "user" and obs["content"].endswith('get_order_details: {"status": "delivered"}')
    text = tools_prompt(TOOLS)
    assert "x-grounded" not in text and '"name": "get_order_details"' in text and '{"reply"' in text
    assert '{"reply"' not in tools_prompt(TOOLS, require_tool=True)


def test_processor_tracks_the_generated_suffix_and_forces_eos():
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    prompt = np.array([9, 9, 9], dtype=np.intc)
    first = proc(prompt, np.zeros(40, dtype=np.float32))
    assert set(np.flatnonzero(np.isfinite(first))) == {5, 6}
    second = proc(np.append(prompt, 5).astype(np.intc), np.zeros(40, dtype=np.float32))
    assert set(np.flatnonzero(np.isfinite(second))) == {0}
    proc.verify(1)  # one token generated, two calls (the EOS one included)
    assert proc.consumed == [5]


def test_processor_failure_is_recorded_and_verify_refuses():
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    proc(np.array([9], dtype=np.intc), np.zeros(40, dtype=np.float32))
    # The backend ignored the mask and sampled 7: never silently accepted.
    out = proc(np.array([9, 7], dtype=np.intc), np.zeros(40, dtype=np.float32))
    assert set(np.flatnonzero(np.isfinite(out))) == {0}  # forced to stop
    with pytest.raises(ConstrainedDecodingUnavailableError, match="forbids"):
        proc.verify(1)


def test_processor_never_called_is_detected():
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    with pytest.raises(ConstrainedDecodingUnavailableError, match="not constrained"):
        proc.verify(12)


class Address(BaseModel):
    city: str
    zip: str


def ship(order_id: str, reason: Literal["lost", "late"], items: list[int], to: Address,
         note: str | None = None, express: bool = False) -> str:
    """Ship an order again.

    Long details nobody needs in the listing.
    """
    return "ok"


def test_signature_listing_is_short_and_keeps_types_enums_and_optionals():
    line = tool_signatures([Tool.from_function(ship)])
    assert line == ('- ship(order_id: str, reason: "lost" | "late", items: list[int], to: {city: str, zip: str}, '
                    'note?: str | null, express?: bool): Ship an order again.')
    full = tools_prompt([Tool.from_function(ship)], style="json")
    short = tools_prompt([Tool.from_function(ship)], style="signatures")
    assert len(short) < len(full) and "Long details" not in short and "Long details" in full
    with pytest.raises(ValueError, match="style"):
        tools_prompt([Tool.from_function(ship)], style="yaml")
