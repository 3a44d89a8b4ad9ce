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
4. a write step: the user's words since the last settled request determine exactly one write an
   open request needs, and the guard would state it (``policy.confirmation.determine``;
   ``determined.determined_write``); or ``stop: cannot`` with the store's reason, when the one write
   so determined fails its dry run (the request is then settled: the user hears why). When the words
   alone determine none, the turn's recalled memories (checked against the store, ``graph.recall``)
   are read after them as if said last: "the same address as last time" takes the remembered one;
5. an answer: an open question about the customer's records (``understanding.questions``) whose words
   describe one record: its lookup, then ``stop: answered`` with the toolkit's ``summary`` of it, or,
   beside an open task, that summary kept for the turn's reply and the task's steps planned
   (``graph.questions``; taken before the read and write steps 3-4);
6. nothing: ``route_plan`` sends the turn to the model (``nodes.decide``).

A step made here goes through the guard like the model's: nothing runs without the user's yes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from agentspec.graph.deps import AgentDeps
from agentspec.graph.determined import determined_handoff, determined_write
from agentspec.graph.guard import ruling
from agentspec.graph.narrowing import Narrowed, narrowed, one_identifier, words_for
from agentspec.graph.questions import answer_step, answered
from agentspec.graph.reading import settle
from agentspec.graph.state import AgentState, CallDict, call_fingerprint

__all__ = ["plan", "route_plan"]

_MAX_READS = 3  # described records the graph reads itself before any write of their request


def plan(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """The graph's own step, if the state decides one (module docstring)."""
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
        rest = plan(seen, deps)  # a task is open beside the question: its steps follow
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
    call, cannot = _write(state, deps, allowed)
    if cannot is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "output": cannot["error"], "outcome": "refused"}
        return {"steps": steps + 1, "trace": [entry], "step": None, "stop": "cannot", "cannot": cannot,
                **settle(state, deps, [cannot["tool"]])}
    if call is not None:
        entry = {"turn": turn, "kind": "graph", "step": steps + 1, "calls": [call], "outcome": "determined"}
        return {"steps": steps + 1, "trace": [entry], "step": {"calls": [call]}}
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


def _tools_of(deps: AgentDeps, requests: Iterable[str]) -> set[str]:
    """The tools the request scope gives ``requests``."""
    understanding = deps.spec.understanding
    assert understanding is not None
    return {tool for request in requests for tool in understanding.requests.get(request, [])}


def _asked_for(state: AgentState, deps: AgentDeps) -> set[str]:
    return _tools_of(deps, state.get("open_requests") or [])


def _read_first(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> CallDict | None:
    """The lookup that reads the record an open request's waiting writes need (module docstring, 3), when
    exactly one offered one-identifier lookup reads that kind and the words describe at most
    ``_MAX_READS`` such records ("my order with the Electric Kettle" where two orders hold one: each is
    read in turn, then the dry run tells which one a cancel can be), and the guard would run it."""
    writes = set(deps.spec.policy.confirmation.tools)
    if not _asked_for(state, deps) & writes or not allowed.unread:
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


def _write(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> tuple[CallDict | None, dict[str, str] | None]:
    """The write the words determine, or (when exactly one is so determined and its dry run fails) the
    refusal the user is told. Two candidates that both fail say different things: the model explains.
    The requests of the latest message that asked for any are tried first: an older request still open
    (one read by mistake, or waiting for more words) does not make the newest one ambiguous."""
    asked_for = _asked_for(state, deps)
    if asked_for & set(allowed.waiting):
        return None, None  # the record the words describe is read first (narrowing.read_before_writing)
    latest = next((set(asked) for asked in reversed(state.get("asks") or []) if asked), set())
    newest = _tools_of(deps, latest & set(state.get("open_requests") or []))
    if newest and newest < asked_for:
        call, cannot = _write_among(state, deps, allowed, newest)
        if call is not None or cannot is not None:
            return call, cannot
    call, cannot = _write_among(state, deps, allowed, asked_for)
    remembered = [m["text"] for m in (state.get("recalled") or {}).get("memories") or []]
    if call is None and cannot is None and remembered and state.get("said"):
        # What the words leave open, the customer's checked memories may give ("the same address as last
        # time"): read after the words, so a value the customer says always wins; the guard still states it.
        view = _with_memories(state, deps, remembered)
        call, _ = _write_among(view, deps, narrowed(view, deps), asked_for)
    return call, cannot


def _with_memories(state: AgentState, deps: AgentDeps, remembered: list[str]) -> AgentState:
    """The state as if the customer had said the remembered facts last (read by the reader like words)."""
    slots = [{tag: list(values) for tag, values in deps.read(text).slots.items()} for text in remembered]
    return {**state, "said": [*(state.get("said") or []), *remembered], "slots": [*(state.get("slots") or []), *slots],
            "asks": [*(state.get("asks") or []), *([] for _ in remembered)]}


def _write_among(state: AgentState, deps: AgentDeps, allowed: Narrowed,
                 tools: set[str]) -> tuple[CallDict | None, dict[str, str] | None]:
    """``_write`` over the writes among ``tools``."""
    policy = deps.spec.policy
    declined = set(state.get("declined") or [])
    judged: list[CallDict] = []
    refused: list[str] = []

    def stateable(call: CallDict) -> bool:
        verdict = ruling(deps, state, call)
        judged.append(call)
        if not isinstance(verdict, str) and verdict["reason"] == "precheck":
            refused.append(str(verdict["observation"]))
        return verdict == "confirm" and call_fingerprint(call) not in declined

    call = determined_write(allowed.tools, tools & set(policy.confirmation.tools), policy.targets.writes,
                            lambda tool: words_for(state, deps, tool, True)[0], state.get("grounding") or {},
                            allowed.grounding,
                            lambda tool, *a: deps.mentioned(tool, *a, slots=words_for(state, deps, tool, True)[1]),
                            stateable)
    if call is None and len(judged) == 1 and refused and not state.get("cannot"):
        return None, {"tool": judged[0]["name"], "error": refused[0]}
    return call, None
