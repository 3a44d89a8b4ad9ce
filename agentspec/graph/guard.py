"""The policy guard: what the graph lets a decided step do, whatever the model wanted.

Contract (the spec's ``policy`` and ``limits`` drive it; the model is never trusted with it):

1. A call repeated identically since the last successful write in this turn, or one that failed
   since that write in any turn (``failed_calls``), is refused with an observation saying so; more
   than ``limits.max_repeated_calls`` such refusals end the turn.
2. A tool in ``policy.authentication.required_by`` is refused until an authentication tool succeeded
   in this session (the grammar does not even offer it before: ``AgentDeps.offered_tools``).
3. With ``one_user_per_session``, a call whose data belongs to another user (the toolkit's ``owners``
   hook) is refused.
4. A tool in ``policy.confirmation.tools`` runs only if it is exactly (name and arguments) a call the
   user's last message confirmed. A write the toolkit's ``check`` hook says would fail (a dry run) is
   refused with the tool's own error before it is ever stated: the user is not asked to confirm what
   cannot be done. Otherwise the step is replaced by the graph's own statement of that call
   (``AgentDeps.describe``) and the call becomes ``pending``; the turn ends there. The next user
   message confirms it only when the reader reads a clear yes (``reading.begin``).
5. With operator approval (``--approve``), ``approve`` pauses the graph with a LangGraph
   ``interrupt`` before each confirmed consequential call; the operator's typed answer (``True`` or
   ``{"type": "accept"}`` approves; anything else rejects) resumes it. The node has no side effect
   before its interrupts (LangGraph re-runs it from the top on resume). A rejection ends the turn
   after ``act`` records it: no model step follows (``steps`` is set to ``limits.max_steps_per_turn``),
   and ``cannot`` (``why: operator``, with the call) has ``respond`` tell the customer the write was
   refused rather than the model state it again.

A refused call is not run; the model sees ``Error: policy: ...`` as its observation and carries on.
"""
from __future__ import annotations

from typing import Any, Literal

from langgraph.types import interrupt

from agentspec.graph.deps import AgentDeps
from agentspec.graph.state import AgentState, CallDict, Verdict, call_fingerprint

__all__ = ["approve", "approved", "guard", "route_guard", "ruling"]


def approved(answer: Any) -> bool:
    """An operator's typed approval: ``True``, ``"accept"`` or ``{"type": "accept"}``; anything else rejects."""
    if isinstance(answer, dict):
        answer = answer.get("type")
    return answer is True or answer == "accept"


def _refuse(call: CallDict, reason: str, message: str) -> Verdict:
    return {"call": call, "action": "refuse", "reason": reason, "observation": f"Error: policy: {message}"}


def ruling(deps: AgentDeps, state: AgentState, call: CallDict) -> Verdict | Literal["confirm"]:
    """What the guard does with ``call`` now: a run or refuse verdict, or "confirm" (state it and ask).
    ``decide`` asks it before the graph makes a step itself (``agentspec.graph.determined``)."""
    policy = deps.spec.policy
    user = state.get("user_id")
    auth = policy.authentication
    if call_fingerprint(call) in (state.get("failed_calls") or []):
        return _refuse(call, "repeat", f"{call['name']} already failed with these arguments, and nothing has changed "
                       "since. Do not call it with them again: ask the user, or reply.")
    if call_fingerprint(call) in state.get("recent_calls", []):
        return _refuse(call, "repeat", f"{call['name']} was already called with these arguments in this turn; "
                       "its result is above. Use it, or reply to the user.")
    if call["name"] in auth.required_by and user is None:
        tools = " or ".join(auth.tools) or "an authentication tool"
        return _refuse(call, "unauthenticated", f"authenticate the user first ({tools}).")
    if auth.one_user_per_session and user is not None:
        owners_hook = deps.hook("owners", call["name"])
        others = sorted((owners_hook(call["name"], call["arguments"]) if owners_hook else set()) - {user})
        if others:
            return _refuse(call, "other_user", f"this data belongs to another user; this conversation can only "
                           f"help the authenticated user {user}.")
    if call["name"] in policy.confirmation.tools and call not in state.get("confirmed", []):
        check = deps.hook("check", call["name"])
        error = check(call["name"], call["arguments"]) if check else None
        if error:
            return {"call": call, "action": "refuse", "reason": "precheck", "observation": error}
        return "confirm"
    return {"call": call, "action": "run", "reason": None, "observation": None}


def guard(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Decide each call of ``state['step']``: run, refuse, or replace the step by a confirmation."""
    calls: list[CallDict] = [dict(c) for c in (state.get("step") or {}).get("calls", [])]  # type: ignore[misc]
    verdicts: list[Verdict] = []
    trace: list[dict[str, Any]] = []
    repeats = state.get("repeats", 0)
    for call in calls:
        verdict = ruling(deps, state, call)
        if verdict == "confirm":
            statement = deps.describe(call)
            # The whole step gives way to the statement: nothing runs until the user says yes.
            return {"pending": {"calls": [call], "statement": statement}, "stated": [call], "verdicts": [],
                    "repeats": repeats}
        if verdict["action"] == "refuse":
            repeats += verdict["reason"] == "repeat"
            trace.append({"turn": state.get("turn", 0), "kind": "guard", "calls": [call],
                          "outcome": f"refused: {verdict['reason']}", "output": verdict["observation"]})
        verdicts.append(verdict)
    stop = "repeat" if repeats > deps.spec.limits.max_repeated_calls else None
    return {"verdicts": verdicts, "repeats": repeats, "pending": None, "trace": trace, "stop": stop}


def route_guard(state: AgentState, deps: AgentDeps) -> Literal["confirm", "respond", "approve", "act"]:
    if state.get("pending"):
        return "confirm"
    if state.get("stop"):
        return "respond"
    needs = set(deps.spec.policy.confirmation.tools)
    if deps.approve and any(v["action"] == "run" and v["call"]["name"] in needs for v in state.get("verdicts", [])):
        return "approve"
    return "act"


def approve(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Operator approval: one interrupt per consequential call; a refusal becomes the observation and
    ends the turn with the customer told (module docstring, rule 5)."""
    needs = set(deps.spec.policy.confirmation.tools)
    out: list[Verdict] = []
    refused: dict[str, Any] | None = None
    for verdict in state.get("verdicts", []):
        call = verdict["call"]
        if verdict["action"] == "run" and call["name"] in needs:
            answer = interrupt({"kind": "approval", "call": call, "statement": deps.describe(call)})
            if not approved(answer):
                verdict = _refuse(call, "operator", "the operator did not approve this action, so it was not done.")
                refused = refused or {"tool": call["name"], "error": verdict["observation"], "why": "operator",
                                      "call": call}
        out.append(verdict)
    if refused is None:
        return {"verdicts": out}
    return {"verdicts": out, "cannot": refused, "steps": deps.spec.limits.max_steps_per_turn}
