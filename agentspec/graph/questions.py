"""A question about the customer's own records, answered from the store rather than by the model.

A small model asked "what's the tracking number of my order with the boots?" states numbers it never
read. The spec's ``understanding.questions`` names the question requests and the lookups whose record
answers each; the toolkit's ``summary`` hook says what such a record shows a customer.

Contract: ``answer_step(state, deps, allowed) -> (call, reply)``, asked by ``planning.plan`` on every
step of a verified user's turn:

- ``(None, None)`` unless an open request is a question whose words, since the latest message that
  asked for anything (``narrowing.words_for``), describe exactly one record that some offered
  one-identifier lookup among that question's tools reads (``AgentDeps.mentioned``: "my order with
  the boots", an order id written out), or, when they describe none for any open question, the
  record of that kind the last call of the turn before took (a lookup, a write stated, run or
  refused): "what's the status of it?" is about the order just talked about. Each open question is
  answered with its own record ("how much did I pay for the smart watch?" may ask about the order
  and the product both); a question whose words describe several records leaves the turn to the
  model, one that describes none is left out when another has its record;
- ``(call, None)``: such a lookup, when it has not run in this turn: the graph's own step, ruled on by
  the guard like any call (another customer's record is refused there);
- ``(None, reply)`` once they all ran: the toolkit's ``summary`` of each, one after the other (without
  one for each the model answers from the observations: ``(None, None)``).

``answered(state, deps, reply)`` is the state update that closes the questions with that reply: it
ends the turn (in ``messages.answered``, when the spec has it) when no task is open (a request
``understanding.requests`` gives tools); beside an open task ("where is it, and cancel it if it has
not shipped") the reply waits in ``answers`` and the turn goes on to the task's steps: the turn's
reply, whoever ends it, starts with it (``nodes``). Nothing here reads words itself: the reader and
the toolkit's hooks do.
"""
from __future__ import annotations

from typing import Any

from agentspec.decoding.schema import identifier_kind
from agentspec.graph.deps import AgentDeps
from agentspec.graph.narrowing import Narrowed, one_identifier, words_for
from agentspec.graph.reading import settle
from agentspec.graph.state import AgentState, CallDict, call_fingerprint

__all__ = ["answer_step", "answered", "open_questions"]


def open_questions(state: AgentState, deps: AgentDeps) -> list[str]:
    """The open requests the spec answers from a record (``understanding.questions``)."""
    understanding = deps.spec.understanding
    if understanding is None:
        return []
    return [r for r in state.get("open_requests") or [] if r in understanding.questions]


def _described(state: AgentState, deps: AgentDeps, allowed: Narrowed, tools: set[str]) -> list[CallDict]:
    """One lookup call per record of a kind ``tools`` read that the question's words describe."""
    seen = state.get("grounding") or {}
    calls: list[CallDict] = []
    for tool in allowed.tools:
        lookup = one_identifier(tool) if tool.name in tools else None
        if lookup is None:
            continue
        argument, kind = lookup
        texts, slots = words_for(state, deps, tool.name, False)
        named = deps.mentioned(tool.name, kind, texts, sorted(seen.get(kind, ())), argument, seen, slots)
        calls += [{"name": tool.name, "arguments": {argument: value}} for value in dict.fromkeys(named)]
    return calls


def _just_used(state: AgentState, deps: AgentDeps, allowed: Narrowed, tools: set[str]) -> list[CallDict]:
    """The offered lookup among ``tools`` of the record the last call of the turn before took an identifier
    of (the record the message may call "it"), or none."""
    lookups: dict[str, tuple[str, str]] = {}  # kind -> (lookup, its argument)
    for tool in allowed.tools:
        found = one_identifier(tool) if tool.name in tools else None
        if found is not None:
            lookups[found[1]] = (tool.name, found[0])
    turn = state.get("turn", 0)
    for entry in reversed(state.get("trace") or []):
        if entry.get("turn", 0) < turn - 1:
            break
        if entry.get("turn", 0) == turn:
            continue
        for call in reversed(entry.get("calls") or []):
            properties = deps.registry.get(call["name"]).parameters.get("properties", {})
            for argument, value in call["arguments"].items():
                kind = identifier_kind(properties.get(argument, {}))
                if kind in lookups and isinstance(value, str):
                    name, key = lookups[kind]
                    return [{"name": name, "arguments": {key: value}}]
    return []


def _ran_this_turn(state: AgentState, call: CallDict) -> bool:
    turn, mark = state.get("turn", 0), call_fingerprint(call)
    return any(entry.get("turn") == turn and entry.get("kind") == "tool" and entry.get("outcome") == "ok"
               and any(call_fingerprint(c) == mark for c in entry.get("calls") or [])
               for entry in state.get("trace") or [])


def _records(state: AgentState, deps: AgentDeps, allowed: Narrowed, questions: list[str]) -> list[CallDict] | None:
    """The lookup of each open question's one record (module docstring), in question order without
    repeats; None when some question's words describe several."""
    understanding = deps.spec.understanding
    assert understanding is not None
    described = [_described(state, deps, allowed, set(understanding.questions[q])) for q in questions]
    if not any(described):
        described = [_just_used(state, deps, allowed, set(understanding.questions[q])) for q in questions]
    if any(len(calls) > 1 for calls in described):
        return None  # several records: the model asks or reads
    unique: dict[str, CallDict] = {}
    for calls in described:
        for call in calls:
            unique.setdefault(call_fingerprint(call), call)
    return list(unique.values())


def answer_step(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> tuple[CallDict | None, str | None]:
    """The next read that answers the open questions, or the answer once they all ran (module docstring)."""
    questions = open_questions(state, deps)
    if not questions or state.get("user_id") is None:
        return None, None
    calls = _records(state, deps, allowed, questions)
    if not calls:
        return None, None
    for call in calls:
        if not _ran_this_turn(state, call):
            return call, None
    summaries = [deps.summary(call) for call in calls]
    if any(summary is None for summary in summaries):
        return None, None
    return None, " ".join(str(summary) for summary in summaries)


def answered(state: AgentState, deps: AgentDeps, reply: str) -> dict[str, Any]:
    """The update that closes the open questions ``reply`` answered: it ends the turn with ``reply``, or,
    beside an open task, keeps it in ``answers`` for the turn's reply (module docstring)."""
    settled = settle(state, deps, [], requests=open_questions(state, deps))
    understanding = deps.spec.understanding
    if understanding is not None and any(understanding.requests.get(r) for r in settled["open_requests"]):
        entry = {"turn": state.get("turn", 0), "kind": "graph", "output": reply, "outcome": "answered beside"}
        return {"answers": [*(state.get("answers") or []), reply], "trace": [entry], **settled}
    template = deps.spec.messages.answered
    return {"step": None, "stop": "answered", "reply": template.format(answer=reply) if template else reply, **settled}
