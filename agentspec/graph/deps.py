"""What the graph's nodes need besides the state: the live objects of one agent, built once.

Contract: ``AgentDeps`` holds the model, the step decoder, the tool registry, the toolkits (for their
policy hooks), the spec and the rendered-prompt cache. It is never stored in the state (nothing here
is serialisable); ``build_graph`` binds it to the node functions. Toolkit hooks, both optional:

- ``owners(name, arguments) -> set[str]``: the user ids whose data a call touches (one user per
  session; ``RetailStore.owners``);
- ``describe(name, arguments) -> str``: the sentence stating a write before asking to confirm it
  (``RetailStore.describe``); without it the graph states the call's name and JSON arguments;
- ``check(name, arguments) -> str | None``: the error a write would answer now (a dry run), asked
  before the write is stated; None when it would succeed;
- ``report(name, arguments) -> str``: the sentence saying a write is done, after it succeeded
  (``policy.report_writes``); without it the graph says the call's name succeeded;
- ``mentions(kind, texts, candidates, argument, seen) -> list[str] | None``: which of the seen
  identifiers of ``kind`` the user's ``texts`` refer to, the way customers refer to them ("my order
  with the lamp", "my PayPal"; ``RetailStore.mentions``), for a tool's ``argument`` (an exchange's
  old and new items differ), knowing every id ``seen`` so far by kind; None leaves it to
  ``mentioned``'s default, the ids the texts spell out. An id it names that was not seen yet (a
  variant the customer described) is offered too: the customer's words ground it.

Mixture of LoRA experts: with ``spec.routing.router``, ``route(messages)`` names the expert adapter
for a turn and ``use_expert(name)`` makes it the model's active adapter (llama.cpp switches adapters
without reloading; the KV cache restarts, so a switch costs one prompt evaluation).

Request scope: with ``spec.routing.requests``, ``requests_in(text)`` names what a user message asks
for (``agentspec.train.requests``) and ``offered_tools`` withholds each scoped tool (one that
``routing.requests.tools`` lists) until the conversation has asked for something that needs it. Why:
a small model picks the write from what it read thousands of tokens earlier, and picks wrong; the
words of the request decide it better. While no request has been recognised (a phrasing the
classifier does not know), every tool is offered: the scope narrows, it never strands the user.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.graph.prompts import SystemPrompt
from agentspec.runtime.base import ChatModel, GenerationSettings
from agentspec.spec import AgentSpec, SpecError, SpecProblem
from agentspec.toolkit import Tool, ToolRegistry

__all__ = ["AgentDeps"]


@dataclass
class AgentDeps:
    spec: AgentSpec
    model: ChatModel
    decoder: Any  # agentspec.decoding.engine.StepDecoder (imported lazily by the session)
    registry: ToolRegistry
    toolkits: Mapping[str, Any]  # tool name -> the toolkit object that provides it
    settings: GenerationSettings
    approve: bool = False  # operator approval (LangGraph interrupt) before each consequential call
    prompt: SystemPrompt = field(init=False)
    _token_counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # (toolkit, kind, argument, texts, seen) -> ids: every decide step asks again for each write tool,
    # and the retail hook scans users and products; the key holds all the hook reads, so it never goes stale.
    _mentions: dict[tuple[Any, ...], list[str]] = field(default_factory=dict, init=False, repr=False)

    router: Any = field(init=False, default=None)  # agentspec.train.router.Router, when the spec routes
    request_classifier: Any = field(init=False, default=None)  # agentspec.train.requests.RequestClassifier

    def __post_init__(self) -> None:
        self.prompt = SystemPrompt(self.spec)
        self._check_choice_phrases()
        if self.spec.routing.requests is not None:
            from agentspec.train.requests import RequestClassifier  # numpy only

            self.request_classifier = RequestClassifier.load(self.spec.resolve_path(self.spec.routing.requests.classifier))
        if self.spec.routing.router is not None:
            from agentspec.train.router import Router  # numpy only: fine on the chat path

            self.router = Router.load(self.spec.resolve_path(self.spec.routing.router))
            if not callable(getattr(self.model, "set_adapter", None)):
                raise AgentSpecError(f"spec {self.spec.name!r} routes between LoRA experts, but the "
                                     f"{type(self.model).__name__} model cannot switch adapters",
                                     hint="Use backend: llamacpp, or remove `routing:` from the spec.",
                                     code="adapters_unsupported")

    def _check_choice_phrases(self) -> None:
        """``policy.choice_phrases`` may only name values a write's enumerated argument offers: a typo
        ("no longer need") would otherwise never match and the phrases silently do nothing."""
        phrases, writes = self.spec.policy.choice_phrases, set(self.spec.policy.requires_confirmation)
        if not phrases:
            return
        values = {v for t in self.registry.tools if t.name in writes
                  for schema in t.parameters.get("properties", {}).values() if isinstance(schema, dict)
                  for v in schema.get("enum") or []}
        unknown = sorted(set(phrases) - values)
        if unknown:
            allowed = ", ".join(repr(v) for v in sorted(map(str, values))) or "none: no write has choices"
            raise SpecError(self.spec.name, [SpecProblem(f"policy.choice_phrases.{name}", "no write tool's "
                                                         f"enumerated argument has this value (values: {allowed})")
                                             for name in unknown])

    # -- experts ----------------------------------------------------------------------------------

    def route(self, messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, float]]:
        """The expert for the turn that ``messages`` ends with (None without a router)."""
        if self.router is None:
            return None, {}
        return self.router.route([{"role": m["role"], "content": m["content"]} for m in messages])

    def use_expert(self, name: str | None) -> None:
        if name is not None:
            self.model.set_adapter(name)  # type: ignore[attr-defined]  # no-op when already active

    # -- requests -----------------------------------------------------------------------------------

    def requests_in(self, text: str, *, answering: bool = False) -> tuple[list[str], dict[str, float]]:
        """What a user message asks for (empty without a request scope, or when it asks nothing new).

        ``answering``: the message answers the graph's question for the request, so it most likely is
        one whatever the classifier's ``none`` says ("The order I placed with the T-Shirt has to be
        cancelled": none 0.51, cancel 0.18): its most probable request counts at half the threshold
        ("Well, it's complicated": 0.01, still nothing)."""
        if self.request_classifier is None:
            return [], {}
        threshold = self.spec.routing.requests.threshold  # type: ignore[union-attr]
        asked, probs = self.request_classifier.classify(text, threshold)
        if answering and not asked:
            from agentspec.train.requests import most_probable_request  # numpy only, loaded with the classifier

            asked = most_probable_request(probs, threshold / 2)
        return asked, probs

    # -- policy views -----------------------------------------------------------------------------

    def offered_tools(self, user_id: str | None, requests: list[str] | None = None) -> list[Tool]:
        """The tools the grammar offers now: before authentication, only the lookup tools (and a reply).

        Tools that need no user (calculate, the hand-off) wait too: before the user is known nothing
        else is useful, and a small model offered them tends to call them instead of the lookup.
        After it, a scoped tool waits for a request that needs it (see the module doc).
        """
        if user_id is None:
            auth = set(self.spec.policy.auth_tools)
            return [t for t in self.registry.tools if t.name in auth]
        scope = self.spec.routing.requests
        if scope is None or not requests:
            return self.registry.tools
        scoped = {tool for tools in scope.tools.values() for tool in tools}
        needed = {tool for request in requests for tool in scope.tools.get(request, [])}
        return [t for t in self.registry.tools if t.name not in scoped or t.name in needed]

    def report(self, call: Mapping[str, Any]) -> str:
        """What the graph says after write ``call`` succeeded (``policy.report_writes``)."""
        hook = self.hook("report", call["name"])
        sentence = hook(call["name"], call["arguments"]) if hook else None
        return sentence or f"Done: {call['name']} succeeded. Is there anything else I can help you with?"

    def mentioned(self, tool: str, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
                  seen: Mapping[str, list[str]] | None = None) -> list[str]:
        """The ids of ``kind`` that the user's ``texts`` refer to, for ``tool``'s ``argument``: its toolkit's
        ``mentions`` hook, else the ``candidates`` (seen ids of ``kind``) written out in the texts."""
        seen = dict(seen or {})
        key = (id(self.toolkits.get(tool)), kind, argument, tuple(texts), tuple(candidates),
               tuple((k, tuple(v)) for k, v in sorted(seen.items())))
        if key in self._mentions:
            return list(self._mentions[key])
        hook = self.hook("mentions", tool)
        found = hook(kind, texts, candidates, argument=argument, seen=seen) if hook else None
        if found is None:
            lowered = [t.lower() for t in texts]
            found = [c for c in candidates if any(c.lower() in t for t in lowered)]
        if len(self._mentions) > 1024:
            self._mentions.clear()
        self._mentions[key] = list(found)
        return list(found)

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
