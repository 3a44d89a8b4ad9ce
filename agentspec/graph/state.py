"""The agent graph's state: a TypedDict whose fields are plain JSON data, with declared reducers.

Contract: every value is JSON-serialisable (the SQLite checkpointer stores it; no live objects, no
pydantic models). Fields with a reducer accumulate across node updates; the others hold the last
value written.

- ``messages`` (append): the conversation as the model sees it, OpenAI-style dicts. Tool
  observations carry ``meta = {"tool", "arguments", "chars"}`` so old ones can be compacted; ``meta``
  is stripped before a message reaches a model.
- ``grounding`` (union per kind, the newest ``MAX_VALUES_PER_KIND`` kept): identifier values seen so far,
  ``Grounding.as_dict()`` form (oldest first).
- ``trace`` (append): one entry per model step, tool call, guard refusal or graph-made reply.
- ``user_id``: the authenticated user (one per session). ``pending``: the write the graph stated and
  asked about, ``{"calls": [...], "statement": str}``. ``confirmed``: calls the user's last message
  said yes to. ``step``: the step being handled. ``verdicts``: the guard's decision per call.
- ``said``: the user's messages since the last settled request (all of them while a request is open),
  ``slots`` what the reader found in each of them (tag -> values, aligned with ``said``), ``choices``
  the labels it chose (choice head -> label, the latest message's winning), ``asks`` the requests each
  asked for (a write the graph determines reads the messages from the one that asked for its request): what they refer to bounds a write's targets (``policy.targets``) and may
  determine it (``policy.confirmation.determine``).
- ``open_requests``: the requests asked for and not settled yet (``understanding.requests`` classes);
  they scope the tools. A request is settled when a write it needs succeeds, is refused (the user is
  told why) or is declined; once none is open, the next message starts clean. ``asked``: the requests
  this turn's message brought (``policy.act_on_requests``: the turn then starts with a call).
  ``reading``: the reader's reading of this turn's message (for the trace).
- Per-turn counters, reset when a user message arrives: ``steps`` (model steps), ``repeats`` (refused
  identical calls), ``recent_calls`` (fingerprints of calls run since the last write), ``looked_up``
  (the same calls' values, for tools that take one identifier: the grammar bars them), ``stop``
  (why the graph ends the turn itself: limit | repeat | malformed | handoff | reported | ask |
  cannot | declined | remembered | choose | claimed; ``reported`` with the graph's report of a write
  in ``reply``, ``claimed``: the model's reply said a write was done and none ran, and it could call
  nothing instead (``messages.stopped`` is said), ``choose`` with the toolkit's question for an argument the words leave open), ``cannot`` (the
  tool's own error for a write its dry run refused: if the turn then stops, the user is told that reason,
  unless ``unasked``: the model's write served no open request, and the user is asked again instead).
- ``request_asked``: the graph has asked what the user needs (``policy.ask_for_request``), at most
  once per conversation, or the user has already said a request (then it is never asked).
- ``failed_calls``: fingerprints of the calls whose observation was an error, since the last successful
  write, across turns: the store has not changed, so the same call would fail the same way again.
- ``declined``: fingerprints of the stated writes the user answered no to, since the
  last settled request: the graph does not state them again by itself. ``stated``: the write the
  graph last stated, until a request is settled: a message that corrects it changes what it names
  and keeps the rest (``graph.writing``).
- ``recalled``: what ``graph.recall`` found for this (user, turn): the kept memories, the passages, the
  prompt context, whether the turn asks a question the passages speak to, and ``noted``: what the
  customer's words asked to keep, stored this turn. ``noted`` (top level): how many of the user's
  messages have been read for what to keep.
- ``answers``: the toolkit's summaries answering questions asked beside an open task in this turn
  (``graph.questions``); the reply that ends the turn starts with them and clears them.
"""
from __future__ import annotations

import hashlib
import json
import operator
from typing import Annotated, Any, Literal, TypedDict

from agentspec.decoding.grounding import bounded_union

__all__ = ["AgentState", "CallDict", "StopReason", "Verdict", "call_fingerprint", "merge_grounding"]

StopReason = Literal["limit", "repeat", "malformed", "handoff", "reported", "ask", "cannot", "declined", "remembered",
                     "choose", "claimed"]


class CallDict(TypedDict):
    name: str
    arguments: dict[str, Any]


class Verdict(TypedDict):
    call: CallDict
    action: Literal["run", "refuse"]
    reason: str | None  # refuse: unauthenticated | other_user | repeat | operator
    observation: str | None  # refuse: the Error: observation the model sees


def merge_grounding(old: dict[str, list[str]] | None, new: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Union per kind, oldest value first, each kind bounded as ``Grounding`` bounds it (``bounded_union``)."""
    return bounded_union(old, new)


class AgentState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]
    grounding: Annotated[dict[str, list[str]], merge_grounding]
    trace: Annotated[list[dict[str, Any]], operator.add]
    user_id: str | None
    pending: dict[str, Any] | None
    confirmed: list[CallDict]
    step: dict[str, Any] | None
    verdicts: list[Verdict]
    turn: int
    steps: int
    repeats: int
    recent_calls: list[str]
    looked_up: dict[str, list[str]]  # one-identifier lookups run since the last write: tool -> values
    stop: StopReason | None
    reply: str | None
    expert: str | None  # the LoRA expert the router chose for this turn (None: no routing)
    # A write refused in this turn (told if the turn stops): {"tool", "error", "why", "call"}
    cannot: dict[str, Any] | None
    said: list[str]  # the user's messages since the last settled request
    settled_at: int  # len(said) when a request was last settled while others stayed open (0: none since)
    slots: list[dict[str, list[str]]]  # the reader's slots of each message of ``said`` (tag -> values)
    asks: list[list[str]]  # the requests each message of ``said`` asked for
    choices: dict[str, str]  # the reader's choices in ``said``, by head
    open_requests: list[str]  # requests asked for and not settled, in order
    asked: list[str]  # the requests this turn's user message brought
    reading: dict[str, Any] | None  # the reader's reading of this turn's message
    failed_calls: list[str]  # fingerprints of calls that failed since the last successful write
    declined: list[str]  # fingerprints of stated writes the user said no to, since the last settle
    stated: list[CallDict]  # the write the graph last stated, until a request is settled
    asked_arguments: list[str]  # "tool/argument" the graph asked the user to choose, since the last settle
    offered: str | None  # the words of the one choice the graph's last question offered (for the next message)
    request_asked: bool  # policy.ask_for_request was said, or a request was (it is asked at most once)
    recalled: dict[str, Any] | None  # the turn's recalled memories and passages (graph.recall), keyed by (user, turn)
    noted: int  # user messages graph.recall has read for what to keep (memory.remember_said)
    answers: list[str]  # this turn's answers to questions asked beside a task: the turn's reply starts with them


def call_fingerprint(call: CallDict) -> str:
    """Canonical identity of a call (name + arguments, key order ignored)."""
    text = json.dumps([call["name"], call["arguments"]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
