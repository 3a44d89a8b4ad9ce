"""What the graph's nodes need besides the state: the live objects of one agent, built once.

Contract: ``AgentDeps`` holds the model, the step decoder, the tool registry, the toolkits (for their
hooks, ``agentspec.hooks``), the reader, the spec and the rendered-prompt cache. It is never stored
in the state (nothing here is serialisable); ``build_graph`` binds it to the node functions.

- ``read(text)``: the reader's ``Reading`` of a user message (``spec.understanding``; memoised: a
  message is read once however many steps look at it). Without understanding, an empty reading.
- ``grounding(values)``: a ``Grounding`` that extracts the toolkits' identifier shapes.
- ``hook(name, tool)``: the toolkit hook ``name`` of the toolkit that provides ``tool``, or None.
- ``claims_done(text)``: whether a reply says a write is done in the words of a toolkit whose write
  the policy confirms (its ``claims_done`` hook; False without one).
- ``offered_tools(user, open_requests)``: before authentication only the auth tools; after it every
  tool but those (one user a conversation: looking anyone up again serves nothing), where a tool
  the understanding's request scope lists waits for an open request that needs it (all of them while
  no request is open: the scope narrows, it never strands the user).
- ``mentioned(tool, kind, texts, candidates, argument, seen, slots)``: the ids of ``kind`` the user's
  words refer to for a tool's argument (``slots``: the reader's slots of each text, aligned with
  ``texts``): the toolkit's ``mentions`` hook (a verifier against its store), else the reader's slot for the argument (when the reader has that tag, what it did not
  find is not named: "Antonio" in "San Antonio" is no first name), else the seen ids written out in
  the texts.

Mixture of LoRA experts: with ``spec.routing.router``, ``route(messages)`` names the expert adapter
for a turn and ``use_expert(name)`` makes it the model's active adapter.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentspec.decoding.grounding import Grounding
from agentspec.errors import AgentSpecError
from agentspec.graph.prompts import SystemPrompt
from agentspec.hooks import Explained, IdentifierShapes, merged_shapes
from agentspec.routing.reader import Reader, Reading
from agentspec.runtime.base import ChatModel, GenerationSettings
from agentspec.spec import AgentSpec, SpecError, message_problems
from agentspec.toolkit import Tool, ToolRegistry

__all__ = ["AgentDeps"]

_EMPTY = Reading()


@dataclass
class AgentDeps:
    spec: AgentSpec
    model: ChatModel
    decoder: Any  # agentspec.decoding.engine.StepDecoder (imported lazily by the session)
    registry: ToolRegistry
    toolkits: Mapping[str, Any]  # tool name -> the toolkit object that provides it
    settings: GenerationSettings
    approve: bool = False  # operator approval (LangGraph interrupt) before each consequential call
    reader: Reader | None = None  # required when the spec has an understanding block
    session: str = "ephemeral"  # the conversation's id: the prefix of its writes' idempotency keys
    memory: Any = None  # agentspec.memory.store.MemoryStore, with spec.memory
    documents: Any = None  # agentspec.memory.documents.DocumentIndex, with spec.retrieval
    prompt: SystemPrompt = field(init=False)
    shapes: IdentifierShapes = field(init=False)
    _token_counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _readings: dict[str, Reading] = field(default_factory=dict, init=False, repr=False)
    # (toolkit, kind, argument, texts, seen, slots) -> ids: asked again at every step for every write tool.
    _mentions: dict[tuple[Any, ...], list[str]] = field(default_factory=dict, init=False, repr=False)
    router: Any = field(init=False, default=None)  # agentspec.routing.router.Router, when the spec routes

    def __post_init__(self) -> None:
        problems = message_problems(self.spec)  # a spec built in code is checked here: the graph says these
        if problems:
            raise SpecError(self.spec.name, problems)
        self.prompt = SystemPrompt(self.spec)
        self.shapes = merged_shapes(list(dict.fromkeys(self.toolkits.values())))
        if self.spec.understanding is not None and self.reader is None:
            raise AgentSpecError(f"spec {self.spec.name!r} reads messages with a trained reader, but none was given",
                                 hint="Build the agent through AgentSession, which loads understanding.reader.",
                                 code="reader_missing")
        if self.spec.routing.router is not None:
            from agentspec.routing.router import Router

            self.router = Router.load(self.spec.resolve_path(self.spec.routing.router))
            if not callable(getattr(self.model, "set_adapter", None)):
                raise AgentSpecError(f"spec {self.spec.name!r} routes between LoRA experts, but the "
                                     f"{type(self.model).__name__} model cannot switch adapters",
                                     hint="Use backend: llamacpp, or remove `routing:` from the spec.",
                                     code="adapters_unsupported")

    # -- memory and retrieval ------------------------------------------------------------------

    @property
    def memory_enabled(self) -> bool:
        return self.spec.memory is not None and self.memory is not None

    @property
    def retrieval_enabled(self) -> bool:
        return self.spec.retrieval is not None and self.documents is not None

    def verify_memory(self, user_id: str, memory: Mapping[str, Any]) -> dict[str, Any]:
        """The first toolkit ``verify_memory`` verdict that is not ``unknown`` (``{"status": "unknown"}``
        when no toolkit knows the memory's kind)."""
        for toolkit in dict.fromkeys(self.toolkits.values()):
            hook = getattr(toolkit, "verify_memory", None)
            verdict = hook(user_id, dict(memory)) if hook else None
            if verdict and verdict.get("status") in ("fresh", "stale"):
                return dict(verdict)
        return {"status": "unknown"}

    def remember_write(self, user_id: str | None, call: Mapping[str, Any], observation: str, turn: int) -> int:
        """Store what the ``memories`` hook of the write's toolkit draws from a successful write; returns
        how many memories were added (0 without memory, a user or the hook)."""
        spec = self.spec.memory
        hook = self.hook("memories", call["name"])
        if not (self.memory_enabled and spec and spec.remember_writes and user_id and hook):
            return 0
        from agentspec.memory.store import Fact

        facts = [Fact(**fact) for fact in hook(call["name"], dict(call["arguments"]), observation) or []]
        return len(self.memory.remember(user_id, facts, session=self.session, turn=turn)) if facts else 0

    def remember_said(self, user_id: str, label: str, texts: list[str], slots: list[dict[str, list[str]]],
                      turn: int) -> list[Any]:
        """Store what the first toolkit's ``stated_memories`` hook resolves of a customer's words (``label``:
        what the reader read they ask to keep); returns the facts resolved, stored now or already known
        ([] without memory or a hook)."""
        if not self.memory_enabled:
            return []
        from agentspec.memory.store import Fact

        for toolkit in dict.fromkeys(self.toolkits.values()):
            hook = getattr(toolkit, "stated_memories", None)
            facts = [Fact(**fact) for fact in (hook(user_id, label, texts, slots) if hook else None) or []]
            if facts:
                self.memory.remember(user_id, facts, session=self.session, turn=turn)
                return facts
        return []

    # -- experts ----------------------------------------------------------------------------------

    def route(self, messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, float]]:
        """The expert for the turn that ``messages`` ends with (None without a router)."""
        if self.router is None:
            return None, {}
        return self.router.route([{"role": m["role"], "content": m["content"]} for m in messages])

    def use_expert(self, name: str | None) -> None:
        if name is not None:
            self.model.set_adapter(name)  # type: ignore[attr-defined]  # no-op when already active

    # -- reading ----------------------------------------------------------------------------------

    def read(self, text: str) -> Reading:
        """The reader's reading of a user message (an empty one without understanding)."""
        if self.reader is None:
            return _EMPTY
        reading = self._readings.get(text)
        if reading is None:
            reading = self.reader.read(text)
            if len(self._readings) > 1024:
                self._readings.clear()
            self._readings[text] = reading
        return reading

    def grounding(self, values: Mapping[str, Any] | None = None) -> Grounding:
        """A grounding that extracts the toolkits' identifier shapes (``values``: what was seen)."""
        return Grounding.from_shapes(self.shapes, values)

    # -- policy views -----------------------------------------------------------------------------

    def offered_tools(self, user_id: str | None, requests: list[str] | None = None) -> list[Tool]:
        """The tools the grammar offers now: before authentication, only the lookup tools (and a reply).

        Tools that need no user (a calculator, the hand-off) wait too: before the user is known nothing
        else is useful, and a small model offered them tends to call them instead of the lookup.
        After it, a scoped tool waits for an open request that needs it (see the module doc).
        """
        auth = set(self.spec.policy.authentication.tools)
        if user_id is None:
            return [t for t in self.registry.tools if t.name in auth]
        tools = [t for t in self.registry.tools if t.name not in auth]  # one user a conversation: found already
        understanding = self.spec.understanding
        if understanding is None or not understanding.requests or not requests:
            return tools
        scoped = {tool for tools in understanding.requests.values() for tool in tools}
        needed = self.request_tools(requests)
        return [t for t in tools if t.name not in scoped or t.name in needed]

    def request_tools(self, requests: Iterable[str]) -> set[str]:
        """The tools the request scope gives ``requests`` (none without a reader's request scope)."""
        understanding = self.spec.understanding
        if understanding is None:
            return set()
        return {tool for request in requests for tool in understanding.requests.get(request, [])}

    def requests_needing(self, tool: str) -> set[str]:
        """The request classes whose scope lists ``tool``."""
        understanding = self.spec.understanding
        if understanding is None:
            return set()
        return {request for request, tools in understanding.requests.items() if tool in tools}

    def describe(self, call: Mapping[str, Any]) -> str:
        """The statement of a write and the question whether to go ahead (``messages.confirm``)."""
        hook = self.hook("describe", call["name"])
        sentence = hook(call["name"], call["arguments"]) if hook else None
        if not sentence:
            sentence = str(self.spec.messages.statement or "{tool} {arguments}").format(
                tool=call["name"], arguments=json.dumps(call["arguments"], ensure_ascii=False))
        return str(self.spec.messages.confirm or "{statement}").format(statement=sentence)

    def report(self, call: Mapping[str, Any]) -> str:
        """What the graph says after write ``call`` succeeded (``policy.confirmation.report``)."""
        hook = self.hook("report", call["name"])
        sentence = hook(call["name"], call["arguments"]) if hook else None
        return sentence or str(self.spec.messages.reported or "{tool}").format(tool=call["name"])

    def claims_done(self, text: str) -> bool:
        """Whether ``text`` says a write is done, in a confirmed write's toolkit's words (module doc)."""
        hooks = {self.hook("claims_done", tool) for tool in self.spec.policy.confirmation.tools} - {None}
        return any(hook(text) for hook in hooks)

    def explain(self, call: Mapping[str, Any], error: str) -> Explained | None:
        """The toolkit's words for write ``call`` refused by its dry run with ``error``; None without them."""
        hook = self.hook("explain", call["name"])
        explained = hook(call["name"], call["arguments"], error) if hook else None
        return explained if isinstance(explained, Explained) and explained.text else None

    def ask(self, call: Mapping[str, Any], argument: str, user: str | None = None,
            texts: Sequence[str] = ()) -> Explained | None:
        """The toolkit's question to ``user`` for ``argument`` of write ``call`` (the arguments given), whose
        words so far are ``texts``, with the one choice it offers if any; None without one."""
        hook = self.hook("ask", call["name"])
        question = hook(call["name"], call["arguments"], argument, user=user, texts=list(texts)) if hook else None
        if isinstance(question, str):
            question = Explained(question)
        return question if isinstance(question, Explained) and question.text else None

    def summary(self, call: Mapping[str, Any]) -> str | None:
        """The toolkit's answer to a question about the record lookup ``call`` returns; None without one."""
        hook = self.hook("summary", call["name"])
        return hook(call["name"], call["arguments"]) if hook else None

    def run(self, call: Mapping[str, Any], key: str | None = None) -> tuple[str, bool]:
        """Run ``call``: ``(observation, ran)``. With a ``key``, a toolkit with the ``once`` hook runs it at
        most once per key (a replay answers the recorded observation and ``ran=False``)."""
        def observe() -> str:
            return self.registry.call(call["name"], dict(call["arguments"])).observation

        once = self.hook("once", call["name"]) if key is not None else None
        if once is None:
            return observe(), True
        return once(f"{self.session}/{key}", observe)

    def mentioned(self, tool: str, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
                  seen: Mapping[str, list[str]] | None = None,
                  slots: list[dict[str, list[str]]] | None = None) -> list[str]:
        """The ids of ``kind`` that the user's ``texts`` refer to, for ``tool``'s ``argument`` (module doc)."""
        seen, slots = dict(seen or {}), [{k: list(v) for k, v in s.items()} for s in slots or []]
        key = (id(self.toolkits.get(tool)), tool, kind, argument, tuple(texts), tuple(candidates),
               tuple((k, tuple(v)) for k, v in sorted(seen.items())), tuple(tuple((k, tuple(v)) for k, v in sorted(s.items())) for s in slots))
        if key in self._mentions:
            return list(self._mentions[key])
        hook = self.hook("mentions", tool)
        found = hook(kind, texts, candidates, argument=argument, seen=seen, slots=slots, tool=tool) if hook else None
        if found is None:
            tag = self.slot_tag(argument, kind)
            if tag is not None:  # the reader reads this argument: what it did not find, the words do not name
                found = list(dict.fromkeys(v for s in slots for v in s.get(tag, [])))
            else:
                lowered = [t.lower() for t in texts]
                found = [c for c in candidates if any(c.lower() in t for t in lowered)]
        if len(self._mentions) > 1024:
            self._mentions.clear()
        self._mentions[key] = list(found)
        return list(found)

    def slot_tag(self, argument: str | None, kind: str) -> str | None:
        """The reader's tag that gives ``argument`` (``understanding.slots``, else the argument's own name,
        else the kind's), when the reader has it."""
        if self.reader is None:
            return None
        mapped = (self.spec.understanding.slots if self.spec.understanding else {}).get(argument or "")
        for tag in (mapped, argument, kind):
            if tag and tag in self.reader.tags:
                return tag
        return None

    def hook(self, name: str, tool: str) -> Callable[..., Any] | None:
        return getattr(self.toolkits.get(tool), name, None)

    def count_tokens(self, text: str) -> int:
        """Model token count, memoised (the same observations are re-counted at every step)."""
        n = self._token_counts.get(text)
        if n is None:
            n = self.model.count_tokens(text)
            if len(self._token_counts) > 4096:
                self._token_counts.clear()
            self._token_counts[text] = n
        return n

    @property
    def prompt_budget(self) -> int:
        """Tokens the prompt may use: the spec's budget, within the context minus the reply's room."""
        room = self.model.context_length - self.settings.max_tokens - 32  # 32: template overhead slack
        return max(64, min(self.spec.limits.context_budget, room))
