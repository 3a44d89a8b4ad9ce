"""The model's step and what follows it: plain functions ``(state, deps) -> update``.

One turn (see ``build``): ``begin`` (``reading``) reads the user's message; ``plan`` (``planning``)
takes the graph's own step when the state decides one; otherwise ``decide`` decodes one step under
the grammar narrowed to what the state allows (``narrowing``); ``guard`` rules on its calls;
``act`` runs the allowed calls and records observations; the loop goes back to ``plan`` until a
reply. ``confirm`` ends a turn with the graph's statement of a pending write; ``respond`` ends it
with the model's reply or, when the graph ended the turn itself, with the spec's sentence for why
(``messages``). Routers return ``Literal`` node names. A model reply that repeats an earlier one, or
says a write is done when none ran in the turn (the toolkit's ``claims_done``), is decoded again as
a call; with nothing to call, the false claim gives way to ``messages.stopped``.

Tool failures are observations (``Error: ...``), never exceptions; a malformed step is retried by the
decoder; only our own bugs raise.
"""
from __future__ import annotations

import json
import time
from difflib import SequenceMatcher
from typing import Any, Literal

from agentspec.decoding.prompt import step_message
from agentspec.decoding.steps import Reply, Step, ToolCall
from agentspec.graph.context import build_prompt, observation_with_meta
from agentspec.graph.deps import AgentDeps
from agentspec.graph.identity import identity_failed, identity_given
from agentspec.graph.narrowing import any_callable, looked_up_value, narrowed
from agentspec.graph.reading import settle
from agentspec.graph.recall import with_context
from agentspec.graph.state import AgentState, CallDict, call_fingerprint

__all__ = ["act", "confirm", "decide", "respond", "route_act", "route_decide"]


def decide(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Decode one model step with the tools the state allows and the identifiers seen so far."""
    user = state.get("user_id")
    policy, limits = deps.spec.policy, deps.spec.limits
    allowed = narrowed(state, deps)
    parallel = limits.max_calls_per_step > 1
    system = deps.prompt.render(allowed.offered, user, parallel=parallel)  # the barred values are the grammar's only
    messages, compacted = build_prompt(system, with_context(state.get("messages", []), state), deps.count_tokens, deps.prompt_budget,
                                       keep=limits.keep_observations, max_chars=limits.max_observation_chars)
    started = time.perf_counter()
    deps.use_expert(state.get("expert"))  # here, not in begin: a resumed session re-activates it
    understanding = deps.spec.understanding
    # policy.act_on_requests: a new request is acted on (read, written, handed off) before any reply.
    acting = [r for r in state.get("asked") or [] if understanding is not None and understanding.requests.get(r)]
    must_act = bool(policy.act_on_requests and user and acting and not state.get("steps"))
    # act_on_identity: what an auth tool needs was given: it is looked up before any reply.
    must_act = must_act or bool(policy.authentication.act_on_identity and not user and not state.get("steps")
                                and identity_given(state, deps))
    if must_act and not any_callable(allowed.tools, allowed.grounding):
        must_act = False  # nothing can be called with what was seen: words are the only step left
    decided = deps.decoder.decide(messages, allowed.tools, allowed.grounding, allow_reply=not must_act,
                                  parallel=parallel, max_calls=limits.max_calls_per_step, settings=deps.settings)
    step = decided.step
    text = step.reply.text if step is not None and step.reply is not None else None
    repeated = text is not None and _repeats_a_reply(state, text)
    claimed = text is not None and not repeated and _claims_an_undone_write(state, deps, text)
    callable_now = any_callable(allowed.tools, allowed.grounding)
    if (repeated or claimed) and callable_now:
        # The same words again answer nothing the customer said since: a model stuck on one sentence
        # (the customer would leave), or one copying an earlier report with another id. A reply saying a
        # write is done when none ran in this turn is false. The same step again, as a call.
        decided = deps.decoder.decide(messages, allowed.tools, allowed.grounding, allow_reply=False,
                                      parallel=parallel, max_calls=limits.max_calls_per_step, settings=deps.settings)
        step = decided.step
    usage = decided.completion.usage
    entry = {
        "turn": state.get("turn", 0), "kind": "decide", "step": state.get("steps", 0) + 1,
        "tools_offered": [t.name for t in allowed.tools], "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "output": decided.text, "attempts": decided.attempts,
        "errors": list(decided.errors), "error_details": list(getattr(decided, "details", [])),
        "constrained": decided.constrained, "compile_ms": round(decided.compile_ms, 1), "compacted": compacted,
        "dropped_messages": decided.completion.dropped_messages,
        "outcome": "malformed" if step is None else ("reply" if step.reply is not None else "calls"),
        "expert": state.get("expert"),
        "latency_ms": round((time.perf_counter() - started) * 1e3, 1),
        **({"repeated_reply": True} if repeated else {}), **({"claimed_write": True} if claimed else {}),
    }
    update: dict[str, Any] = {"steps": state.get("steps", 0) + 1, "trace": [entry]}
    if step is None:
        update.update(step=None, stop="malformed")
    elif claimed and not callable_now:  # nothing to call: the customer is asked, not told a falsehood
        update.update(step=None, stop="claimed")
    elif step.reply is not None:
        update["step"] = {"reply": step.reply.text}
    else:
        update["step"] = {"calls": [{"name": c.name, "arguments": dict(c.arguments)} for c in step.calls]}
    return update


NEAR_COPY = 0.8  # character similarity above which a reply is an earlier one again (ids aside)


def _claims_an_undone_write(state: AgentState, deps: AgentDeps, text: str) -> bool:
    """``text`` says a write is done (the toolkit's ``claims_done``) and no write ran in this turn."""
    writes, turn = set(deps.spec.policy.confirmation.tools), state.get("turn", 0)
    for entry in reversed(state.get("trace") or []):
        if entry.get("turn") != turn:
            break
        if entry.get("kind") == "tool" and entry.get("outcome") == "ok" and \
                any(call["name"] in writes for call in entry.get("calls") or []):
            return False
    return deps.claims_done(text)


def _repeats_a_reply(state: AgentState, text: str) -> bool:
    """``text`` is the last reply again, or a near copy (``NEAR_COPY``) of any earlier reply of 40
    characters or more: "The return of X from order #W1 has been requested" said again for order #W2."""
    if text == _last_reply(state):
        return True
    earlier = (_reply_text(m) for m in state.get("messages", []) if m.get("role") == "assistant")
    return any(len(e) >= 40 and SequenceMatcher(None, e, text).ratio() >= NEAR_COPY for e in earlier if e)


def _last_reply(state: AgentState) -> str | None:
    """The text of the last reply the user read from this agent (None before any)."""
    for message in reversed(state.get("messages", [])):
        if message.get("role") == "assistant":
            step = _reply_text(message)
            if step is not None:
                return step
    return None


def _reply_text(message: dict[str, Any]) -> str | None:
    try:
        data = json.loads(str(message.get("content") or ""))
    except ValueError:
        return None
    return data.get("reply") if isinstance(data, dict) and isinstance(data.get("reply"), str) else None


def route_decide(state: AgentState) -> Literal["guard", "respond"]:
    step = state.get("step") or {}
    return "guard" if step.get("calls") else "respond"


def act(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Run the allowed calls; record the step and every observation (refusals included)."""
    policy = deps.spec.policy
    user = state.get("user_id")
    recent = list(state.get("recent_calls", []))
    failed = list(state.get("failed_calls") or [])
    looked_up = {name: list(values) for name, values in (state.get("looked_up") or {}).items()}
    reports: list[str] = []  # the graph's own words for the writes done (policy.confirmation.report)
    calls: list[CallDict] = []
    observations: list[dict[str, Any]] = []
    trace: list[dict[str, Any]] = []
    grounding = deps.grounding()
    stop = None
    cannot = state.get("cannot")
    settled: dict[str, Any] = {}
    for index, verdict in enumerate(state.get("verdicts", [])):
        call = verdict["call"]
        calls.append(call)
        if verdict["action"] == "refuse":
            observation, outcome = verdict["observation"] or "Error: policy: refused", "refused"
            if verdict["reason"] in ("precheck", "other_user"):
                # The same call again is a repeat (refused, and it ends the turn): the answer stands, and
                # the customer hears it rather than a request to rephrase.
                recent.append(call_fingerprint(call))
                cannot = {"tool": call["name"], "error": observation, "why": verdict["reason"], "call": call,
                          "unasked": verdict["reason"] == "precheck" and _unasked(state, deps, call["name"])}
        else:
            started = time.perf_counter()
            observation, ran = deps.run(call, _write_key(state, index, call) if call["name"] in policy.confirmation.tools else None)
            outcome = "error" if observation.startswith("Error:") else "ok"
            if outcome == "ok" and call["name"] in policy.authentication.tools:
                found = observation.strip().strip('"')
                if user is None:
                    user = found
                elif found != user:
                    observation, outcome = (f"Error: policy: this conversation is already authenticated as {user}; "
                                            "only one user can be helped per conversation."), "refused"
            if outcome == "ok":
                grounding.observe_text(observation)
                if call["name"] in policy.confirmation.tools:
                    deps.remember_write(user, call, observation, int(state.get("turn", 0)))
                    recent, looked_up, failed = [], {}, []  # the state changed: the same lookup may now answer differently
                    settled = settle({**state, **settled}, deps, [call["name"]])  # that request is served
                    if policy.confirmation.report:
                        reports.append(deps.report(call))
                if call["name"] == policy.handoff.tool:
                    stop = "handoff"
                    settled = settle(state, deps, [], everything=True)
            recent.append(call_fingerprint(call))
            if outcome != "ok":
                failed.append(call_fingerprint(call))
            if (value := looked_up_value(deps.registry.get(call["name"]), call)) is not None:
                looked_up.setdefault(call["name"], []).append(value)
            trace.append({"turn": state.get("turn", 0), "kind": "tool", "calls": [call], "output": observation,
                          "outcome": outcome, "latency_ms": round((time.perf_counter() - started) * 1e3, 1),
                          **({} if ran else {"replayed": True})})
        observations.append(observation_with_meta(call, observation))
    step = Step(calls=tuple(ToolCall(name=c["name"], arguments=c["arguments"]) for c in calls))
    if reports and stop is None:
        # A small model's reply after a write drifts: the graph says what was done, from the store, and
        # the turn ends there.
        stop = "reported"
    return {
        "messages": [step_message(step), *observations], "grounding": grounding.as_dict(), "trace": trace,
        "user_id": user, "recent_calls": recent, "failed_calls": failed, "looked_up": looked_up, "verdicts": [], "confirmed": [],
        "step": None, "stop": stop, "cannot": cannot, **settled,
        **({"reply": " ".join(reports)} if stop == "reported" else {}),
    }


def _write_key(state: AgentState, index: int, call: CallDict) -> str:
    """The idempotency key of a write: its place in the conversation (turn, messages so far, place in the
    step) and the call itself. A turn resumed from its last checkpoint reaches the same write with the
    same key; no other write has it."""
    return f"{state.get('turn', 0)}/{len(state.get('messages', []))}/{index}/{call_fingerprint(call)}"


def route_act(state: AgentState, deps: AgentDeps) -> Literal["plan", "respond"]:
    if state.get("stop"):
        return "respond"
    if state.get("steps", 0) >= deps.spec.limits.max_steps_per_turn:
        return "respond"
    return "plan"


def _reply_update(state: AgentState, text: str, kind: str, outcome: str) -> dict[str, Any]:
    """The update that ends the turn saying ``text``, after the answers the turn kept (``graph.questions``)."""
    text = " ".join([*(state.get("answers") or []), text]).strip()
    entry = {"turn": state.get("turn", 0), "kind": kind, "output": text, "outcome": outcome}
    message = step_message(Step(reply=Reply(text=text)))
    if outcome.startswith("stopped"):
        # The user reads the graph's stop sentence; the model does not (``context.build_prompt`` skips
        # it): small models copy such sentences verbatim into later replies.
        message = {**message, "hidden_from_model": True}
    return {"messages": [message], "reply": text, "answers": [], "trace": [] if kind == "decide" else [entry]}


def _unasked(state: AgentState, deps: AgentDeps, tool: str) -> bool:
    """Whether a write of ``tool`` that some request scopes serves none of the open ones: the model's guess."""
    serving = deps.requests_needing(tool)
    return bool(serving) and not set(state.get("open_requests") or []) & serving


def confirm(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """End the turn with the graph's statement of the pending write and the question."""
    return _reply_update(state, state["pending"]["statement"], "graph", "confirm")  # type: ignore[index]


def respond(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """End the turn: the model's reply, or the spec's sentence for why the graph ended it.

    Before anyone is authenticated, while the user has given nothing to authenticate with, the spec's
    ``messages.identity_request`` replaces the model's reply: the policy's first step is not optional,
    and a small model's reply there drifts and loses the customer. A reply to a question the turn's
    retrieved passages speak to (``graph.recall``'s ``question``: no task asked) stands: the shop's
    documents are nobody's data. When an auth tool failed in this
    turn, ``messages.identity_not_found`` replaces the reply, or the graph's sentence for a stopped turn.
    """
    step = state.get("step") or {}
    stop = state.get("stop")
    messages = deps.spec.messages
    if messages.identity_not_found and stop in (None, "limit", "repeat", "malformed") and identity_failed(state, deps):
        return _reply_update(state, messages.identity_not_found, "graph", "identity_not_found")
    if step.get("reply") is not None and not stop:
        ask = messages.identity_request
        question = (state.get("recalled") or {}).get("question")
        if ask and state.get("user_id") is None and not identity_given(state, deps) and not question:
            return _reply_update(state, ask, "graph", "identity")
        return _reply_update(state, step["reply"], "decide", "reply")
    if stop == "handoff":
        return _reply_update(state, str(messages.handoff), "graph", "handoff")
    if stop == "reported":
        return _reply_update(state, state.get("reply") or "", "graph", "reported")
    if stop == "ask":
        return _reply_update(state, str(messages.request_question), "graph", "ask")
    if stop == "closing":
        return _reply_update(state, str(messages.closing), "graph", "closing")
    if stop in ("remembered", "answered", "choose"):
        return _reply_update(state, state.get("reply") or "", "graph", stop)
    if stop == "declined":
        return _reply_update(state, str(messages.declined), "graph", "declined")
    cannot = state.get("cannot")
    if cannot and stop in ("cannot", "limit", "repeat", "malformed", None) and cannot.get("unasked"):
        # The model's write serves no request the customer's words asked for (none was read): its refusal
        # would answer a request nobody made ("I can't cancel" to "return pls"). The customer is asked again.
        return _reply_update(state, str(messages.stopped), "graph", "stopped: unasked")
    if cannot and stop in ("cannot", "limit", "repeat", "malformed", None):
        # The model kept at a write the tool refuses: the customer hears the tool's reason (in the
        # toolkit's words, when it has them), not a request to rephrase; the request it served is
        # settled, unless those words offer other choices.
        explained = deps.explain(cannot["call"], cannot["error"]) if cannot.get("call") else None
        if cannot.get("why") == "operator" and messages.operator_refused and cannot.get("call"):
            text = str(messages.operator_refused).format(statement=deps.describe(cannot["call"]))
        elif cannot.get("why") == "other_user":  # the guard's reason is for the model: the user hears the spec's
            text = str(messages.not_yours).format(user=state.get("user_id"))
        elif explained is not None and cannot.get("why") == "precheck":
            text = explained.text
        else:
            reason = cannot["error"].removeprefix("Error:").strip().removeprefix("policy:").strip().rstrip(".")
            text = str(messages.cannot).format(reason=reason)
        update = _reply_update(state, text, "graph", "cannot")
        keeps = explained is not None and explained.keeps_request and cannot.get("why") == "precheck"
        return {**update, **(settle(state, deps, [cannot["tool"]]) if stop != "cannot" and not keeps else {})}
    return _reply_update(state, str(messages.stopped), "graph", f"stopped: {stop or 'limit'}")
