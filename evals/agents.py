"""The agent side of the harness: the protocol an agent under test implements, and the oracle.

Protocol:
- ``EvalAgent.start(store, task_id, seed=0) -> EvalSession``: one conversation against ``store`` (a
  fresh copy per episode; the agent runs its tools on it and nothing else). ``task_id`` is for logs
  and caches only: an honest agent must not look anything up by it.
- ``EvalSession.respond(user_text) -> AgentTurn``: everything the agent did for one user message:
  its tool calls with their observations, then the reply. ``close()`` is optional.
- ``AgentTurn`` carries what the agent knows about itself (model steps, malformed steps, tokens,
  time); the harness adds what it measures independently (hallucinated ids, policy violations).

``OracleAgent(gold)`` is the harness's self-check: it gets each task's evaluation criteria through
its constructor (``AgentFactory`` passes them; the user never does) and plays a model citizen: asks
for identity, runs the gold reads, describes each write and asks for a yes, runs it, reports it done
and says every ``communicate_info`` string. On any generated suite it must score 1.0.

``make_agent("oracle", gold=...)`` or ``make_agent("spec", spec=...)``: the latter imports
``agentspec.evals.spec_agent.make_eval_agent`` lazily; when that module is missing it raises
``AgentUnavailableError``. ``AgentFactory`` is the picklable recipe worker processes build agents from.

Threads: llama.cpp models of parallel workers must not oversubscribe the cores (two processes with
n_threads = all cores run many times slower than one, as each waits on the other's threads).
``AgentFactory.threads`` (the user's explicit choice) wins over everything; otherwise the spec's
``model.threads``; otherwise ``default_threads``, which the harness sets to ``worker_threads(n)``
= ``max(1, cores // n)`` for a pool of n workers. Neither field is part of the factory's ``repr`` (the
run's identity): a run resumed with another ``--workers`` or ``--threads`` is the same run.

Not here: the episode loop, the user, scoring.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from agentspec.errors import AgentSpecError
from agentspec.tools.retail import RetailStore

from .tasks import Action, EvaluationCriteria

__all__ = [
    "AgentUnavailableError", "ToolCallRecord", "AgentTurn", "EvalSession", "EvalAgent", "OracleAgent",
    "AgentFactory", "make_agent", "check_agent", "worker_threads", "TRANSFER_MESSAGE", "AGENT_KINDS",
]

AGENT_KINDS = ("oracle", "spec")
# The policy's fixed hand-off message (policy.md: "To transfer, ... send the message ...").
TRANSFER_MESSAGE = "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."
_YES = re.compile(r"^\s*(?:yes|yeah|yep|sure|ok|okay|confirm|go ahead|please proceed|please do)\b", re.I)


class AgentUnavailableError(AgentSpecError):
    """An agent kind that cannot be built here (unknown kind, missing module or option)."""

    code = "agent_unavailable"


@dataclass
class ToolCallRecord:
    name: str
    arguments: dict[str, Any]
    observation: str
    outcome: str = "ok"  # "ok" | "error" (the observation starts with "Error:")

    @classmethod
    def run(cls, store: RetailStore, name: str, arguments: Mapping[str, Any]) -> ToolCallRecord:
        observation = store.invoke(name, dict(arguments))
        return cls(name, dict(arguments), observation, "error" if observation.startswith("Error:") else "ok")


@dataclass
class AgentTurn:
    """One agent turn: tool calls (in order), then the reply to the user."""

    reply: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    transferred: bool = False
    steps: int = 0  # model decoding steps (tool-call steps + the reply step), retries included
    valid_steps: int = 0
    invalid_steps: int = 0  # malformed steps that had to be retried
    hallucinated_ids: list[str] = field(default_factory=list)
    policy_violations: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class EvalSession(Protocol):
    def respond(self, user_text: str) -> AgentTurn: ...


@runtime_checkable
class EvalAgent(Protocol):
    def start(self, store: RetailStore, task_id: str, seed: int = 0) -> EvalSession: ...


# ---- the oracle ---------------------------------------------------------------------------------

class _OracleSession:
    """identify -> (reads, then describe a write and ask) -> (yes: write, report) -> ... -> done."""

    def __init__(self, store: RetailStore, criteria: EvaluationCriteria) -> None:
        self.store = store
        self.pending: list[Action] = list(criteria.actions)
        self.info = list(criteria.communicate_info)
        self.phase = "identify"

    def respond(self, user_text: str) -> AgentTurn:
        started = time.perf_counter()
        calls: list[ToolCallRecord] = []
        if self.phase == "identify":
            self.phase = "act"
            reply = ("I can help with that. First, please provide your email address, or your name and "
                     "zip code, so I can verify your identity.")
        elif self.phase == "confirm" and not _YES.search(user_text):
            reply = f"{self._describe(self.pending[0])} Would you like me to proceed? (yes/no)"
        else:
            write = None
            if self.phase == "confirm":  # confirmed: the write goes first
                write = ToolCallRecord.run(self.store, self.pending[0].name, self.pending[0].arguments)
                calls.append(write)
                self.pending.pop(0)
                self.phase = "act"
            calls += self._run_reads()
            if any(c.name == "transfer_to_human_agents" for c in calls):
                return self._turn(TRANSFER_MESSAGE, calls, started, transferred=True)
            if self.pending:  # the next write of the reference is stated in the same turn
                self.phase = "confirm"
                done = "" if write is None else "Done." if write.outcome == "ok" else \
                    f"That did not go through ({write.observation})."
                reply = f"{done} {self._describe(self.pending[0])} Would you like me to proceed? (yes/no)".strip()
            elif write is not None:
                reply = f"Your request has been completed successfully.{self._told()}" if write.outcome == "ok" \
                    else f"I'm sorry, that did not go through ({write.observation}).{self._told()}"
                self.phase = "done"
            else:
                had_write = any(c.name in RetailStore.WRITE_TOOLS for c in calls)
                reply = ("All of your requests have been completed successfully." if had_write or
                         self.phase == "done" else
                         "I'm sorry, I cannot do that: our policy does not allow it.") + self._told()
                self.phase = "done"
        return self._turn(reply, calls, started)

    def _run_reads(self) -> list[ToolCallRecord]:
        """Every gold call up to (not including) the next write."""
        out = []
        while self.pending and self.pending[0].name not in RetailStore.WRITE_TOOLS:
            action = self.pending.pop(0)
            out.append(ToolCallRecord.run(self.store, action.name, action.arguments))
        return out

    def _told(self) -> str:
        return f" For your information: {'; '.join(self.info)}." if self.info else ""

    @staticmethod
    def _describe(action: Action) -> str:
        return f"I am going to call {action.name} with {json.dumps(action.arguments)}."

    @staticmethod
    def _turn(reply: str, calls: list[ToolCallRecord], started: float, transferred: bool = False) -> AgentTurn:
        steps = len(calls) + 1  # one step per tool call, one for the reply
        return AgentTurn(reply=reply, tool_calls=calls, transferred=transferred, steps=steps,
                         valid_steps=steps, seconds=time.perf_counter() - started)


class OracleAgent:
    """Replays each task's gold actions politely; ``gold`` maps task id -> its evaluation criteria."""

    def __init__(self, gold: Mapping[str, EvaluationCriteria | Mapping[str, Any]]) -> None:
        self.gold = {tid: c if isinstance(c, EvaluationCriteria) else EvaluationCriteria.model_validate(c)
                     for tid, c in gold.items()}

    def start(self, store: RetailStore, task_id: str, seed: int = 0) -> _OracleSession:
        if task_id not in self.gold:
            raise AgentUnavailableError(f"the oracle has no gold actions for task {task_id!r}",
                                        hint="build it with the criteria of every task it will run")
        return _OracleSession(store, self.gold[task_id])


# ---- construction -------------------------------------------------------------------------------

def _spec_module() -> Any:
    try:
        return importlib.import_module("agentspec.evals.spec_agent")
    except ModuleNotFoundError as exc:
        raise AgentUnavailableError(
            f"the spec agent is not available: module {exc.name!r} is missing",
            hint="agentspec.evals.spec_agent (the LangGraph agent) needs its dependencies installed; "
                 "use --agent oracle to check the harness") from None


def check_agent(kind: str, **options: Any) -> None:
    """Raise ``AgentUnavailableError`` now if ``make_agent(kind, **options)`` cannot work (builds nothing)."""
    if kind not in AGENT_KINDS:
        raise AgentUnavailableError(f"unknown agent kind {kind!r}",
                                    hint=f"choose one of: {', '.join(AGENT_KINDS)}")
    if kind == "spec":
        if not options.get("spec"):
            raise AgentUnavailableError("the spec agent needs an agent spec",
                                        hint="pass --spec PATH (an agent spec YAML)")
        _spec_module()


def make_agent(kind: str, **options: Any) -> EvalAgent:
    """``"oracle"`` -> ``OracleAgent(**options)``; ``"spec"`` -> ``make_eval_agent(spec=..., **options)``."""
    check_agent(kind, **options)
    if kind == "oracle":
        if "gold" not in options:
            raise AgentUnavailableError("the oracle agent needs gold=<task id -> evaluation criteria>",
                                        hint="run it through the harness, which passes the gold")
        return OracleAgent(**options)
    return _spec_module().make_eval_agent(**options)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """CPU threads per model when ``workers`` processes share the machine's cores."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


@dataclass(frozen=True)
class AgentFactory:
    """Picklable recipe for an agent: worker processes call it with the suite's gold criteria.

    Only the oracle receives the gold; any other kind is built from ``options`` alone. For the spec
    agent, ``threads`` / ``default_threads`` set its model's CPU threads (see the module doc).
    """

    kind: str = "oracle"
    options: tuple[tuple[str, Any], ...] = ()
    threads: int | None = field(default=None, repr=False, compare=False)
    default_threads: int | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, kind: str, *, threads: int | None = None, **options: Any) -> AgentFactory:
        return cls(kind, tuple(sorted(options.items())), threads=threads)

    def for_workers(self, workers: int) -> AgentFactory:
        """This recipe for a pool of ``workers`` processes: models default to cores // workers threads."""
        return replace(self, default_threads=worker_threads(workers))

    def content_digest(self) -> str | None:
        """A digest of the spec the agent runs (its file's bytes, or a loaded spec's fields); None for the oracle."""
        if self.kind != "spec":
            return None
        from agentspec.spec import AgentSpec, find_spec

        spec = dict(self.options).get("spec")
        data = spec.model_dump_json().encode() if isinstance(spec, AgentSpec) else find_spec(spec).read_bytes()
        return hashlib.sha256(data).hexdigest()[:16]

    def __call__(self, gold: Mapping[str, EvaluationCriteria]) -> EvalAgent:
        if self.kind == "oracle":
            return make_agent("oracle", gold=gold, **dict(self.options))
        options = dict(self.options)
        if self.kind == "spec" and (self.threads or self.default_threads):
            options["spec"] = self._threaded_spec(options.get("spec"))
        return make_agent(self.kind, **options)

    def _threaded_spec(self, spec: Any) -> Any:
        """The spec (loaded if given by name or path) with its model's threads resolved."""
        from agentspec.spec import AgentSpec, load_spec

        loaded = spec if isinstance(spec, AgentSpec) else load_spec(spec)
        threads = self.threads or loaded.model.threads or self.default_threads
        if threads == loaded.model.threads:
            return loaded
        # model_copy keeps the private source folder, against which relative paths resolve.
        return loaded.model_copy(update={"model": loaded.model.model_copy(update={"threads": threads})})
