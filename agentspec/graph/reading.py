"""A user message arrives: the reader reads it, a stated write is settled, the open requests updated.

Contract: ``begin(state, deps)`` is the first node of every turn (the caller appended the message).
It resets the turn's counters and reads the message once (``AgentDeps.read``):

- While a write is stated and awaits an answer (``pending``), the reading's answer decides: a clear
  yes (``understanding.yes_threshold``) confirms exactly the stated calls, which run without asking
  the model, unless it says more than that yes (``_says_more``: it asks for a request no stated call
  serves, names another target for one of their identifier arguments, or chooses another option for
  an enumerated one: "yes, but for my other order"), which makes it unsure; anything else is no
  confirmation. After a no the stated calls are not stated again by
  the graph itself (``declined``); after an unsure answer they may be: when the reading is unsure,
  the graph asks again (the words, with this message, may also determine another write). A plain no
  that asks for nothing else and gives no value (no slot, no choice: "no, the reason is that I ordered
  it by mistake" gives one; nothing that changes what the words name for the stated calls: "no, but
  in bagged" names another variant) settles the request (the graph
  says ``messages.declined``); a no or an unsure answer that says more ("no, the blue one", "how much
  is it?") is read like any message: what it asks and gives may determine another write, or the same
  one stated again. A plain no to the graph's own question (a refusal that offered other choices, or
  a question for an argument of a write) settles that write's request the same way; a plain yes to a
  question that offered several choices hears the question again.
- Otherwise the requests it asks for (``understanding.request_threshold``) join the open ones, its
  slots and choices join those of the messages since the last settled request; a message that answers
  the graph's question for a write's argument (it gives a value, or its words name one for that
  argument) opens only requests a tool serves, no question (``understanding.questions``), read at
  ``understanding.answer_request_threshold`` ("the Air Purifier" in answer to "which items?" asks no
  product question). When the graph's last
  question offered one choice (``offered``, the toolkit's words for it), a clear yes that asks and
  gives nothing more says that choice: its words join the message's, as if the customer had said them. A request no tool
  serves (a question about an order) was answered in the turn that asked it: it closes when the next
  message arrives, and when nothing else is open that message starts clean; a question answered from
  the customer's records (``understanding.questions``) asked before they were verified stays open
  until a turn that began verified ends.

``settle(state, tool)`` is what a node returns when the request a write serves is over (it succeeded,
it was refused and the user told why, or the user declined it): those requests close, with the
graph's questions for that write's arguments and the write it last stated; once none is
open, the messages, slots, choices and declined calls start afresh, so the next request names its own
targets. While others stay open, a write's settle marks where the next request's words may begin
(``settled_at``): a request asked again after it speaks from there (``narrowing.words_for``). Nothing here reads words: the reader does.
"""
from __future__ import annotations

from typing import Any, Literal

from agentspec.decoding.grounding import MAX_VALUE_CHARS, MAX_VALUES_PER_KIND
from agentspec.decoding.schema import identifier_kind
from agentspec.graph.deps import AgentDeps
from agentspec.graph.narrowing import words_for
from agentspec.graph.state import AgentState, CallDict, call_fingerprint
from agentspec.routing.reader import Reading

__all__ = ["begin", "gives_value", "route_begin", "settle"]


def settle(state: AgentState, deps: AgentDeps, tools: list[str], everything: bool = False,
           requests: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The state update that closes ``requests`` and the open requests ``tools`` serve (all of them with
    ``everything``, or when the spec has no request scope: nothing then says which request a write served)."""
    served = set().union(*(deps.requests_needing(t) for t in tools), requests)
    unscoped = deps.spec.understanding is None or not deps.spec.understanding.requests
    still = [] if everything or unscoped else [r for r in state.get("open_requests") or [] if r not in served]
    update: dict[str, Any] = {"open_requests": still, "stated": []}
    if tools:  # a write's request is over: words before here were its (a question's leave the floor)
        update["settled_at"] = len(state.get("said") or [])
        # its questions too: another request of the same write is asked anew
        update["asked_arguments"] = [key for key in state.get("asked_arguments") or []
                                     if key.partition("/")[0] not in tools]
    if not still:
        update.update(said=[], slots=[], asks=[], choices={}, declined=[], asked_arguments=[], settled_at=0)
    return update


def _chosen(old: dict[str, str] | None, reading: Reading, deps: AgentDeps) -> dict[str, str]:
    out = dict(old or {})
    understanding = deps.spec.understanding
    if understanding is None:
        return out
    for head in set(understanding.choices.values()):
        label = reading.chosen(head, understanding.choice_threshold)
        if label is not None:
            out[head] = label  # the latest message that says one wins: "no, I ordered it by mistake"
    return out


def gives_value(reading: Reading, deps: AgentDeps) -> bool:
    """Whether the message gives a value: a slot, or a choice the spec reads (a cancel reason)."""
    return bool(reading.slots) or bool(_chosen(None, reading, deps))


def _asked(reading: Reading, deps: AgentDeps) -> list[str]:
    """The requests the message makes (``understanding.request_threshold``). Requests that scope the same
    tools are one to the graph: when none reaches the threshold alone, the likeliest of such a group
    whose probabilities together reach it is asked ("trade them for the blue ones": exchange 0.39,
    modify_items 0.45)."""
    understanding = deps.spec.understanding
    if understanding is None:
        return []
    threshold = understanding.request_threshold
    asked = reading.asked(threshold)
    if asked:
        return asked
    groups: dict[frozenset[str], list[str]] = {}
    for request, tools in understanding.requests.items():
        if tools and request in reading.requests:
            groups.setdefault(frozenset(tools), []).append(request)
    together = [max(group, key=lambda r: reading.requests[r]) for group in groups.values()
                if len(group) > 1 and sum(reading.requests[r] for r in group) >= threshold]
    return sorted(together, key=lambda r: -reading.requests[r])


def _target_arguments(deps: AgentDeps, call: CallDict) -> list[tuple[str, str]]:
    """(argument, identifier kind) of each argument of ``call``'s tool whose kind is a write target
    (``policy.targets.writes``)."""
    kinds = set(deps.spec.policy.targets.writes)
    return [(argument, kind) for argument, schema in _properties(deps, call["name"]).items()
            if (kind := identifier_kind(schema)) in kinds]


def _properties(deps: AgentDeps, tool: str) -> dict[str, Any]:
    """The argument schemas of ``tool`` ({} for a tool the registry lacks)."""
    found = next((t for t in deps.registry.tools if t.name == tool), None)
    return found.parameters.get("properties", {}) if found else {}


def _corrects(state: AgentState, deps: AgentDeps, calls: list[CallDict], text: str, reading: Reading) -> bool:
    """Whether ``text``, added to the words the stated ``calls`` came from, changes what those words name
    for an identifier argument of theirs (``AgentDeps.mentioned``): "no, but in bagged and pet hair
    removal" names another variant. Such a no corrects the statement; it does not decline it."""
    seen = state.get("grounding") or {}
    for call in calls:
        texts, slots = words_for(state, deps, call["name"], True)
        for argument, kind in _target_arguments(deps, call):
            candidates = sorted(seen.get(kind, ()))
            before = deps.mentioned(call["name"], kind, texts, candidates, argument, seen, slots)
            after = deps.mentioned(call["name"], kind, [*texts, text], candidates, argument, seen,
                                   [*slots, {tag: list(values) for tag, values in reading.slots.items()}])
            if set(after) != set(before):
                return True
    return False


def _says_more(state: AgentState, deps: AgentDeps, calls: list[CallDict], text: str, reading: Reading) -> str | None:
    """What makes a yes more than a yes to exactly the stated ``calls``, or None: it asks for a request no
    stated call serves ("yes, and return the lamp too"), it names for an identifier argument a value
    other than the stated one ("yes, but for order #W2 instead", "yes, refund it to my PayPal"), or it
    chooses for an enumerated argument another label than the stated one. Such a yes is unsure: the
    message is read like any other and the graph asks again."""
    served = set().union(*(deps.requests_needing(c["name"]) for c in calls))
    if other := [r for r in _asked(reading, deps) if r not in served]:
        return f"asks {', '.join(other)}"
    seen = state.get("grounding") or {}
    slots = [{tag: list(values) for tag, values in reading.slots.items()}]
    chosen = _chosen(None, reading, deps)
    for call in calls:
        for argument, kind in _target_arguments(deps, call):
            stated = call["arguments"].get(argument)
            if stated is None:
                continue
            named = deps.mentioned(call["name"], kind, [text], sorted(seen.get(kind, ())), argument, seen, slots)
            stated_values = {str(v) for v in stated} if isinstance(stated, list) else {str(stated)}
            if named and not stated_values & set(named):
                return f"names another {argument}"
        for argument, head in (deps.spec.understanding.choices.items() if deps.spec.understanding else ()):
            if argument in call["arguments"] and head in chosen and chosen[head] != call["arguments"][argument]:
                return f"chooses another {argument}"
    return None


def begin(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Reset the turn, read the message, settle a pending write (module docstring)."""
    text = str(state["messages"][-1]["content"])
    turn = state.get("turn", 0) + 1
    reading = deps.read(text)
    seen = deps.grounding(state.get("grounding"))
    seen.observe_text(text)
    update: dict[str, Any] = {
        "turn": turn, "steps": 0, "repeats": 0, "recent_calls": [], "looked_up": {}, "stop": None, "reply": None,
        "step": None, "verdicts": [], "confirmed": [], "pending": None, "cannot": None, "asked": [],
        "grounding": seen.as_dict(), "reading": reading.as_dict(), "offered": None,
    }
    trace: list[dict[str, Any]] = []
    if seen.dropped:
        trace.append(_bounded_entry(turn, seen.dropped))
    expert, scores = deps.route(state["messages"])
    if expert is not None:
        update["expert"] = expert
        trace.append({"turn": turn, "kind": "route", "output": expert, "scores": {k: round(v, 3) for k, v in scores.items()}})
    understanding = deps.spec.understanding
    pending = state.get("pending")
    answer = None
    if pending and understanding is not None:
        answer = reading.answered(understanding.yes_threshold, understanding.no_threshold)
        more = _says_more(state, deps, pending["calls"], text, reading) if answer == "yes" else None
        if more:
            answer = "unsure"
        trace.append({"turn": turn, "kind": "answer", "output": answer,
                      "scores": {k: round(v, 3) for k, v in reading.answer.items()},
                      **({"says_more": more} if more else {})})
    if answer == "yes":
        # Exactly what the graph stated runs, not whatever the model would say next.
        update["confirmed"] = pending["calls"]
        update["step"] = {"calls": pending["calls"]}
        update["trace"] = trace
        return update
    working: dict[str, Any] = dict(state)
    if pending and answer == "no":
        working["declined"] = [*(state.get("declined") or []), *(call_fingerprint(c) for c in pending["calls"])]
        update["declined"] = working["declined"]
    asked = _asked(reading, deps)
    if asked and _answers_question(state, deps, text, reading):
        kept = [r for r in asked if understanding.requests.get(r) and r not in understanding.questions
                and reading.requests.get(r, 0.0) >= understanding.answer_request_threshold]
        trace.append({"turn": turn, "kind": "answer", "output": "answers the question", "requests_read": asked,
                      "requests_kept": kept})
        asked = kept
    said_choices = _chosen(None, reading, deps)
    gives = gives_value(reading, deps)
    if pending and answer == "no" and not asked and not gives and not _corrects(state, deps, pending["calls"], text, reading):
        update.update(settle(working, deps, [c["name"] for c in pending["calls"]]))
        update.update(stop="declined", trace=trace)
        return update
    questioned = _questioned_tool(state) if not (pending or asked or gives) else None
    to_question = _plain_answer(reading, deps) if questioned else None
    if to_question == "no":  # the graph's question declined: that write's request is over
        update.update(settle(working, deps, [str(questioned)]), stop="declined", trace=trace)
        return update
    if to_question == "yes" and not state.get("offered") and state.get("stop") == "choose" and state.get("reply"):
        update.update(stop="choose", reply=state["reply"], trace=trace)  # which one is still theirs to say
        return update
    known = list(state.get("open_requests") or [])
    if understanding is not None and known:
        unverified = state.get("user_id") is None  # a question about their records waits for the identity
        lasting = [r for r in known if understanding.requests.get(r) or (unverified and r in understanding.questions)]
        if not lasting:  # only requests no tool serves ("where is my order?"): answered in their turn
            answered = settle(working, deps, [], everything=True)
            update.update(answered)
            working.update(answered)
        known = lasting
    update["open_requests"] = known + [r for r in asked if r not in known]
    update["asked"] = asked
    if asked:  # the customer has said what they need: policy.ask_for_request is never asked after it
        update["request_asked"] = True
    update["said"] = [*(working.get("said") or []), text]
    update["slots"] = [*(working.get("slots") or []), {tag: list(values) for tag, values in reading.slots.items()}]
    update["asks"] = [*(working.get("asks") or []), list(asked)]
    offer = state.get("offered")
    if offer and to_question == "yes":
        # "Would you like this one instead?" - "yes": the yes says the one choice offered, as if in words.
        update["said"].append(offer)
        seen.observe_text(offer)  # its identifiers are the customer's words now
        update["grounding"] = seen.as_dict()
        update["slots"].append({tag: list(values) for tag, values in deps.read(offer).slots.items()})
        update["asks"].append([])
        trace.append({"turn": turn, "kind": "answer", "output": "yes", "took_offer": offer})
    update["choices"] = {**(working.get("choices") or {}), **said_choices}
    if understanding is not None:
        top = sorted(reading.requests.items(), key=lambda kv: -kv[1])[:3]
        trace.append({"turn": turn, "kind": "request", "output": asked, "requests": update["open_requests"],
                      "scores": {k: round(v, 3) for k, v in top},
                      **({"slots": reading.slots} if reading.slots else {})})
    update["trace"] = trace
    return update


def _plain_answer(reading: Reading, deps: AgentDeps) -> str | None:
    """"yes" or "no" when the message is a clear one (``understanding`` thresholds); else None."""
    understanding = deps.spec.understanding
    answer = reading.answered(understanding.yes_threshold, understanding.no_threshold) if understanding else None
    return answer if answer in ("yes", "no") else None


def _questioned_tool(state: AgentState) -> str | None:
    """The write the graph's last reply asked the customer to choose for: a refusal that kept its request
    open ("that version is not in stock; these are: ...?"), or a question for an argument; else None."""
    if state.get("stop") == "cannot" and (state.get("cannot") or {}).get("tool") and state.get("open_requests"):
        return str(state["cannot"]["tool"])
    asked = _asked_argument(state)
    return asked[0] if asked else None


def _asked_argument(state: AgentState) -> tuple[str, str] | None:
    """(tool, argument) the graph's last reply asked the customer for; None when it asked for none."""
    asked = state.get("asked_arguments") or []
    if state.get("stop") != "choose" or not asked:
        return None
    tool, _, argument = asked[-1].partition("/")
    return tool, argument


def _answers_question(state: AgentState, deps: AgentDeps, text: str, reading: Reading) -> bool:
    """Whether ``text`` answers the graph's last question for a write's argument: it gives a value (a
    slot, a choice), or its words alone name one for that argument (``AgentDeps.mentioned``)."""
    asked = _asked_argument(state)
    if asked is None or state.get("pending"):
        return False
    if gives_value(reading, deps):
        return True
    tool, argument = asked
    kind = identifier_kind(_properties(deps, tool).get(argument))
    if kind is None:
        return False
    seen = state.get("grounding") or {}
    slots = [{tag: list(values) for tag, values in reading.slots.items()}]
    return bool(deps.mentioned(tool, kind, [text], sorted(seen.get(kind, ())), argument, seen, slots))


def _bounded_entry(turn: int, dropped: dict[str, int]) -> dict[str, Any]:
    """The trace row saying the grounding's bounds dropped values (``agentspec.decoding.grounding``)."""
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(dropped.items()))
    return {"turn": turn, "kind": "grounding", "outcome": "bounded", "dropped": dict(dropped),
            "output": f"kept the newest {MAX_VALUES_PER_KIND} values per kind, none over {MAX_VALUE_CHARS} "
                      f"characters; dropped: {counts}"}


def route_begin(state: AgentState) -> Literal["guard", "respond", "plan"]:
    if state.get("confirmed"):
        return "guard"
    if state.get("stop"):
        return "respond"
    return "plan"
