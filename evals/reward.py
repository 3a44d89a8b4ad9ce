"""tau-style reward of one episode: the final database and the facts told to the user.

Two parts, as tau2 scores them (its basis ``[DB, COMMUNICATE]``; a task's own ``reward_basis``, when
given, says which of the two count; other bases are not scored here and are listed as ``unscored``):

- **db**: the gold actions are replayed on a fresh store built from the same db; the state hash of
  that store must equal the hash of the agent's final store. Any path to the same end state passes;
  reads never matter. As in tau2, a reference call that fails (a mistyped email, an exchange tried on a
  pending order, a gift card too small) is an observation that changes nothing: the replay goes on and
  the result lists it in ``gold_failures``. A task that cannot fit this db and toolkit is a
  ``GoldReplayError`` naming the task and the call: a tool the toolkit does not have, arguments its
  signature refuses, or reference calls that all fail.
- **communicate**: every ``communicate_info`` string must appear in at least one agent reply, compared
  case-insensitively with commas removed from both sides ("1,047.84" matches "1047.84"), as tau2 does.

``Rewarder(base_store)`` caches the gold replay per task (it never changes), so scoring many trials of
a task replays its gold once; ``check(tasks)`` replays every task up front, so a task file that does
not fit fails before any episode runs. Not here: running episodes (``harness``), natural-language
assertions (judged by an LLM in tau2), action matching.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.tools.retail import RetailStore

from .tasks import Task

__all__ = ["GoldReplayError", "RewardResult", "Rewarder", "communicated", "state_diff"]


class GoldReplayError(AgentSpecError):
    """A task whose reference trajectory cannot fit this db and toolkit (module docstring)."""

    code = "gold_replay"


@dataclass
class RewardResult:
    """The reward (1.0 or 0.0) and its two parts with the reasons a part failed."""

    reward: float
    db_match: bool
    communicate_ok: bool
    missing_info: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    gold_failures: list[dict[str, Any]] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _norm(text: str) -> str:
    return text.lower().replace(",", "")


def communicated(info: Iterable[str], replies: Iterable[str]) -> list[str]:
    """The ``info`` strings that appear in no reply (empty: everything was said)."""
    said = [_norm(r) for r in replies]
    return [i for i in info if not any(_norm(i) in r for r in said)]


def state_diff(expected: dict[str, Any], actual: dict[str, Any], limit: int = 5) -> list[str]:
    """Up to ``limit`` "section id" entries whose documents differ between two db.json states."""
    out = []
    for section in sorted(set(expected) | set(actual)):
        a, b = expected.get(section, {}), actual.get(section, {})
        for key in sorted(set(a) | set(b)):
            if json.dumps(a.get(key), sort_keys=True) != json.dumps(b.get(key), sort_keys=True):
                out.append(f"{section} {key}")
                if len(out) >= limit:
                    return out
    return out


_SCORED_BASES = ("DB", "COMMUNICATE")


@dataclass
class _Gold:
    """The state hash after a task's reference replay, and the reference calls that failed there."""

    hash: str
    failures: list[dict[str, Any]]


class Rewarder:
    """Scores episodes against a base store (the state every episode starts from). Not thread-safe."""

    def __init__(self, base: RetailStore, known: dict[tuple[str, str], Any] | None = None) -> None:
        """``known``: another Rewarder's ``known`` over the same base (replays it already did, reused)."""
        self.base = base
        self._gold: dict[tuple[str, str], _Gold] = dict(known or {})

    @property
    def known(self) -> dict[tuple[str, str], Any]:
        """The replays done so far (picklable), for ``Rewarder(base, known)`` in another process."""
        return dict(self._gold)

    def _replay(self, task: Task) -> tuple[RetailStore, list[dict[str, Any]]]:
        """A fresh copy of the base with the task's reference calls run on it, and the calls that failed."""
        store = self.base.copy()
        failures: list[dict[str, Any]] = []
        actions = task.evaluation_criteria.actions
        try:
            for action in actions:
                _check_fits(task, action, store)
                observation = store.invoke(action.name, action.arguments)
                if observation.startswith("Error:"):
                    failures.append({"action_id": action.action_id, "name": action.name,
                                     "mutating": action.name in store.WRITE_TOOLS,
                                     "error": observation})
            if actions and len(failures) == len(actions):
                raise GoldReplayError(
                    f"task {task.id!r}: none of its {len(actions)} reference calls succeeds on this db "
                    f"(first: {actions[0].action_id} {actions[0].name}: {failures[0]['error']})",
                    hint="the task file does not match this db.json; pass the db.json it was written for, "
                         "or regenerate the suite from this db")
        except BaseException:
            store.close()
            raise
        return store, failures

    def _gold_of(self, task: Task) -> _Gold:
        key = (task.id, json.dumps([a.model_dump() for a in task.evaluation_criteria.actions], sort_keys=True))
        if key not in self._gold:
            store, failures = self._replay(task)
            with store:
                self._gold[key] = _Gold(store.state_hash(), failures)
        return self._gold[key]

    def gold_hash(self, task: Task) -> str:
        """State hash after replaying the task's gold actions on a fresh copy of the base."""
        return self._gold_of(task).hash

    def check(self, tasks: Iterable[Task]) -> None:
        """Replay every task's reference now: a ``GoldReplayError`` for the first that cannot fit."""
        for task in tasks:
            self._gold_of(task)

    def score(self, task: Task, final: RetailStore, replies: Iterable[str]) -> RewardResult:
        """Reward of an episode that left ``final`` behind and said ``replies`` to the user."""
        gold = self._gold_of(task)
        basis = task.evaluation_criteria.reward_basis
        counted = set(_SCORED_BASES) if basis is None else set(basis) & set(_SCORED_BASES)
        unscored = [] if basis is None else [b for b in basis if b not in _SCORED_BASES]
        reasons: list[str] = []
        db_match = final.state_hash() == gold.hash
        if not db_match and "DB" in counted:
            store, _ = self._replay(task)
            with store:
                differing = state_diff(store.to_json(), final.to_json())
            reasons.append("final database differs from the gold one in: " + ", ".join(differing))
        missing = communicated(task.evaluation_criteria.communicate_info, list(replies))
        if missing and "COMMUNICATE" in counted:
            reasons.append(f"never told the user: {', '.join(repr(m) for m in missing)}")
        ok = (db_match or "DB" not in counted) and (not missing or "COMMUNICATE" not in counted)
        return RewardResult(1.0 if ok else 0.0, db_match, not missing, missing, reasons,
                            gold_failures=list(gold.failures), unscored=unscored)


def _check_fits(task: Task, action: Any, store: RetailStore) -> None:
    """A reference call the toolkit cannot even run (unknown tool, arguments its signature refuses)."""
    if action.name not in store.TOOL_NAMES:
        raise GoldReplayError(
            f"task {task.id!r}: reference call {action.action_id} names the tool {action.name!r}, which this "
            "toolkit does not have", hint=f"the tools are: {', '.join(store.TOOL_NAMES)}")
    problem = store.call_problem(action.name, action.arguments)
    if problem is not None:
        raise GoldReplayError(f"task {task.id!r}: reference call {action.action_id}: {problem[len('Error: '):]}",
                              hint="the task file does not fit this toolkit's tool signatures")
