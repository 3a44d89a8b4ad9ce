"""The graph's write step: the write the customer's words determine, the refusal they hear, or the one
question that is left.

Contract: ``write_step(state, deps, allowed) -> WriteStep`` (``planning.plan``'s step 4), one of:

- ``call``: the one write an open request needs that the words since the last settled request give in
  full and the guard would state (``determined.determined_write``); the requests of the latest message
  that asked for any are tried first, so an older request still open does not make the newest one
  ambiguous, and when the newest request's writes wait for what only the words give, or for its one
  open argument (the payment method), its question comes before any older request's write ("change
  something delivered for another colour" after an order's address was changed is asked which
  items, not stated the profile's address the same words also gave); of several that pass, the one
  the conversation is about (``_focus``: a correction of the stated write, else a write of a tool the
  graph asked about). When the words alone give none, the turn's recalled memories (checked against
  the store, ``graph.recall``) are read after them as if said last: "the same address as last time";
- ``cannot``: the writes so determined all fail their dry run; ``_told_refusal`` picks the one told
  (``{"tool", "error", "why": "precheck", "call"}``);
- ``question``: the words give everything but one argument (the payment method), some values of it
  can be done, and the toolkit's ``ask`` hook words the question (``key``: "tool/argument"; asked once
  per request: after that the model hears the answer); or, when nothing else is determined, the
  writes of the open requests wait for what only the words can give (``policy.targets.said``, the
  items of a return: ``narrowing.hold_unsaid``, asked at most ``narrowing.ASKS`` times per request),
  none of their writes is offered (the profile's address is, beside an order's: no question), and
  the hook words the question for the first such argument (the newest request's tools first, in its
  scope's order), with the arguments the words do give (``_unsaid_question``); ``offer``: the words of
  the one choice the question offers, if it offers one (``Explained.offer``);
- nothing: the model decides.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentspec.decoding.schema import identifier_kind
from agentspec.graph.deps import AgentDeps
from agentspec.graph.determined import Determined, determined_write
from agentspec.graph.guard import ruling
from agentspec.graph.narrowing import Narrowed, narrowed, words_for
from agentspec.graph.state import AgentState, CallDict, call_fingerprint

__all__ = ["WriteStep", "asked_tools", "write_step"]


@dataclass
class WriteStep:
    """What the write step decided (module docstring); all None: nothing."""

    call: CallDict | None = None
    cannot: dict[str, Any] | None = None
    question: str | None = None
    key: str | None = None
    offer: str | None = None  # the words of the one choice the question offers (``Explained.offer``)


def asked_tools(state: AgentState, deps: AgentDeps) -> set[str]:
    """The tools of the open requests."""
    return deps.request_tools(state.get("open_requests") or [])


def write_step(state: AgentState, deps: AgentDeps, allowed: Narrowed) -> WriteStep:
    """The write step of this state (module docstring)."""
    asked_for = asked_tools(state, deps)
    if asked_for & set(allowed.waiting):
        return WriteStep()  # the record the words describe is read first (narrowing.read_before_writing)
    latest = next((set(asked) for asked in reversed(state.get("asks") or []) if asked), set())
    newest = deps.request_tools(latest & set(state.get("open_requests") or []))
    if newest and newest < asked_for:
        step = _write_among(state, deps, allowed, newest)
        if step.call is not None or step.cannot is not None or step.question is not None:
            return step
        asked = _unsaid_question(state, deps, allowed, newest)
        if asked.question is not None:
            return asked  # the newest request's question before an older request's write
    step = _write_among(state, deps, allowed, asked_for)
    remembered = [m["text"] for m in (state.get("recalled") or {}).get("memories") or []]
    if step.call is None and step.cannot is None and remembered and state.get("said"):
        # What the words leave open, the customer's checked memories may give ("the same address as last
        # time"): read after the words, so a value the customer says always wins; the guard still states it.
        view = _with_memories(state, deps, remembered)
        call = _write_among(view, deps, narrowed(view, deps), asked_for).call
        if call is not None:
            return WriteStep(call=call)
    if step.call is None and step.cannot is None and step.question is None:
        return _unsaid_question(state, deps, allowed)
    return step


def _unsaid_question(state: AgentState, deps: AgentDeps, allowed: Narrowed,
                     tools: set[str] | None = None) -> WriteStep:
    """The toolkit's question for the first argument the writes of the open requests (of ``tools``, when
    given) wait for (module docstring), when all of those writes wait and no record is read first."""
    writes = (asked_tools(state, deps) if tools is None else tools) & set(deps.spec.policy.confirmation.tools)
    if not allowed.unsaid or allowed.waiting or any(tool.name in writes for tool in allowed.tools):
        return WriteStep()  # a write of theirs is offered (a profile's address): the model goes on
    for tool in _by_scope(state, deps):
        if tool not in allowed.unsaid or tool not in writes:
            continue
        argument = allowed.unsaid[tool][0]
        given = _given(state, deps, tool, exclude=allowed.unsaid[tool])
        asked = deps.ask({"name": tool, "arguments": given}, argument, state.get("user_id"),
                         words_for(state, deps, tool, True)[0])
        if asked is not None:
            return WriteStep(question=asked.text, key=f"{tool}/{argument}", offer=asked.offer)
    return WriteStep()


def _given(state: AgentState, deps: AgentDeps, tool: str, exclude: list[str]) -> dict[str, Any]:
    """The arguments of a followed kind (``policy.targets.writes``) that the words give ``tool`` alone: one
    value (or the ids of a list), besides those ``exclude``d."""
    schema = deps.registry.get(tool).parameters.get("properties", {})
    texts, slots = words_for(state, deps, tool, True)
    seen = state.get("grounding") or {}
    given: dict[str, Any] = {}
    for argument, kind in ((a, identifier_kind(s)) for a, s in schema.items() if a not in exclude):
        if kind not in deps.spec.policy.targets.writes or not texts:
            continue
        values = deps.mentioned(tool, kind, texts, sorted(seen.get(kind, ())), argument, seen, slots)
        if schema[argument].get("type") == "array" and values:
            given[argument] = list(values)
        elif len(values) == 1:
            given[argument] = values[0]
    return given


def _by_scope(state: AgentState, deps: AgentDeps) -> list[str]:
    """The tools of the newest request, then of the other open ones, each request's in its scope's order."""
    understanding = deps.spec.understanding
    scopes = understanding.requests if understanding is not None else {}
    newest = next((asked for asked in reversed(state.get("asks") or []) if asked), [])
    open_requests = state.get("open_requests") or []
    listed = [t for r in [*newest, *open_requests] if r in open_requests for t in scopes.get(r, [])]
    return list(dict.fromkeys(listed))


def _with_memories(state: AgentState, deps: AgentDeps, remembered: list[str]) -> AgentState:
    """The state as if the customer had said the remembered facts last (read by the reader like words)."""
    slots = [{tag: list(values) for tag, values in deps.read(text).slots.items()} for text in remembered]
    return {**state, "said": [*(state.get("said") or []), *remembered], "slots": [*(state.get("slots") or []), *slots],
            "asks": [*(state.get("asks") or []), *([] for _ in remembered)]}


def _write_among(state: AgentState, deps: AgentDeps, allowed: Narrowed, tools: set[str]) -> WriteStep:
    """``write_step`` over the writes among ``tools``."""
    policy = deps.spec.policy
    declined = set(state.get("declined") or [])

    def judge(call: CallDict) -> tuple[bool, str | None]:
        verdict = ruling(deps, state, call)
        if not isinstance(verdict, str) and verdict["reason"] == "precheck":
            return False, str(verdict["observation"])
        return verdict == "confirm" and call_fingerprint(call) not in declined, None

    found = determined_write(allowed.tools, tools & set(policy.confirmation.tools), policy.targets.writes,
                             lambda tool: words_for(state, deps, tool, True)[0], state.get("grounding") or {},
                             allowed.grounding,
                             lambda tool, *a: deps.mentioned(tool, *a, slots=words_for(state, deps, tool, True)[1]),
                             judge, policy.targets.lookups, _focus(state))
    if found.call is not None:
        return WriteStep(call=found.call)
    if found.refused and not state.get("cannot"):
        return WriteStep(cannot=_told_refusal(state, deps, found.refused))
    return _question(state, deps, found)


def _focus(state: AgentState) -> Callable[[CallDict], int]:
    """How much the conversation is about a write (``determined_write``'s ``focus``). While a write is
    stated: a correction of it (its tool, other values) ranks 1 and one more per value it keeps, any
    other write 0 (the stated write itself too: words that only repeat it say something else). Before
    any: a write of a tool the graph asked the customer about ranks 1."""
    stated = state.get("stated") or []
    questioned = {key.partition("/")[0] for key in state.get("asked_arguments") or []}

    def rank(call: CallDict) -> int:
        if not stated:
            return int(call["name"] in questioned)
        corrected = [earlier["arguments"] for earlier in stated
                     if earlier["name"] == call["name"] and earlier["arguments"] != call["arguments"]]
        return max((1 + sum(call["arguments"].get(name) == value for name, value in arguments.items())
                    for arguments in corrected), default=0)
    return rank


def _question(state: AgentState, deps: AgentDeps, found: Determined) -> WriteStep:
    """The toolkit's question for the one argument the words leave open, unless asked already."""
    if found.choice is None:
        return WriteStep()
    argument, calls = found.choice
    key = f"{calls[0]['name']}/{argument}"
    if key in (state.get("asked_arguments") or []):
        return WriteStep()
    given = {name: value for name, value in calls[0]["arguments"].items() if name != argument}
    asked = deps.ask({"name": calls[0]["name"], "arguments": given}, argument, state.get("user_id"),
                     words_for(state, deps, calls[0]["name"], True)[0])
    return WriteStep(question=asked.text, key=key, offer=asked.offer) if asked is not None else WriteStep()


def _told_refusal(state: AgentState, deps: AgentDeps, refused: list[tuple[CallDict, str]]) -> dict[str, Any] | None:
    """Of the determined writes the dry run refused, the one the customer hears about: one whose refusal
    leaves another choice open (the toolkit's ``explain``: "that size is not in stock; these are")
    first, then the tool the newest request's scope lists first (the spec lists a request's own
    tool before its look-alikes). None when the first ones so ranked were refused for different
    reasons: the model explains."""
    listed = _by_scope(state, deps)

    def rank(refusal: tuple[CallDict, str]) -> tuple[bool, int]:
        call, error = refusal
        explained = deps.explain(call, error)
        position = listed.index(call["name"]) if call["name"] in listed else len(listed)
        return not (explained is not None and explained.keeps_request), position

    ranked = [(rank(refusal), refusal) for refusal in refused]
    best = min(key for key, _ in ranked)
    first = [refusal for key, refusal in ranked if key == best]
    if len({error for _, error in first}) != 1:
        return None
    call, error = first[0]
    return {"tool": call["name"], "error": error, "why": "precheck", "call": call}
