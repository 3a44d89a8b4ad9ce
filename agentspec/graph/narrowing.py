"""What one step may do: the tools offered and the identifier values each argument may take.

Contract: ``narrowed(state, deps) -> Narrowed(tools, grounding)`` is what the grammar allows at this
step, for the model (``nodes.decide``) and for the graph's own steps (``planning``) alike:

1. ``offered_tools``: before authentication only the auth tools, and of them only those the user's
   words give every value of when there are any (``identity.identity_tools``); after it the request scope
   (``AgentDeps.offered_tools``).
2. A one-identifier lookup already run this turn is barred from that value (``bar_repeated_lookups``):
   a small model that saw a refusal tends to repeat it, where the grammar's next-best value is the
   next record to look at.
3. ``policy.targets``: an identifier argument of a followed kind may only take a value the user's
   words refer to, when they refer to any (``keep_named_targets``; the words are ``words_for`` the
   tool: a write's from the message that asked for its request on, a lookup's from the latest
   message that asked for anything on, so an earlier request's order lends the next one nothing;
   ``AgentDeps.mentioned``: the toolkit's verifier against its store, or the reader's slots). A value
   they name that the conversation has not shown (a variant the customer described) is grounded by
   those words: it is added to this step's grounding. A write whose record of a kind lookups read
   (an order) can only be such an unseen one waits for its lookup (``read_before_writing``), and so
   do the other writes of its requests: "deliver my order with the Lamp to ..." is not answered with
   the profile's address while that order is unread. A write with an argument of a kind only the
   words can give (``policy.targets.said``: the items of a return) that they name nothing for is not
   offered (``hold_unsaid``): no model picks the items; the graph asks (``graph.writing``), at most
   ``ASKS`` times. Only the writes of open requests wait so: with none read, nothing says what the
   graph could ask, and the model's call is stated like any other.
4. ``understanding.choices``: an enumerated argument takes only the value the reader's choice head
   found in those words, when it found one (``keep_read_choices``).

Nothing here reads words itself: the reader and the toolkit's hooks do.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentspec.decoding.grounding import Grounding
from agentspec.decoding.schema import EXCLUDED_KEY, grounded_parameters, identifier_kind, with_choices, without_values
from agentspec.graph.deps import AgentDeps
from agentspec.graph.identity import identity_tools
from agentspec.graph.state import AgentState, CallDict
from agentspec.toolkit import Tool
from agentspec.tools.types import GROUNDED_KEY

__all__ = ["Narrowed", "any_callable", "bar_repeated_lookups", "hold_unsaid", "keep_named_targets", "keep_read_choices",
           "looked_up_value", "narrowed", "one_identifier", "read_before_writing", "words_for"]


ASKS = 2  # times the graph asks for what only the words give (policy.targets.said) before the model may choose


@dataclass
class Narrowed:
    tools: list[Tool]
    grounding: Grounding
    offered: list[Tool]  # before steps 2-4: what the system prompt lists
    waiting: list[str] = field(default_factory=list)  # writes held back until their record is read
    unread: dict[str, set[str]] = field(default_factory=dict)  # records writes' words describe, unseen: kind -> ids
    unsaid: dict[str, list[str]] = field(default_factory=dict)  # writes held back: tool -> arguments no words give


def narrowed(state: AgentState, deps: AgentDeps) -> Narrowed:
    """The tools and grounding of this step (module docstring, steps 1-4)."""
    policy = deps.spec.policy
    offered = deps.offered_tools(state.get("user_id"), state.get("open_requests"))
    tools = bar_repeated_lookups(offered, state.get("looked_up"))
    auth = policy.authentication.tools
    given = identity_tools(state, deps) if auth and state.get("user_id") is None else []
    if given:  # none given: every auth tool stays (a name the reader missed may still be looked up)
        tools = [t for t in tools if t.name in given or t.name not in auth]
    seen = state.get("grounding") or {}
    writes = set(policy.confirmation.tools)
    grounding = deps.grounding(seen)

    def words(tool: str) -> tuple[list[str], list[dict[str, list[str]]]]:
        return words_for(state, deps, tool, tool in writes)

    tools, described = keep_named_targets(tools, writes, policy.targets.writes, words, seen, deps.mentioned)
    tools, waiting = read_before_writing(tools, writes, policy.targets.lookups, described, seen)
    unread = {kind: ids for kind, ids in described.items() if kind in policy.targets.lookups}
    if waiting:
        held = set().union(*(deps.requests_needing(name) for name in waiting))
        also = [t.name for t in tools if t.name in writes and deps.requests_needing(t.name) & held]
        tools, waiting = [t for t in tools if t.name not in also], waiting + also
    asked = [key.partition("/")[2] for key in state.get("asked_arguments") or []]
    understanding = deps.spec.understanding
    scoped = writes if understanding is None else writes & deps.request_tools(state.get("open_requests") or [])
    tools, unsaid = hold_unsaid(tools, scoped, policy.targets.said, words, seen, deps.mentioned, asked)
    lookups = {t.name for t in tools} - writes
    tools, described_too = keep_named_targets(tools, lookups, policy.targets.lookups, words, seen, deps.mentioned)
    for kind, ids in (*described.items(), *described_too.items()):
        for value in ids:  # described by the user, found by the toolkit: grounded for this step's grammar
            grounding.add(kind, value)
    if understanding is not None and understanding.choices:
        tools = keep_read_choices(tools, writes, understanding.choices, state.get("choices") or {})
    return Narrowed(tools, grounding, offered, waiting, unread, unsaid)


def words_for(state: AgentState, deps: AgentDeps, tool: str,
              write: bool) -> tuple[list[str], list[dict[str, list[str]]]]:
    """The user's messages (and the reader's slots of each) that speak to ``tool``: for a write, from the
    first message that asked for a request it serves (the first since another request was settled
    beside it, ``settled_at``, when one asked since: "now change the items in my order" after an
    exchange is done speaks anew); for anything else, from the latest message that asked for anything;
    all messages since the last settled request when none asked (module doc, 3)."""
    said, slots, asks = state.get("said") or [], state.get("slots") or [], state.get("asks") or []
    if write:
        serving = deps.requests_needing(tool)
        asking = [i for i, asked in enumerate(asks) if set(asked) & serving]
        since = [i for i in asking if i >= (state.get("settled_at") or 0)]
        start = (since or asking or [0])[0]
    else:
        start = max((i for i, asked in enumerate(asks) if asked), default=0)
    return said[start:], slots[start:]


def one_identifier(tool: Tool) -> tuple[str, str] | None:
    """(argument, identifier kind) of a tool whose only argument is an identifier (a one-record lookup)."""
    properties = tool.parameters.get("properties", {})
    if len(properties) != 1:
        return None
    ((argument, schema),) = properties.items()
    kind = identifier_kind(schema)
    return None if kind is None else (argument, kind)


def looked_up_value(tool: Tool, call: CallDict) -> str | None:
    """The identifier of a one-identifier lookup call (what ``bar_repeated_lookups`` bars); else None."""
    properties = tool.parameters.get("properties", {})
    if len(properties) != 1:
        return None
    ((name, schema),) = properties.items()
    value = call["arguments"].get(name)
    return value if isinstance(schema.get(GROUNDED_KEY), str) and isinstance(value, str) else None


def bar_repeated_lookups(tools: list[Tool], looked_up: dict[str, list[str]] | None) -> list[Tool]:
    """The tools with each one-identifier lookup barred from the values it already ran with."""
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


def keep_named_targets(tools: list[Tool], bound: set[str], kinds: list[str],
                       words: Callable[[str], tuple[list[str], list[dict[str, list[str]]]]],
                       seen: dict[str, list[str]],
                       mentioned: Callable[..., list[str]]) -> tuple[list[Tool], dict[str, set[str]]]:
    """The ``bound`` tools with each identifier argument of a followed kind limited to what the user's words
    for it name (``words(tool) -> (texts, slots)``), and the ids they name that the conversation has not
    shown yet, by kind.

    ``mentioned(tool, kind, texts, candidates, argument, seen, slots)`` picks the ids (``AgentDeps.mentioned``);
    the other seen ids of that kind are excluded from the argument. An unseen id another argument named
    is excluded too (the grammar's grounding is per kind: an exchange's new item must not become its old one).
    """
    described: dict[str, set[str]] = {}
    if not kinds:
        return tools, described
    named: dict[tuple[str, str], list[str]] = {}  # (tool, argument) -> the ids its texts name
    for tool in tools:
        followed = _followed_arguments(tool, bound, kinds)
        texts, slots = words(tool.name) if followed else ([], [])
        for argument, kind in followed:
            candidates = sorted(seen.get(kind, ()))  # none yet: the texts may still describe one
            named[tool.name, argument] = (mentioned(tool.name, kind, texts, candidates, argument, seen, slots)
                                          if texts else [])
            described.setdefault(kind, set()).update(set(named[tool.name, argument]) - set(candidates))
    kept = []
    for tool in tools:
        for argument, kind in _followed_arguments(tool, bound, kinds):
            ids = set(named[tool.name, argument])
            excluded = (set(seen.get(kind, ())) - ids if ids else set()) | (described.get(kind, set()) - ids)
            if excluded:
                tool = without_values(tool, argument, sorted(excluded))
        kept.append(tool)
    return kept, {kind: ids for kind, ids in described.items() if ids}


def hold_unsaid(tools: list[Tool], writes: set[str], kinds: list[str],
                words: Callable[[str], tuple[list[str], list[dict[str, list[str]]]]],
                seen: dict[str, list[str]], mentioned: Callable[..., list[str]],
                asked: Sequence[str] = ()) -> tuple[list[Tool], dict[str, list[str]]]:
    """``tools`` without the ``writes`` that have an identifier argument of one of ``kinds`` the user's
    words for them (``words(tool) -> (texts, slots)``) name no value of, and those writes with those
    arguments, in the tool's order (``mentioned`` as for ``keep_named_targets``). A write whose first
    such argument was ``asked`` for (one entry per question) ``ASKS`` times already is kept: words the
    toolkit cannot read never strand the customer."""
    if not kinds:
        return tools, {}
    kept: list[Tool] = []
    unsaid: dict[str, list[str]] = {}
    for tool in tools:
        followed = _followed_arguments(tool, writes, kinds)
        texts, slots = words(tool.name) if followed else ([], [])
        missing = [argument for argument, kind in followed
                   if not (texts and mentioned(tool.name, kind, texts, sorted(seen.get(kind, ())), argument, seen, slots))]
        if missing and asked.count(missing[0]) < ASKS:
            unsaid[tool.name] = missing
        else:
            kept.append(tool)
    return kept, unsaid


def read_before_writing(tools: list[Tool], writes: set[str], looked_up: list[str],
                        described: dict[str, set[str]], seen: dict[str, list[str]]) -> tuple[list[Tool], list[str]]:
    """``tools`` without the writes whose argument of a kind lookups read (``looked_up``) can only be a
    record the user's words described and the conversation has not shown, and those writes' names:
    that record is read first (the lookup is offered, grounded by the words), so the write's other
    arguments come from it."""
    unread = {kind for kind, ids in described.items() if kind in looked_up and ids}
    if not unread:
        return tools, []
    kept, waiting = [], []
    for tool in tools:
        blocked = False
        if tool.name in writes:
            for schema in tool.parameters.get("properties", {}).values():
                kind = identifier_kind(schema)
                if kind in unread and not set(seen.get(kind, ())) - set(schema.get(EXCLUDED_KEY, [])):
                    blocked = True
        if blocked:
            waiting.append(tool.name)
        else:
            kept.append(tool)
    return kept, waiting


def _followed_arguments(tool: Tool, bound: set[str], kinds: list[str]) -> list[tuple[str, str]]:
    """(argument, kind) of each identifier argument of ``tool`` (when bound) whose kind is followed."""
    if tool.name not in bound:
        return []
    pairs = [(argument, identifier_kind(schema)) for argument, schema in tool.parameters.get("properties", {}).items()]
    return [(argument, kind) for argument, kind in pairs if kind in kinds]


def keep_read_choices(tools: list[Tool], writes: set[str], heads: dict[str, str], chosen: dict[str, str]) -> list[Tool]:
    """The write tools with each enumerated argument that has a choice head (``heads``: argument -> head)
    limited to the label the reader chose (``chosen``: head -> label), when it is one of the values."""
    kept = []
    for tool in tools:
        if tool.name in writes:
            for argument, schema in tool.parameters.get("properties", {}).items():
                values = schema.get("enum") if isinstance(schema, dict) else None
                label = chosen.get(heads.get(argument, ""))
                if isinstance(values, list) and label in values and len(values) > 1:
                    tool = with_choices(tool, argument, [label])
        kept.append(tool)
    return kept


def any_callable(tools: list[Tool], grounding: Grounding) -> bool:
    """Whether some tool can be called with what was seen (every identifier argument has a value)."""
    return any(grounded_parameters(t, grounding) is not None for t in tools)

