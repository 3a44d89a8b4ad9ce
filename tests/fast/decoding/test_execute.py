"""Executing steps: the three outcomes kept apart, grounding fed by observations, the small loop."""
from __future__ import annotations

import json
from typing import Annotated

import pytest

from agentspec.decoding import Grounding, StepDecoder, execute_step, parse_step, run_tool_loop
from agentspec.decoding.execute import StepRecord
from agentspec.errors import ToolError
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.toolkit import ToolRegistry
from agentspec.tools.types import Identifier
from agentspec.tools.retail import RETAIL_SHAPES

OrderId = Annotated[str, Identifier("order")]
UserId = Annotated[str, Identifier("user")]


def get_user_details(user_id: UserId) -> dict:
    """Get a user's orders."""
    return {"user_id": user_id, "orders": ["#W1111111"]}


def get_order_details(order_id: OrderId) -> str:
    """Get the details of an order."""
    if order_id == "#W2222222":
        raise ToolError("Order not found")
    return json.dumps({"order_id": order_id, "status": "delivered"})


def cancel_order(order_id: OrderId, reason: int) -> str:
    """Cancel an order (buggy)."""
    raise ZeroDivisionError("bug in the toolkit")


REGISTRY = ToolRegistry([get_user_details, get_order_details, cancel_order])
USER = {"role": "user", "content": "I am sara_doe_496 and order #W2222222 is late."}


def call(name: str, **arguments) -> str:
    return json.dumps({"calls": [{"name": name, "arguments": arguments}]})


def test_observations_ground_new_ids_and_errors_do_not():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text(USER["content"])
    step = parse_step(call("get_user_details", user_id="sara_doe_496"), REGISTRY.tools, g)
    [record] = execute_step(step, REGISTRY, g)
    assert record.outcome == "ok" and ("order", "#W1111111") in record.grounded
    assert ("order", "#W1111111") in g
    step = parse_step(call("get_order_details", order_id="#W2222222"), REGISTRY.tools, g)
    [record] = execute_step(step, REGISTRY, g)
    assert record.outcome == "tool_error" and record.observation == "Error: Order not found"
    assert record.grounded == ()


def test_loop_trace_keeps_malformed_tool_error_and_reply_apart():
    model = ScriptedChatModel([
        "let me check",  # malformed -> retried
        call("get_order_details", order_id="#W2222222"),  # tool error -> observation
        call("get_user_details", user_id="sara_doe_496"),  # ok -> grounds #W1111111
        call("get_order_details", order_id="#W1111111"),  # usable now
        '{"reply": "Your order #W1111111 was delivered."}',
    ])
    result = run_tool_loop(StepDecoder(model), REGISTRY, [USER], Grounding.from_shapes(RETAIL_SHAPES))
    assert result.stopped == "reply" and result.reply.startswith("Your order")
    kinds = [(r.kind, r.retried, [c.outcome for c in r.calls]) for r in result.trace]
    assert kinds == [
        ("calls", ["not_json"], ["tool_error"]),
        ("calls", [], ["ok"]),
        ("calls", [], ["ok"]),
        ("reply", [], []),
    ]
    # The model saw the error as an observation, right after its step.
    assert result.messages[2]["content"].endswith("get_order_details: Error: Order not found")


def test_invalid_arguments_are_an_observation_not_a_crash():
    model = ScriptedChatModel([call("get_order_details", order_id="#W2222222"), '{"reply": "ok"}'])
    # Validate-only decoding with grounding off: the argument reaches the registry's validation.
    reg = ToolRegistry([get_order_details])
    outcome = reg.call("get_order_details", {"order_id": 5})
    assert outcome.kind == "invalid_arguments" and outcome.observation.startswith("Error:")
    result = run_tool_loop(StepDecoder(model), reg, [USER], None)
    assert result.trace[0].calls[0].outcome == "tool_error"


def test_bug_raises_and_is_recorded_in_the_trace():
    model = ScriptedChatModel([call("cancel_order", order_id="#W2222222", reason=1)])
    trace: list[StepRecord] = []
    with pytest.raises(ZeroDivisionError):
        run_tool_loop(StepDecoder(model), REGISTRY, [USER], Grounding.from_shapes(RETAIL_SHAPES), trace=trace)
    assert trace[-1].kind == "bug" and "ZeroDivisionError" in trace[-1].error


def test_loop_stops_on_persistently_malformed_steps_and_on_max_steps():
    result = run_tool_loop(StepDecoder(ScriptedChatModel(default_reply="nope"), max_attempts=2),
                           REGISTRY, [USER], Grounding.from_shapes(RETAIL_SHAPES))
    assert result.stopped == "malformed" and result.trace[0].decided.errors == ["not_json", "not_json"]
    looping = ScriptedChatModel(default_reply=call("get_user_details", user_id="sara_doe_496"))
    result = run_tool_loop(StepDecoder(looping), REGISTRY, [USER], Grounding.from_shapes(RETAIL_SHAPES), max_steps=3)
    assert result.stopped == "max_steps" and len(result.trace) == 3
