"""Token drafts from a step decoded piece by piece, and the events of graph steps."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from agentspec.server.events import ReplyTokens, sse, step_events


def _feed(text: str, cuts: list[int]) -> str:
    tokens = ReplyTokens()
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return "".join(tokens.feed(text[a:b]) for a, b in zip(points, points[1:]))


@given(st.text(max_size=40), st.lists(st.integers(0, 200), max_size=12))
def test_the_reply_string_comes_out_whole_however_the_step_is_cut(reply, cuts):
    step = json.dumps({"reply": reply}, ensure_ascii=bool(len(reply) % 2))  # with and without \\u escapes
    assert _feed(step, cuts) == reply


@given(st.lists(st.integers(0, 200), max_size=12))
def test_a_step_that_calls_tools_gives_no_tokens(cuts):
    step = json.dumps({"calls": [{"name": "get_user_details", "arguments": {"user_id": "a \"reply\""}}]})
    assert _feed(step, cuts) == ""


def test_reset_starts_a_new_attempt():
    tokens = ReplyTokens()
    assert tokens.feed('{"reply": "Hel') == "Hel"
    tokens.reset()
    assert tokens.feed('{"reply": "Bye"}') == "Bye"
    assert tokens.feed(" trailing") == ""


def test_graph_steps_become_events():
    call = {"name": "cancel_pending_order", "arguments": {"order_id": "#W1"}}
    guard = {"verdicts": [{"call": call, "action": "run", "reason": None, "observation": None},
                          {"call": call, "action": "refuse", "reason": "other_user", "observation": "Error"}]}
    assert [e["event"] for e in step_events("guard", guard)] == ["tool_call", "refused"]
    act = {"trace": [{"kind": "tool", "calls": [{"name": "transfer_to_human_agents", "arguments": {"summary": "S"}}],
                      "output": "Transfer successful", "outcome": "ok"}]}
    events = step_events("act", act, handoff_tool="transfer_to_human_agents")
    assert [e["event"] for e in events] == ["tool_result", "handoff"] and events[1]["summary"] == "S"
    confirm = {"reply": "I'm about to ...", "trace": [{"kind": "graph", "outcome": "confirm"}]}
    assert [e["event"] for e in step_events("confirm", confirm)] == ["confirm", "reply"]
    assert step_events("begin", {"trace": [{"kind": "request", "output": ["cancel"]}]}) == []


def test_sse_frames_one_event():
    assert sse({"event": "token", "text": "a\nb"}) == 'event: token\ndata: {"text": "a\\nb"}\n\n'
