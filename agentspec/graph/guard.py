"""The policy guard: what the graph lets a decided step do, whatever the model wanted.

Contract (the spec's ``policy`` and ``limits`` drive it; the model is never trusted with it):

1. A call repeated identically since the last successful write in this turn is refused with an
   observation saying so; more than ``limits.max_repeated_calls`` such refusals end the turn. For a
   tool that takes one identifier (a lookup) the grammar does not even offer the repeat
   (``bar_repeated_lookups``): a small model that saw a refusal tends to repeat it anyway, where
   the grammar's next-best value is the next order to look at.
2. A tool in ``policy.requires_user`` is refused until an ``auth_tools`` call succeeded in this
   session (the grammar does not even offer it before: ``AgentDeps.offered_tools``).
3. With ``one_user_per_session``, a call whose data belongs to another user (the toolkit's ``owners``
   hook) is refused.
4. A tool in ``policy.requires_confirmation`` runs only if it is exactly (name and arguments) a call
   the user's last message confirmed. A write the toolkit's ``check`` hook says would fail (a dry
   run) is refused with the tool's own error before it is ever stated: the user is not asked to
   confirm what cannot be done, and the model reads why. Otherwise the step is replaced by the
   graph's own statement of that call ("I'm about to ... Shall I proceed? (yes/no)") and the call
   becomes ``pending``; the turn ends there. The next user message either confirms it (``is_yes``: the graph runs exactly
   the pending call) or not (it is dropped and the model hears the user).
5. With ``policy.writes_follow_named`` (identifier kinds, e.g. ``[order, item]``), a write's argument
   of such a kind (or each item of a list of them) may only take a value the user's messages since
   the last successful write refer to, when they refer to any (``keep_named_targets``, in the
   grammar): "cancel #W9583042" is never a cancel of the order the model read last, and with the
   toolkit's ``mentions`` hook "my order with the lamp" or "refund it to my PayPal" bound the order
   and the payment method the same way ("the one with color grey": the exchange's new item, even
   before the product was read); ``policy.lookups_follow_named`` (e.g. ``[product]``) does the
   same for lookups ("the Backpack": its product details, not every product of every order).
   Messages that refer to none leave the choice open.
   With ``policy.choices_follow_said``, an enumerated argument of a write (a cancel reason) takes
   only the values the same messages say (``keep_said_choices``: every word of the value, by its
   first letters, so "I no longer need it" says "no longer needed"; or the words of one of the value's
   ``policy.choice_phrases``, "I bought it by accident"); none said, any value.
6. With operator approval (``--approve``), ``approve`` pauses the graph with a LangGraph
   ``interrupt`` before each confirmed consequential call; the operator's answer resumes it. The
   node has no side effect before its interrupts (LangGraph re-runs it from the top on resume).

A refused call is not run; the model sees ``Error: policy: ...`` as its observation and carries on.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

from langgraph.types import interrupt

from agentspec.decoding.schema import identifier_kind, with_choices, without_values
from agentspec.graph.deps import AgentDeps
from agentspec.graph.state import AgentState, CallDict, Verdict, call_fingerprint
from agentspec.toolkit import Tool
from agentspec.tools.types import GROUNDED_KEY

__all__ = ["approve", "bar_repeated_lookups", "describe", "guard", "is_no", "is_yes", "keep_named_targets",
           "ruling",
           "keep_said_choices", "said_choices",
           "looked_up_value", "route_guard"]

_YES = re.compile(r"^\s*(?:y|yes|yeah|yep|yup|sure|ok|okay|confirm(?:ed)?|correct|proceed|please proceed|"
                  r"go ahead|please do|do it|absolutely|definitely)\b", re.I)
# A "yes" that goes on to hedge or change something is not an explicit confirmation of the call.
_HEDGE = re.compile(r"\b(?:no|not|don'?t|do not|wait|but|instead|actually|change|hold on|rather)\b", re.I)
_NO = re.compile(r"^\s*(?:n|no|nope|nah|don'?t|do not|stop|cancel that|never ?mind)\b", re.I)


def is_yes(text: Any) -> bool:
    """An explicit, unhedged yes (also ``True`` from a programmatic approval)."""
    if isinstance(text, bool):
        return text
    return isinstance(text, str) and bool(_YES.search(text)) and not _HEDGE.search(text)


def is_no(text: Any) -> bool:
    return text is False or (isinstance(text, str) and bool(_NO.search(text)))


def looked_up_value(tool: Tool, call: CallDict) -> str | None:
    """The identifier of a one-identifier lookup call (what ``bar_repeated_lookups`` bars); else None."""
    properties = tool.parameters.get("properties", {})
    if len(properties) != 1:
        return None
    ((name, schema),) = properties.items()
    value = call["arguments"].get(name)
    return value if isinstance(schema.get(GROUNDED_KEY), str) and isinstance(value, str) else None


def bar_repeated_lookups(tools: list[Tool], looked_up: dict[str, list[str]] | None) -> list[Tool]:
    """The tools with each one-identifier lookup barred from the values it already ran with (rule 1)."""
    if not looked_up:
        return tools
    barred = []
    for tool in tools:
        values = looked_up.get(tool.name)
        if values:
            (argument,) = tool.parameters["properties"]  # only one-identifier lookups are recorded
            tool = without_values(tool, argument, values)
        barred.append(tool)
    return barred


def keep_named_targets(tools: list[Tool], bound: set[str], kinds: list[str], texts: list[str] | None,
                       seen: dict[str, list[str]],
                       mentioned: Callable[..., list[str]]) -> tuple[list[Tool], dict[str, set[str]]]:
    """The ``bound`` tools with each identifier argument of a followed kind limited to what ``texts`` name
    (rule 5: the writes with ``writes_follow_named``, the lookups with ``lookups_follow_named``), and
    the ids they name that the conversation has not shown yet, by kind.

    ``mentioned(tool, kind, texts, candidates, argument, seen)`` picks the ids the user's texts refer
    to (``AgentDeps.mentioned``); the other seen ids of that kind are excluded from the argument. An
    id it names that was not seen (the variant a customer described, "the same jacket in navy",
    found in the catalogue by the toolkit) is grounded by those words: the caller adds it to what
    the grammar offers, so the write need not wait for a read the model may not think of.
    """
    described: dict[str, set[str]] = {}
    if not kinds or not texts:
        return tools, described
    named: dict[tuple[str, str], list[str]] = {}  # (tool, argument) -> the ids its texts name
    for tool in tools:
        for argument, kind in _followed_arguments(tool, bound, kinds):
            candidates = sorted(seen.get(kind, ()))  # none yet: the texts may still describe one
            named[tool.name, argument] = mentioned(tool.name, kind, texts, candidates, argument, seen)
            described.setdefault(kind, set()).update(set(named[tool.name, argument]) - set(candidates))
    kept = []
    for tool in tools:
        for argument, kind in _followed_arguments(tool, bound, kinds):
            ids = set(named[tool.name, argument])
            # The other seen ids when the texts name some; never an unseen id another argument named
            # (the grammar's grounding is per kind: an exchange's new item must not become its old one).
            excluded = (set(seen.get(kind, ())) - ids if ids else set()) | (described.get(kind, set()) - ids)
            if excluded:
                tool = without_values(tool, argument, sorted(excluded))
        kept.append(tool)
    return kept, {kind: ids for kind, ids in described.items() if ids}


def _followed_arguments(tool: Tool, bound: set[str], kinds: list[str]) -> list[tuple[str, str]]:
    """(argument, kind) of each identifier argument of ``tool`` (when bound) whose kind is followed."""
    if tool.name not in bound:
        return []
    pairs = [(argument, identifier_kind(schema)) for argument, schema in tool.parameters.get("properties", {}).items()]
    return [(argument, kind) for argument, kind in pairs if kind in kinds]


_WORD = re.compile(r"[a-z0-9]+")
_STEM = 4  # "need" says "needed", "order" says "ordered": the first letters of a word are enough


def _stems(text: str) -> set[str]:
    return {w[:_STEM] for w in _WORD.findall(text.lower()) if len(w) > 2}  # "no", "by", "it" say nothing


def said_choices(values: list[Any], texts: list[str], phrases: dict[str, list[str]] | None = None) -> list[Any]:
    """The string ``values`` whose every word (of three letters or more) the ``texts`` say, by its stem, or
    every word of one of the value's other ``phrases`` ("I bought it by accident": "ordered by mistake")."""
    said = set().union(*(_stems(t) for t in texts)) if texts else set()

    def says(phrase: str) -> bool:
        return bool(_stems(phrase)) and _stems(phrase) <= said

    return [v for v in values if isinstance(v, str) and (says(v) or any(map(says, (phrases or {}).get(v, ()))))]


def keep_said_choices(tools: list[Tool], writes: set[str], texts: list[str] | None,
                      phrases: dict[str, list[str]] | None = None) -> list[Tool]:
    """The write tools with each enumerated argument limited to the values ``texts`` say, when they say any."""
    if not texts:
        return tools
    kept = []
    for tool in tools:
        if tool.name in writes:
            for argument, schema in tool.parameters.get("properties", {}).items():
                values = schema.get("enum") if isinstance(schema, dict) else None
                said = said_choices(values, texts, phrases) if isinstance(values, list) else []
                if said and len(said) < len(values):
                    tool = with_choices(tool, argument, said)
        kept.append(tool)
    return kept


def describe(deps: AgentDeps, call: CallDict) -> str:
    """The deterministic statement of a consequential call, ending with the question."""
    hook = deps.hook("describe", call["name"])
    sentence = hook(call["name"], call["arguments"]) if hook else None
    if not sentence:
        sentence = f"I'm about to call {call['name']} with {json.dumps(call['arguments'], ensure_ascii=False)}."
    return f"{sentence} Shall I proceed? (yes/no)"


def _refuse(call: CallDict, reason: str, message: str) -> Verdict:
    return {"call": call, "action": "refuse", "reason": reason, "observation": f"Error: policy: {message}"}


def ruling(deps: AgentDeps, state: AgentState, call: CallDict) -> Verdict | Literal["confirm"]:
    """What the guard does with ``call`` now: a run or refuse verdict, or "confirm" (state it and ask).
    ``decide`` asks it before the graph makes a step itself (``agentspec.graph.determined``)."""
    policy = deps.spec.policy
    user = state.get("user_id")
    if call_fingerprint(call) in state.get("recent_calls", []):
        return _refuse(call, "repeat", f"{call['name']} was already called with these arguments in this turn; "
                       "its result is above. Use it, or reply to the user.")
    if call["name"] in policy.requires_user and user is None:
        auth = " or ".join(policy.auth_tools) or "an authentication tool"
        return _refuse(call, "unauthenticated", f"authenticate the user first ({auth}).")
    if policy.one_user_per_session and user is not None:
        owners_hook = deps.hook("owners", call["name"])
        others = sorted((owners_hook(call["name"], call["arguments"]) if owners_hook else set()) - {user})
        if others:
            return _refuse(call, "other_user", f"this data belongs to another user; this conversation can only "
                           f"help the authenticated user {user}.")
    if call["name"] in policy.requires_confirmation and call not in state.get("confirmed", []):
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
            statement = describe(deps, call)
            # The whole step gives way to the statement: nothing runs until the user says yes.
            return {"pending": {"calls": [call], "statement": statement}, "verdicts": [], "repeats": repeats}
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
    needs = set(deps.spec.policy.requires_confirmation)
    if deps.approve and any(v["action"] == "run" and v["call"]["name"] in needs for v in state.get("verdicts", [])):
        return "approve"
    return "act"


def approve(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    """Operator approval: one interrupt per consequential call; a refusal becomes the observation."""
    needs = set(deps.spec.policy.requires_confirmation)
    out: list[Verdict] = []
    for verdict in state.get("verdicts", []):
        call = verdict["call"]
        if verdict["action"] == "run" and call["name"] in needs:
            answer = interrupt({"kind": "approval", "call": call, "statement": describe(deps, call)})
            if not is_yes(answer):
                verdict = _refuse(call, "operator", "the operator did not approve this action, so it was not "
                                  "done; tell the user.")
        out.append(verdict)
    return {"verdicts": out}
