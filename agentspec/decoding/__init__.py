"""The tool-call grammar of one agent step: schema, grounding of identifier arguments, parsing, cache.

    schema = step_schema(registry.tools, grounding)      # JSON schema for the grammar backend
    step = parse_step(text, registry.tools, grounding)   # check unconstrained output
    decided = StepDecoder(model).decide(messages, registry.tools, grounding)   # decode one step
    records = execute_step(decided.step, registry, grounding)                  # run its calls
"""
from agentspec.decoding.cache import GrammarCache, cached_step_schema, step_key
from agentspec.decoding.grounding import Grounding, GroundingSnapshot
from agentspec.decoding.schema import (
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_REPLY_CHARS,
    grounded_kinds,
    grounded_parameters,
    step_schema,
    tools_fingerprint,
)
from agentspec.decoding.steps import Reply, Step, ToolCall, parse_step
from agentspec.decoding.engine import DecodedStep, DecodeMode, StepDecoder, response_format
from agentspec.decoding.prompt import observation_message, step_message, tool_listing, tool_signatures, tools_prompt
from agentspec.decoding.execute import CallRecord, LoopResult, StepRecord, execute_step, run_tool_loop

__all__ = [
    "CallRecord",
    "DecodeMode",
    "DecodedStep",
    "LoopResult",
    "StepDecoder",
    "StepRecord",
    "execute_step",
    "observation_message",
    "response_format",
    "run_tool_loop",
    "step_message",
    "tool_listing",
    "tool_signatures",
    "tools_prompt",
    "DEFAULT_MAX_CALLS",
    "DEFAULT_MAX_REPLY_CHARS",
    "GrammarCache",
    "Grounding",
    "GroundingSnapshot",
    "Reply",
    "Step",
    "ToolCall",
    "cached_step_schema",
    "grounded_kinds",
    "grounded_parameters",
    "parse_step",
    "step_key",
    "step_schema",
    "tools_fingerprint",
]
