"""The nodes of the agent graph (besides the guard's): plain functions ``(state, deps) -> update``.

One turn (see ``build``): ``begin`` takes the user's message; ``decide`` decodes one step under the
grammar narrowed to the tools the state allows; ``guard`` (``guard.py``) rules on its calls;
``act`` runs the allowed calls and records observations; the loop goes back to ``decide`` until a
reply. ``confirm`` ends a turn with the graph's statement of a pending write; ``respond`` ends it with
the model's reply or, when the graph stops the turn itself (step limit, repeated calls, malformed
steps, hand-off) or nobody can be authenticated yet (``policy.identity_request``) or the verified
user has asked for nothing yet (``policy.request_question``), with a fixed sentence. Routers return
``Literal`` node names.

Tool failures are observations (``Error: ...``), never exceptions; a malformed step is retried by the
decoder; only our own bugs raise.
"""
from __future__ import annotations

import re
import time
from typing import Any, Literal

from agentspec.decoding.grounding import DEFAULT_PHRASES, Grounding
from agentspec.decoding.prompt import step_message
from agentspec.decoding.schema import grounded_parameters
from agentspec.decoding.steps import Reply, Step, ToolCall
from agentspec.graph.context import build_prompt, observation_with_meta
from agentspec.graph.deps import AgentDeps
from agentspec.graph.determined import determined_handoff, determined_write
from agentspec.graph.guard import (bar_repeated_lookups, is_yes, keep_named_targets, keep_said_choices, looked_up_value,
                                   ruling)
from agentspec.graph.identity import identity_given
from agentspec.graph.state import AgentState, CallDict, call_fingerprint

__all__ = ["STOP_REPLIES", "act", "begin", "confirm", "decide", "respond", "route_act", "route_begin",
           "route_decide"]

# Questions, not apologies: the turn stopped, the request stands, and a customer (or a simulated one)
# who reads "I'm sorry, I could not" hears a refusal and leaves.
STOP_REPLIES = {
    "limit": "Let me make sure I get this right: could you tell me once more, in one sentence, what you would "
             "like me to do?",
    "repeat": "I keep looking at the same thing. Could you tell me once more what you would like me to do?",
    "malformed": "Could you tell me once more, in other words, what you would like me to do?",
}


def _grounding_update(text: str) -> dict[str, list[str]]:
    g = Grounding()
    g.observe_text(text)
    return g.as_dict()


def begin(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """A user message arrived (already appended by the caller): reset the turn, settle a pending write."""
    text = state["messages"][-1]["content"]
    update: dict[str, Any] = {
        "turn": state.get("turn", 0) + 1, "steps": 0, "repeats": 0, "recent_calls": [], "looked_up": {},
        "stop": None, "reply": None, "step": None, "verdicts": [], "confirmed": [], "pending": None, "cannot": None,
        "grounding": _grounding_update(text), "asked": [],
    }
    policy = deps.spec.policy
    if policy.writes_follow_named or policy.lookups_follow_named or policy.choices_follow_said:
        update["said_since_write"] = [*(state.get("said_since_write") or []), text]
    trace: list[dict[str, Any]] = []
    expert, scores = deps.route(state["messages"])
    if expert is not None:
        update["expert"] = expert
        trace.append({"turn": update["turn"], "kind": "route", "output": expert,
                      "scores": {k: round(v, 3) for k, v in scores.items()}})
    pending = state.get("pending")
    # An answer to a stated write is about that write (yes, no, a changed detail), never a new request:
    # the classifier learned such answers as ``none``, and "yes but change the reason" is no modification.
    # The first message after the graph's "How can I help you today?" answers it: a request.
    answering = bool(state.get("request_asked") and not state.get("requests"))
    asked, probs = deps.requests_in(text, answering=answering) if not pending else ([], {})
    if probs:
        known = list(state.get("requests") or [])
        update["requests"] = known + [r for r in asked if r not in known]
        update["asked"] = list(asked)
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
        trace.append({"turn": update["turn"], "kind": "request", "output": asked, "requests": update["requests"],
                      "scores": {k: round(v, 3) for k, v in top}})
    if trace:
        update["trace"] = trace
    if pending and is_yes(text):
        # The user confirmed exactly what the graph stated: run that, not whatever the model says next.
        update["confirmed"] = pending["calls"]
        update["step"] = {"calls": pending["calls"]}
    elif pending:  # not confirmed: never stated again by the graph itself (policy.writes_when_determined)
        update["declined"] = [*(state.get("declined") or []), *(call_fingerprint(c) for c in pending["calls"])]
    return update


def route_begin(state: AgentState) -> Literal["guard", "decide"]:
    return "guard" if state.get("confirmed") else "decide"


def decide(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Decode one step with the tools the state allows and the identifiers seen so far."""
    user = state.get("user_id")
    policy = deps.spec.policy
    # Before any narrowing of tools: verified, but nothing said so far asks for anything: ask, once,
    # rather than let the model guess.
    if policy.request_question and user and not state.get("request_asked") and _asked_for_nothing(state, deps):
        return {"step": None, "stop": "ask", "request_asked": True}  # respond says it (and traces it)
    offered = deps.offered_tools(user, state.get("requests"))
    tools = bar_repeated_lookups(offered, state.get("looked_up"))
    said, seen = state.get("said_since_write"), state.get("grounding") or {}
    writes = set(policy.requires_confirmation)
    grounding = Grounding(seen)
    tools, described = keep_named_targets(tools, writes, policy.writes_follow_named, said, seen, deps.mentioned)
    lookups = {t.name for t in tools} - writes
    tools, described_too = keep_named_targets(tools, lookups, policy.lookups_follow_named, said, seen,
                                              deps.mentioned)
    for kind, ids in (*described.items(), *described_too.items()):
        for value in ids:  # described by the user, found by the toolkit: grounded for this step's grammar
            grounding.add(kind, value)
    if policy.choices_follow_said:
        tools = keep_said_choices(tools, writes, said, policy.choice_phrases)
    if policy.writes_when_determined and user:
        call, cannot = _determined(state, deps, tools, said, seen, grounding)
        if cannot is not None:
            # "If it's not too late, cancel #W8808605": every argument given, and the store refuses it
            # (the order is processed). The customer hears why; the expert answered with noise.
            entry = {"turn": state.get("turn", 0), "kind": "graph", "step": state.get("steps", 0) + 1,
                     "output": cannot, "outcome": "refused"}
            return {"steps": state.get("steps", 0) + 1, "trace": [entry], "step": None, "stop": "cannot",
                    "cannot": cannot}
        if call is not None:
            entry = {"turn": state.get("turn", 0), "kind": "graph", "step": state.get("steps", 0) + 1,
                     "calls": [call], "outcome": "determined"}
            return {"steps": state.get("steps", 0) + 1, "trace": [entry], "step": {"calls": [call]}}
    limits = deps.spec.limits
    parallel = limits.max_calls_per_step > 1
    system = deps.prompt.render(offered, user, parallel=parallel)  # the barred values are the grammar's only
    messages, compacted = build_prompt(system, state.get("messages", []), deps.count_tokens, deps.prompt_budget,
                                       keep=limits.keep_observations, max_chars=limits.max_observation_chars)
    started = time.perf_counter()
    deps.use_expert(state.get("expert"))  # here, not in begin: a resumed session re-activates it
    # policy.act_on_requests: a new request is acted on (read, written, handed off) before any reply.
    scope = deps.spec.routing.requests
    acting = [r for r in state.get("asked") or [] if scope is not None and scope.tools.get(r)]
    must_act = bool(policy.act_on_requests and user and acting and not state.get("steps"))
    # policy.act_on_identity: an email, or a name dictated with its zip code, is looked up before any reply.
    must_act = must_act or bool(policy.act_on_identity and not user and not state.get("steps")
                                and identity_given(state, deps))
    if must_act and all(grounded_parameters(t, grounding) is None for t in tools):
        must_act = False  # nothing can be called with what was seen: words are the only step left
    decided = deps.decoder.decide(messages, tools, grounding, allow_reply=not must_act,
                                  parallel=parallel, max_calls=limits.max_calls_per_step, settings=deps.settings)
    step = decided.step
    unbacked = _unbacked_claim(state, deps, step)
    if unbacked and any(grounded_parameters(t, grounding) is not None for t in tools):
        # "The order #W6067464 has been cancelled" with nothing written: the customer would leave
        # believing it. The same step again, as a call (the write itself, or the read it needs).
        decided = deps.decoder.decide(messages, tools, grounding, allow_reply=False, parallel=parallel,
                                      max_calls=limits.max_calls_per_step, settings=deps.settings)
        step = decided.step
    usage = decided.completion.usage
    entry = {
        "turn": state.get("turn", 0), "kind": "decide", "step": state.get("steps", 0) + 1,
        "tools_offered": [t.name for t in tools], "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "output": decided.text, "attempts": decided.attempts,
        "errors": list(decided.errors), "error_details": list(getattr(decided, "details", [])),
        "constrained": decided.constrained, "compile_ms": round(decided.compile_ms, 1), "compacted": compacted,
        "dropped_messages": decided.completion.dropped_messages,
        "outcome": "malformed" if step is None else ("reply" if step.reply is not None else "calls"),
        "expert": state.get("expert"),
        "latency_ms": round((time.perf_counter() - started) * 1e3, 1),
        **({"unbacked_claim": unbacked} if unbacked else {}),
    }
    update: dict[str, Any] = {"steps": state.get("steps", 0) + 1, "trace": [entry]}
    if step is None:
        update.update(step=None, stop="malformed")
    elif step.reply is not None:
        update["step"] = {"reply": step.reply.text}
    else:
        update["step"] = {"calls": [{"name": c.name, "arguments": dict(c.arguments)} for c in step.calls]}
    return update


# A reply that says a change was made: "has been cancelled", "I have updated". Not a status ("was
# cancelled", "has already been cancelled": a forbidden request's answer) and not a future ("will be").
_CLAIM = re.compile(r"\b(?:has|have) been (?:cancell?ed|modified|changed|updated|returned|exchanged|refunded|"
                    r"processed|submitted)\b|\bI(?:'ve| have) (?:now )?(?:cancell?ed|modified|changed|updated|"
                    r"returned|exchanged|processed|submitted)\b", re.I)


def _unbacked_claim(state: AgentState, deps: AgentDeps, step: Step | None) -> str | None:
    """The words of a reply that claim a write when none has succeeded in this conversation
    (``policy.claims_need_writes``); None otherwise. After a write the claim may be about it."""
    if not deps.spec.policy.claims_need_writes or step is None or step.reply is None or not state.get("user_id"):
        return None
    found = _CLAIM.search(step.reply.text)
    if found is None:
        return None
    writes = set(deps.spec.policy.requires_confirmation)
    for entry in state.get("trace") or []:
        if entry.get("kind") == "tool" and entry.get("outcome") == "ok" and entry["calls"][0]["name"] in writes:
            return None
    return found.group(0)


def _asked_for_nothing(state: AgentState, deps: AgentDeps) -> bool:
    """No request recognised (``routing.requests``) and no target named (an order id in "cancel #W1, I'm
    alice@example.com": the classifier may not know a terse phrasing, the ids say it is a request)."""
    if deps.spec.routing.requests is None or state.get("requests"):
        return False
    targets = set(deps.spec.policy.writes_follow_named) - set(DEFAULT_PHRASES)  # any word run is "dictated"
    named = Grounding()
    for message in state.get("messages", []):
        if message.get("role") == "user":
            named.observe_text(str(message.get("content") or ""))
    return not any(named.as_dict().get(kind) for kind in targets)


def _determined(state: AgentState, deps: AgentDeps, tools: list[Any], said: list[str] | None,
                seen: dict[str, list[str]], grounding: Grounding) -> tuple[CallDict | None, str | None]:
    """The hand-off or write the user's words determine (``agentspec.graph.determined``), for ``decide``:
    only one the guard would let through (``ruling``) and the user did not decline; else, when exactly
    one write is so determined and its dry run fails, the error (what the customer is told). Two
    candidates that both fail (an exchange and a modification of an item out of stock) say different
    things: the model explains."""
    scope = deps.spec.routing.requests
    if scope is None:
        return None, None
    policy, requests = deps.spec.policy, state.get("requests") or []
    declined = set(state.get("declined") or [])
    judged, refused = [], []  # every call ruled on; the dry-run errors among them

    def allowed(call: CallDict, ruled: str) -> bool:
        verdict = ruling(deps, state, call)
        outcome = verdict if isinstance(verdict, str) else verdict["action"]
        judged.append(call)
        if not isinstance(verdict, str) and verdict["reason"] == "precheck":
            refused.append(str(verdict["observation"]))
        return outcome == ruled and call_fingerprint(call) not in declined

    handoff = next((t for t in tools if t.name == policy.handoff_tool), None)
    call = determined_handoff(handoff, requests, scope.tools, said, str(state.get("user_id")),
                              lambda text: deps.requests_in(text)[0])
    if call is not None and allowed(call, "run"):
        return call, None
    judged.clear()
    refused.clear()
    asked_for = {tool for request in requests for tool in scope.tools.get(request, [])}
    call = determined_write(tools, asked_for & set(policy.requires_confirmation), policy.writes_follow_named,
                            said, seen, grounding, deps.mentioned, lambda c: allowed(c, "confirm"))
    if call is None and len(judged) == 1 and refused and not state.get("cannot"):
        return None, refused[0]
    return call, None


def route_decide(state: AgentState) -> Literal["guard", "respond"]:
    step = state.get("step") or {}
    return "guard" if step.get("calls") else "respond"


def act(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Run the allowed calls; record the step and every observation (refusals included)."""
    policy = deps.spec.policy
    user = state.get("user_id")
    recent = list(state.get("recent_calls", []))
    looked_up = {name: list(values) for name, values in (state.get("looked_up") or {}).items()}
    said = state.get("said_since_write") or []
    reports: list[str] = []  # the graph's own words for the writes done (policy.report_writes)
    calls: list[CallDict] = []
    observations: list[dict[str, Any]] = []
    trace: list[dict[str, Any]] = []
    grounding = Grounding()
    stop = None
    cannot = state.get("cannot")
    declined = state.get("declined") or []
    for verdict in state.get("verdicts", []):
        call = verdict["call"]
        calls.append(call)
        if verdict["action"] == "refuse":
            observation, outcome = verdict["observation"] or "Error: policy: refused", "refused"
            if verdict["reason"] in ("precheck", "other_user"):
                # The same call again is a repeat (refused, and it ends the turn): the answer stands, and
                # the customer hears it ("someone else's order") rather than a request to rephrase.
                recent.append(call_fingerprint(call))
                cannot = observation
        else:
            started = time.perf_counter()
            result = deps.registry.call(call["name"], call["arguments"])
            observation = result.observation
            outcome = "error" if result.kind != "ok" or observation.startswith("Error:") else "ok"
            if outcome == "ok" and call["name"] in policy.auth_tools:
                found = observation.strip().strip('"')
                if user is None:
                    user = found
                elif found != user:
                    observation, outcome = (f"Error: policy: this conversation is already authenticated as {user}; "
                                            "only one user can be helped per conversation."), "refused"
            if outcome == "ok":
                grounding.observe_text(observation)
                if call["name"] in policy.requires_confirmation:
                    recent, looked_up = [], {}  # the state changed: the same lookup may now answer differently
                    said, declined = [], []  # that request is served: the next one names its own targets
                    if policy.report_writes:
                        reports.append(deps.report(call))
                if call["name"] == policy.handoff_tool:
                    stop = "handoff"
            recent.append(call_fingerprint(call))
            if (value := looked_up_value(deps.registry.get(call["name"]), call)) is not None:
                looked_up.setdefault(call["name"], []).append(value)
            trace.append({"turn": state.get("turn", 0), "kind": "tool", "calls": [call], "output": observation,
                          "outcome": outcome, "latency_ms": round((time.perf_counter() - started) * 1e3, 1)})
        observations.append(observation_with_meta(call, observation))
    step = Step(calls=tuple(ToolCall(name=c["name"], arguments=c["arguments"]) for c in calls))
    if reports and stop is None:
        # A small model's reply after a write drifts ("The policy you are referring to is ..."): the
        # graph says what was done, from the store, and the turn ends there.
        stop = "reported"
    return {
        "messages": [step_message(step), *observations], "grounding": grounding.as_dict(), "trace": trace,
        "user_id": user, "recent_calls": recent, "looked_up": looked_up, "said_since_write": said, "declined": declined,
        "verdicts": [], "confirmed": [], "step": None, "stop": stop, "cannot": cannot,
        **({"reply": " ".join(reports)} if stop == "reported" else {}),
    }


def route_act(state: AgentState, deps: AgentDeps) -> Literal["decide", "respond"]:
    if state.get("stop"):
        return "respond"
    if state.get("steps", 0) >= deps.spec.limits.max_steps_per_turn:
        return "respond"
    return "decide"


def _reply_update(state: AgentState, text: str, kind: str, outcome: str) -> dict[str, Any]:
    entry = {"turn": state.get("turn", 0), "kind": kind, "output": text, "outcome": outcome}
    message = step_message(Step(reply=Reply(text=text)))
    if outcome.startswith("stopped"):
        # The user reads the graph's stop sentence; the model does not (``context.build_prompt`` skips
        # it): small models copy such sentences verbatim into later replies.
        message = {**message, "hidden_from_model": True}
    return {"messages": [message], "reply": text, "trace": [] if kind == "decide" else [entry]}


def confirm(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """End the turn with the graph's statement of the pending write and the question."""
    return _reply_update(state, state["pending"]["statement"], "graph", "confirm")  # type: ignore[index]


def respond(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """End the turn: the model's reply, or the graph's fixed sentence when it stopped the turn.

    Before anyone is authenticated, and while the user has given nothing to authenticate with, the
    spec's ``identity_request`` replaces the model's reply: the policy's first step is not optional,
    and a small model's reply there drifts ("Sure, go to the order pages") and loses the customer.
    """
    step = state.get("step") or {}
    stop = state.get("stop")
    if step.get("reply") is not None and not stop:
        ask = deps.spec.policy.identity_request
        if ask and state.get("user_id") is None and not identity_given(state, deps):
            return _reply_update(state, ask, "graph", "identity")
        return _reply_update(state, step["reply"], "decide", "reply")
    if stop == "handoff":
        return _reply_update(state, deps.spec.policy.handoff_message, "graph", "handoff")
    if stop == "reported":
        return _reply_update(state, state.get("reply") or "", "graph", "reported")
    if stop == "ask":
        return _reply_update(state, deps.spec.policy.request_question or "", "graph", "ask")
    if state.get("cannot") and stop in ("cannot", "limit", "repeat", "malformed", None):
        # The model kept at a write the tool refuses (a refund to a card the policy does not allow):
        # the customer hears the tool's reason, not a request to rephrase.
        reason_text = state["cannot"].removeprefix("Error:").strip().removeprefix("policy:").strip().rstrip(".")
        return _reply_update(state, f"I can't do that: {reason_text}. Is there anything else I can help you with?",
                             "graph", "cannot")
    reason = stop or "limit"
    return _reply_update(state, STOP_REPLIES[reason], "graph", f"stopped: {reason}")
