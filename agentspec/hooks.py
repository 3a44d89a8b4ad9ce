"""The typed hooks through which a domain reaches the core: nothing else of a toolkit is known to it.

The core (runtime, decoding, graph, spec) names no domain, no identifier shape and no language. A
toolkit object (what its entry point's factory returns; ``agentspec.toolkit``) offers its tools and,
optionally, these hooks, found by name on the object. Every hook is optional; without it the graph
falls back to something generic and says so in its docstring.

- ``owners(name, arguments) -> set[str]``: the user ids whose data a call touches (the policy's one
  user per conversation). Without it: nobody's, nothing is refused for ownership.
- ``check(name, arguments) -> str | None``: the error a write would answer now (a dry run on a
  sandbox), asked before the write is stated; None when it would succeed.
- ``describe(name, arguments) -> str | None``: the sentence stating a write before the confirmation
  question. Without it: the spec's ``messages.statement`` with the call's name and JSON arguments.
- ``report(name, arguments) -> str | None``: the sentence saying a write is done, from the store.
- ``claims_done(text) -> bool``: whether a reply says, in this toolkit's words for its reports, that a
  write is done ("Order #W1 has been cancelled"). The graph lets no model reply say so in a turn where
  no write ran: it asks the model for a call instead, or says ``messages.stopped``. Without it: the
  model's words stand.
- ``explain(name, arguments, error) -> Explained | None``: what the customer hears when the dry run
  refuses write ``name(arguments)`` with ``error``: the reason in their terms and, when another choice
  could be done (a version of an item that is not in stock: the closest ones that are), those
  choices, with ``keeps_request`` True so the request stays open for the answer, and ``offer`` when it
  offers exactly one. Without it, or None: the spec's ``messages.cannot`` with the tool's error, and the
  request is settled.
- ``ask(name, arguments, argument, user=None, texts=()) -> str | Explained | None``: the question asking
  the customer (``user``, verified) for an argument of write ``name`` their words (``texts``) leave open
  (``arguments``: those given): "Which payment method should I use: PayPal or the Visa card ending in
  1111?", "Which items would you like to return?"; an ``Explained`` when the question offers exactly one
  choice (its ``offer``). Without it, or None: the model asks.
- ``summary(name, arguments) -> str | None``: the answer to a question about the record lookup
  ``name(arguments)`` returns, from the store (``understanding.questions``). Without it, or None: the
  model answers from the lookup's observation.
- ``once(key, run) -> (observation, ran)``: runs the write ``run()`` at most once per ``key``, recording
  the key and the observation in the write's own transaction; a recorded key answers its observation
  and ``ran=False``. The graph keys each write by session, turn, step and call, so a turn resumed
  after a crash reports a write that ran instead of running it again. Without it: the write runs
  plainly, and a crash between the write and the turn's checkpoint may repeat it on resume.
- ``mentions(kind, texts, candidates, argument=None, seen=None, slots=None, tool=None) -> list[str] | None``:
  which seen identifiers of ``kind`` the user's ``texts`` refer to (a verifier against the store: "my
  order with the lamp" is the order whose items include a Lamp); ``slots`` are the reader's spans
  of each of those texts by tag (aligned with ``texts``); ``tool`` the tool whose ``argument`` it is. None: the generic rule (an id written out in the texts, or a slot of the
  argument's name). For a write of two lists of ids (old items, new ones), the n-th id of the second
  is the one the words give the n-th of the first, where they pair them ("the silver watch for a gold
  one and the black one in LCD").
- ``memories(name, arguments, observation) -> list[dict]``: what a successful confirmed write leaves
  worth remembering for the authenticated user: facts ``{text, key, value, kind}`` (``agentspec.memory.
  store.Fact``; a newer fact of the same key supersedes an older one). Without it nothing is remembered.
- ``stated_memories(user_id, label, texts, slots) -> list[dict]``: what a verified customer's words ask
  to keep for later, resolved against the store: ``label`` is the kind the reader read
  (``memory.remember_said``'s head: "payment_method" for "refunds to my PayPal from now on"), ``texts``
  the message(s), ``slots`` the reader's spans of each. Facts as for ``memories``; [] when the words
  name nothing of that kind the store knows for this user (nothing is remembered then). Without it
  nothing is remembered from words alone.
- ``verify_memory(user_id, memory) -> dict``: the consistency check of a recalled memory against live
  data: ``{"status": "fresh"}``, ``{"status": "stale", "live": value, "text": fact or None}`` (the memory is
  superseded and not shown) or ``{"status": "unknown"}`` (kept). Without it every memory is unknown.
- ``documents() -> list[Document]``: documents retrieval indexes (``agentspec.memory.documents``), each
  with its ``source``; used when the spec's ``retrieval.toolkit_documents`` is on.
- ``identifier_shapes: IdentifierShapes``: how identifiers of each kind look in free text and under
  which JSON keys they appear; the grounding of the grammar collects them (``agentspec.decoding.grounding``).

The factory (the entry point's object) may also carry, as attributes:

- ``tool_names``, ``identifier_kinds``: lets ``agentspec validate`` check a spec without building it;
- ``open_session(config, directory, data) -> toolkit``: the toolkit for one saved session whose files
  live in ``directory`` (None: an ephemeral session), created on first use and REOPENED on resume;
  ``data`` is the user's ``--data`` override of where the toolkit's data comes from. Without it the
  session calls the factory with the spec's ``config``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["HOOK_NAMES", "DomainHooks", "Explained", "IdentifierShapes", "KnowledgeHooks", "SessionOpener",
           "merged_shapes"]

HOOK_NAMES = ("owners", "check", "describe", "report", "claims_done", "explain", "ask", "summary", "mentions", "once",
              "memories", "stated_memories", "verify_memory", "documents")


@dataclass(frozen=True)
class Explained:
    """A refused write in the customer's terms (the ``explain`` hook), or a question (the ``ask`` hook):
    ``text`` is said as it is; ``keeps_request``: another choice could be done, so the request stays open
    for the answer; ``offer``: the words of the one choice the text offers ("#W1", "the Gaming Mouse with
    color black, connectivity wireless"): a plain yes to the text says them (``graph.reading``)."""

    text: str
    keeps_request: bool = False
    offer: str | None = None


@dataclass(frozen=True)
class IdentifierShapes:
    """How a toolkit's identifiers look. ``patterns``: kind -> Python regex over free text (user messages,
    plain observations); ``keys``: JSON key -> kind, where the generic ``<kind>_id`` rule does not say it;
    ``phrases``: kind -> most words of a run the user dictates (every run of up to N words of a clause is
    a value: an address line the model must copy from the user's words)."""

    patterns: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    phrases: Mapping[str, int] = field(default_factory=dict)


def merged_shapes(toolkits: list[Any]) -> IdentifierShapes:
    """The union of the toolkits' shapes (the first toolkit wins a kind two of them define)."""
    patterns: dict[str, str] = {}
    keys: dict[str, str] = {}
    phrases: dict[str, int] = {}
    for toolkit in toolkits:
        shapes = getattr(toolkit, "identifier_shapes", None)
        if isinstance(shapes, IdentifierShapes):
            for mine, theirs in ((patterns, shapes.patterns), (keys, shapes.keys), (phrases, shapes.phrases)):
                for key, value in theirs.items():
                    mine.setdefault(key, value)  # type: ignore[arg-type]
    return IdentifierShapes(patterns, keys, phrases)


@runtime_checkable
class DomainHooks(Protocol):
    """The hooks a toolkit may implement (each one optional; see the module docstring)."""

    def owners(self, name: str, arguments: Mapping[str, Any]) -> set[str]: ...

    def check(self, name: str, arguments: Mapping[str, Any]) -> str | None: ...

    def describe(self, name: str, arguments: Mapping[str, Any]) -> str | None: ...

    def report(self, name: str, arguments: Mapping[str, Any]) -> str | None: ...

    def claims_done(self, text: str) -> bool: ...

    def explain(self, name: str, arguments: Mapping[str, Any], error: str) -> Explained | None: ...

    def ask(self, name: str, arguments: Mapping[str, Any], argument: str, user: str | None = None,
            texts: Sequence[str] = ()) -> str | Explained | None: ...

    def summary(self, name: str, arguments: Mapping[str, Any]) -> str | None: ...

    def mentions(self, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
                 seen: dict[str, list[str]] | None = None,
                 slots: list[dict[str, list[str]]] | None = None, tool: str | None = None) -> list[str] | None: ...

    def once(self, key: str, run: Callable[[], str]) -> tuple[str, bool]: ...


@runtime_checkable
class KnowledgeHooks(Protocol):
    """The hooks of a toolkit that feeds long-term memory and retrieval (each optional; module docstring)."""

    def memories(self, name: str, arguments: Mapping[str, Any], observation: str) -> list[dict[str, str]]: ...

    def stated_memories(self, user_id: str, label: str, texts: list[str],
                        slots: list[dict[str, list[str]]]) -> list[dict[str, str]]: ...

    def verify_memory(self, user_id: str, memory: Mapping[str, Any]) -> dict[str, Any]: ...

    def documents(self) -> list[Any]: ...


class SessionOpener(Protocol):
    """``factory.open_session``: the toolkit of one session (see the module docstring)."""

    def __call__(self, config: dict[str, Any], directory: Path | None, data: str | None) -> Any: ...
