"""The graph's own steps, taken before the model is asked: what the state alone decides.

Contract: ``plan(state, deps)`` runs before every model step of a turn and returns one of:

0. ``stop: remembered``: the verified user's words asked to keep something (``graph.recall`` stored
   it) and no request is open: the spec's ``messages.remembered`` says what was kept (it also asks
   what else they need, so ``policy.ask_for_request`` is not asked after it);
1. ``stop: ask``: a verified user with no open request and no target named in anything they said
   (``policy.ask_for_request``) is asked what they need (``messages.request_question``), once per
   conversation, rather than left to a model that would guess a request and act on it;
2. a hand-off step: a person is all the open requests ask for (``policy.handoff.determine``;
   ``determined.determined_handoff``);
3. a read step: the words of an open request's writes describe a record the conversation has not
   shown (an order by its products; its writes wait for it when it is the only one they could take,
   ``narrowing.read_before_writing``), and exactly one offered lookup of one identifier of that kind
   reads it: that lookup, with an id the words describe (a few such records are read one per step);
4. a write step (``policy.confirmation.determine``; ``graph.writing``): the one write an open request
   needs that the user's words determine, which the guard then states; or ``stop: cannot`` with the
   store's reason, when the writes so determined all fail their dry run (the request is then settled,
   unless the toolkit's ``explain`` offers other choices: it stays open for the answer); or ``stop:
   choose`` with the toolkit's question for the one argument the words leave open. A refusal or a
   question that offers exactly one choice keeps its words (``offered``): a plain yes to it says them
   (``graph.reading``);
5. an answer: an open question about the customer's records (``understanding.questions``) whose words
   describe one record: its lookup, then ``stop: answered`` with the toolkit's ``summary`` of it, or,
   beside an open task, that summary kept for the turn's reply and the task's steps planned
   (``graph.questions``; taken before the read and write steps 3-4);
6. ``stop: closing``: none of the above, and the verified user's message is a closing: it asks for
   nothing, gives nothing (no slot, no choice) and the reader's answer head reads it as neutral at
   ``understanding.neutral_threshold`` ("thanks, that's all", "bye"): ``messages.closing`` answers
   it, where a small model would guess a request and act on it (open requests stay open);
7. nothing: ``route_plan`` sends the turn to the model (``nodes.decide``).

A step made here goes through the guard like the model's: nothing runs without the user's yes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from agentspec.graph.deps import AgentDeps
from agentspec.graph.determined import determined_handoff
from agentspec.graph.guard import ruling
from agentspec.graph.narrowing import Narrowed, narrowed, one_identifier, words_for
from agentspec.graph.questions import answer_step, answered
from agentspec.graph.reading import gives_value, settle
from agentspec.graph.state import AgentState, CallDict
from agentspec.graph.writing import asked_tools, write_step
from agentspec.routing.reader import Reading

__all__ = ["plan", "route_plan"]

_MAX_READS = 3  # described records the graph reads itself before any write of their request


def plan(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """The graph's own step, if the state decides one (module docstring)."""
    update = _own_step(state, deps)
    if update.get("step") is None and not update.get("stop") and _closing(state, deps):
        return {**update, "stop": "closing"}
    return update


def _closing(state: AgentState, deps: AgentDeps) -> bool:
    """Whether the turn's message is a verified user's closing (module docstring, 6)."""
    understanding = deps.spec.understanding
    if understanding is None or not deps.spec.messages.closing or state.get("user_id") is None:
        return False
    reading = Reading.from_dict(state.get("reading") or {})
    return (not state.get("asked") and not gives_value(reading, deps)
            and reading.answer.get("neutral", 0.0) >= understanding.neutral_threshold)


def _own_step(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Steps 0-5 of the module docstring."""
    policy, user = deps.spec.policy, state.get("user_id")
    turn, steps = state.get("turn", 0), state.get("steps", 0)
    recalled = state.get("recalled") or {}
    if recalled.get("noted") and deps.spec.messages.remembered and user and not state.get("open_requests"):
        return {"step": None, "stop": "remembered", "request_asked": True, "recalled": {**recalled, "noted": []},
                "reply": str(deps.spec.messages.remembered).format(memory="; ".join(recalled["noted"]))}
    if policy.ask_for_request and user and not state.get("request_asked") and _asked_for_nothing(state, deps):
        return {"step": None, "stop": "ask", "request_asked": True}
    if not user or deps.spec.understanding is None:
        return {"step": None}
    allowed = narrowed(state, deps)
    handoff = _handoff(state, deps, allowed) if policy.handoff.determine else None
    if handoff is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [handoff], "outcome": "determined"}
        return {"steps": steps + 1, "trace": [entry], "step": {"calls": [handoff]}}
    question_read, answer = answer_step(state, deps, allowed)
    if answer is not None:
        update = answered(state, deps, answer)
        if update.get("stop"):
            return update
        seen = {**state, **update, "trace": [*(state.get("trace") or []), *update["trace"]]}
        rest = _own_step(seen, deps)  # a task is open beside the question: its steps follow
        return {**update, **rest, "trace": [*update["trace"], *rest.get("trace", [])]}
    if question_read is not None and _runs(deps, state, question_read):
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [question_read], "outcome": "determined"}
        return {"steps": steps + 1, "trace": [entry], "step": {"calls": [question_read]}}
    if not policy.confirmation.determine:
        return {"step": None}
    read = _read_first(state, deps, allowed)
    if read is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [read], "outcome": "determined"}
        return {"steps": steps + 1, "trace": [entry], "step": {"calls": [read]}}
    written = write_step(state, deps, allowed)
    if (cannot := written.cannot) is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [cannot["call"]], "output": cannot["error"],
                 "outcome": "refused"}
        explained = deps.explain(cannot["call"], cannot["error"])
        keeps = explained is not None and explained.keeps_request
        return {"steps": steps + 1, "trace": [entry], "step": None, "stop": "cannot", "cannot": cannot,
                **({"offered": explained.offer} if keeps and explained.offer else {}),
                **({} if keeps else settle(state, deps, [cannot["tool"]]))}
    if written.question is not None:
        return {"step": None, "stop": "choose", "reply": written.question, "offered": written.offer,
                "asked_arguments": [*(state.get("asked_arguments") or []), written.key]}
    if written.call is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [written.call], "outcome": "determined"}
        return {"steps": steps + 1, "trace": [entry], "step": {"calls": [written.call]}}
    return {"step": None}


def route_plan(state: AgentState) -> Literal["guard", "respond", "decide"]:
    if (state.get("step") or {}).get("calls"):
        return "guard"
    if state.get("stop"):
        return "respond"
    return "decide"


def _asked_for_nothing(state: AgentState, deps: AgentDeps) -> bool:
    """No open request, and no target of a followed kind named in the user's messages (an id in "cancel
    #W1, I'm alice@example.com": the reader may not know a terse phrasing, the ids say it is a request)."""
    if deps.spec.understanding is None or state.get("open_requests"):
        return False
    targets = set(deps.spec.policy.targets.writes) - set(deps.shapes.phrases)  # any word run is "dictated"
    named = deps.grounding()
    for message in state.get("messages", []):
        if message.get("role") == "user" and "meta" not in message:
            named.observe_text(str(message.get("content") or ""))
    return not any(named.as_dict().get(kind) for kind in targets)


def _handoff(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> CallDict | None:
    understanding = deps.spec.understanding
    assert understanding is not None
    tool = next((t for t in allowed.tools if t.name == deps.spec.policy.handoff.tool), None)
    call = determined_handoff(tool, state.get("open_requests") or [], understanding.requests, state.get("said"),
                              str(state.get("user_id")),
                              lambda text: deps.read(text).asked(understanding.request_threshold),
                              str(deps.spec.messages.handoff_summary or "{request}"))
    if call is None:
        return None
    return call if _runs(deps, state, call) else None


def _read_first(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> CallDict | None:
    """The lookup that reads the record an open request's waiting writes need (module docstring, 3), when
    exactly one offered one-identifier lookup reads that kind and the words describe at most
    ``_MAX_READS`` such records ("my order with the Electric Kettle" where two orders hold one: each is
    read in turn, then the dry run tells which one a cancel can be), and the guard would run it."""
    writes = set(deps.spec.policy.confirmation.tools)
    if not asked_tools(state, deps) & writes or not allowed.unread:
        return None
    calls: list[CallDict] = []
    for kind, ids in allowed.unread.items():
        for tool in allowed.tools:
            lookup = one_identifier(tool) if tool.name not in writes else None
            if lookup is not None and lookup[1] == kind:
                calls += [{"name": tool.name, "arguments": {lookup[0]: value}} for value in sorted(ids)]
    if not calls or len(calls) > _MAX_READS or len({call["name"] for call in calls}) > 1:
        return None  # many records, or several ways to read them: the model chooses
    return calls[0] if _runs(deps, state, calls[0]) else None


def _runs(deps: AgentDeps, state: AgentState, call: CallDict) -> bool:
    """Whether the guard would run ``call`` now (not refuse it, not state it first)."""
    verdict = ruling(deps, state, call)
    return not isinstance(verdict, str) and verdict["action"] == "run"
