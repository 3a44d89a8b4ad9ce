"""tau-style reward of one episode: the final database and the facts told to the user.

Two parts, both required for a reward of 1 (tau2's default basis ``[DB, COMMUNICATE]``):

- **db**: the gold actions are replayed on a fresh store built from the same db; the state hash of
  that store must equal the hash of the agent's final store. Any path to the same end state passes;
  reads never matter. A gold action that fails on replay is a broken task: ``GoldReplayError``.
- **communicate**: every ``communicate_info`` string must appear in at least one agent reply, compared
  case-insensitively with commas removed from both sides ("1,047.84" matches "1047.84"), as tau2 does.

``Rewarder(base_store)`` caches the gold hash per task (it never changes), so scoring many trials of
a task replays its gold once. Not here: running episodes (``harness``), natural-language assertions
(judged by an LLM in tau2; we do not score them), action matching.
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
    """A task whose gold action fails on a fresh store: the task does not fit this db."""

    code = "gold_replay"


@dataclass
class RewardResult:
    """The reward (1.0 or 0.0) and its two parts with the reasons a part failed."""

    reward: float
    db_match: bool
    communicate_ok: bool
    missing_info: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

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


class Rewarder:
    """Scores episodes against a base store (the state every episode starts from). Not thread-safe."""

    def __init__(self, base: RetailStore) -> None:
        self.base = base
        self._gold: dict[tuple[str, str], str] = {}

    def _replay(self, task: Task) -> RetailStore:
        store = self.base.copy()
        for action in task.evaluation_criteria.actions:
            observation = store.invoke(action.name, action.arguments)
            if observation.startswith("Error:"):
                store.close()
                raise GoldReplayError(
                    f"task {task.id!r}: gold action {action.action_id} ({action.name}) fails on a fresh "
                    f"store: {observation}",
                    hint="the task file does not match this db.json; regenerate the suite from this db")
        return store

    def gold_hash(self, task: Task) -> str:
        """State hash after replaying the task's gold actions on a fresh copy of the base."""
        key = (task.id, json.dumps([a.model_dump() for a in task.evaluation_criteria.actions], sort_keys=True))
        if key not in self._gold:
            with self._replay(task) as store:
                self._gold[key] = store.state_hash()
        return self._gold[key]

    def score(self, task: Task, final: RetailStore, replies: Iterable[str]) -> RewardResult:
        """Reward of an episode that left ``final`` behind and said ``replies`` to the user."""
        reasons: list[str] = []
        db_match = final.state_hash() == self.gold_hash(task)
        if not db_match:
            with self._replay(task) as gold:
                differing = state_diff(gold.to_json(), final.to_json())
            reasons.append("final database differs from the gold one in: " + ", ".join(differing))
        missing = communicated(task.evaluation_criteria.communicate_info, list(replies))
        if missing:
            reasons.append(f"never told the user: {', '.join(repr(m) for m in missing)}")
        ok = db_match and not missing
        return RewardResult(1.0 if ok else 0.0, db_match, not missing, missing, reasons)
