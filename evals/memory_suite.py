"""The multi-session suite: does the agent remember, and does it never use what is no longer true?

A ``MemoryTask`` is two conversations of one customer on one store: session 1 leaves a fact (an
address an order now ships to, the method a refund went to, a preference only said), the store may
change in between (``between``: calls run on the store, as if by the website), and session 2 needs
the fact from session 1 while the customer no longer remembers it (``_memory_tasks``). Its reward is session 2's: the store after both
sessions equals the replay of all gold calls (session 1's, the change, session 2's) on a fresh copy.
A stale task's ``forbidden`` lists argument sets (the stale address) no write of session 2 may use:
``stale_uses`` counts those that did.

- ``generate_memory_suite(db_path, n, seed, eval_fraction)``: tasks alternating address, address-stale,
  refund and preference kinds over the db's users; ``test`` tasks are the eval users' (``generate.user_split``)
  and speak the test wording, ``dev`` tasks the train users' with the dev wording. Each task's gold
  calls are replayed on a fresh store to prove they succeed. ``save_memory_suite`` / ``load_memory_suite``.
- ``run_memory_suite(tasks, db_path, spec, arms, trials, out_dir, ...)``: every (arm, task, trial) as one
  episode; arm ``memory`` gives the agent a long-term memory store of its own per episode (both sessions
  share it), arm ``none`` none. Episodes are appended to ``out_dir/episodes.jsonl`` and skipped on a rerun
  (resumable; ``run.json`` records the tasks' content, the db, the spec and the options, and a resume
  that differs in any of them is refused); ``summarize_memory_runs`` gives pass^1 with bootstrap CIs
  per arm and per kind.
"""
from __future__ import annotations

import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentspec.tools.retail import RetailStore

from ._memory_tasks import address_sessions, preference_sessions, refund_sessions
from .generate import GenerationError, _load_db, _task, user_split
from .harness import _check_run_file, _digest, converse, episode_seed
from .passk import summarize
from .reward import Rewarder
from .tasks import Action, Task

__all__ = ["MemoryTask", "generate_memory_suite", "load_memory_suite", "run_memory_suite", "save_memory_suite",
           "summarize_memory_runs", "KINDS"]

KINDS = ("address", "address_stale", "refund", "preference")
_FORGOT = {"address": "You do not remember the address.",
           "refund": "You do not remember which payment method your last refund went to.",
           "preference": "You do not remember which payment method you asked refunds to go to."}
WRITES = set(RetailStore.WRITE_TOOLS)


class MemoryTask(BaseModel):
    id: str
    kind: str
    split: str
    user_id: str
    first: Task
    between: list[Action]
    second: Task
    forbidden: list[dict[str, Any]]

    def combined(self) -> Task:
        """Session 2's task whose gold calls are every gold call of the episode, in order."""
        actions = [*self.first.evaluation_criteria.actions, *self.between, *self.second.evaluation_criteria.actions]
        return self.second.model_copy(update={"evaluation_criteria": self.second.evaluation_criteria.model_copy(
            update={"actions": actions})})


def _forgetting(task: Task, kind: str) -> Task:
    instructions = task.user_scenario.instructions
    unknown = " ".join(x for x in (instructions.unknown_info, _FORGOT[kind.split("_")[0]]) if x)
    scenario = task.user_scenario.model_copy(update={"instructions": instructions.model_copy(update={"unknown_info": unknown})})
    return task.model_copy(update={"user_scenario": scenario})


def _build(kind: str, task_id: str, db: dict[str, Any], user: dict[str, Any], split: str,
           rng: random.Random) -> MemoryTask | None:
    if kind == "refund":
        built = refund_sessions(db, user, rng, split)
    elif kind == "preference":
        built = preference_sessions(db, user, rng, split)
    else:
        built = address_sessions(db, user, rng, split, stale=kind == "address_stale")
    if built is None:
        return None
    one, between, two, forbidden = built
    first = _task(f"{task_id}/1", kind, user, one, rng)
    second = _forgetting(_task(f"{task_id}/2", kind, user, two, rng), kind)
    actions = [Action(action_id=f"between_{i}", name=name, arguments=args) for i, (name, args) in enumerate(between)]
    stale = [{"address1": text.split(",")[0]} for text in forbidden]
    return MemoryTask(id=task_id, kind=kind, split=split, user_id=user["user_id"], first=first, between=actions,
                      second=second, forbidden=stale)


def _replays(base: RetailStore, task: MemoryTask) -> bool:
    with base.copy() as store:
        return all(not store.invoke(a.name, a.arguments).startswith("Error")
                   for a in task.combined().evaluation_criteria.actions)


def generate_memory_suite(db_path: str | Path, n: int, seed: int = 0, eval_fraction: float = 0.5) -> list[MemoryTask]:
    """``n`` tasks (module docstring), half of them test, half dev; raises ``GenerationError`` if the db
    cannot give them."""
    db = _load_db(db_path)
    train, held = user_split(db, seed, eval_fraction)
    pools = {"dev": train, "test": held}
    tasks: list[MemoryTask] = []
    with RetailStore.from_json(db_path) as base:
        for index in range(n):
            split = "test" if index % 2 else "dev"
            kind = KINDS[(index // 2) % len(KINDS)]
            rng = random.Random(f"memory:{seed}:{index}")
            users = list(pools[split])
            rng.shuffle(users)
            used = {t.user_id for t in tasks}
            for user_id in users:
                if user_id in used:
                    continue
                task = _build(kind, f"m{index}", db, db["users"][user_id], split, rng)
                if task is not None and _replays(base, task):
                    tasks.append(task)
                    break
            else:
                raise GenerationError(f"no {split} user of the db fits a {kind} memory task",
                                      hint="use a smaller --n or a db with more users")
    return tasks


def save_memory_suite(tasks: list[MemoryTask], path: str | Path) -> None:
    Path(path).write_text(json.dumps([t.model_dump(mode="json") for t in tasks], indent=1, ensure_ascii=False))


def load_memory_suite(path: str | Path, split: str | None = None) -> list[MemoryTask]:
    tasks = [MemoryTask.model_validate(t) for t in json.loads(Path(path).read_text(encoding="utf-8"))]
    return [t for t in tasks if split is None or t.split == split]


def _stale_uses(task: MemoryTask, turns: list[Any]) -> int:
    return sum(1 for turn in turns for call in turn.tool_calls
               if call.name in WRITES and call.outcome == "ok"
               and any(all(call.arguments.get(k) == v for k, v in bad.items()) for bad in task.forbidden))


def _episode(task: MemoryTask, arm: str, trial: int, base: RetailStore, rewarder: Rewarder, spec: Any,
             user_factory: Any, max_turns: int, seed: int) -> dict[str, Any]:
    from .spec_agent import make_eval_agent

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memory-episode-") as folder, base.copy() as store:
        memory = None
        if arm == "memory":
            from agentspec.memory.store import MemoryStore

            memory = MemoryStore.open(Path(folder))
        agent = make_eval_agent(spec, memory=memory)
        talks = []
        for number, session_task in ((1, task.first), (2, task.second)):
            episode = episode_seed(seed, f"{task.id}/{number}", trial)
            session = agent.start(store, session_task.id, seed=episode)
            user = user_factory(session_task.user_scenario, seed=episode, max_turns=max_turns)
            talks.append(converse(session, user, store, max_turns))
            if number == 1:
                for action in task.between:
                    store.invoke(action.name, action.arguments)
        result = rewarder.score(task.combined(), store, [t.reply for t in talks[1].turns])
        remembered = [m.as_dict() for m in memory.memories(task.user_id)] if memory is not None else []
        if memory is not None:
            memory.close()
    ok = result.reward == 1.0 and talks[1].termination not in ("max_turns", "agent_error")
    return {"arm": arm, "task_id": task.id, "kind": task.kind, "split": task.split, "trial": trial,
            "reward": 1.0 if ok else 0.0, "reasons": list(result.reasons), "stale_uses": _stale_uses(task, talks[1].turns),
            "terminations": [t.termination for t in talks], "memories": remembered,
            "turn_seconds": [round(t.seconds, 3) for talk in talks for t in talk.turns],
            "messages": [talk.messages for talk in talks], "seconds": round(time.perf_counter() - started, 2)}


def run_memory_suite(tasks: list[MemoryTask], db_path: str | Path, spec: Any, *, arms: tuple[str, ...] = ("memory", "none"),
                     trials: int = 1, out_dir: str | Path, max_turns: int = 16, varied: bool = True, seed: int = 0,
                     on_episode: Any = None) -> list[dict[str, Any]]:
    """Run (or resume) every episode; returns all episode records (module docstring)."""
    from .harness import UserFactory

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_identity(out, tasks, db_path, spec, max_turns=max_turns, varied=varied, seed=seed)
    path = out / "episodes.jsonl"
    done = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    seen = {(r["arm"], r["task_id"], r["trial"]) for r in done}
    user_factory = UserFactory("varied" if varied else "scripted")
    with RetailStore.from_json(db_path) as base, path.open("a") as sink:
        rewarder = Rewarder(base)
        for arm in arms:
            for task in tasks:
                for trial in range(trials):
                    if (arm, task.id, trial) in seen:
                        continue
                    record = _episode(task, arm, trial, base, rewarder, spec, user_factory, max_turns, seed)
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    sink.flush()
                    done.append(record)
                    if on_episode is not None:
                        on_episode(record)
    return done


def _check_identity(out: Path, tasks: list[MemoryTask], db_path: str | Path, spec: Any, **options: Any) -> None:
    """Record what the run folder runs (``run.json``); a resume must run the same tasks (by content, for
    the ids both have: more tasks, arms or trials may join), db, spec and options, or it is refused."""
    identity = {"suite": "memory", "db_digest": _digest(Path(db_path).read_bytes()),
                "spec_digest": _digest(spec.model_dump_json().encode()), **options,
                "task_digests": {t.id: _digest(t.model_dump_json().encode()) for t in tasks}}
    _check_run_file(out, identity, growing=("task_digests",))


def summarize_memory_runs(records: list[dict[str, Any]]) -> dict[str, Any]:
    """pass^1 (bootstrap 95% CI) per arm, overall and per kind; stale uses; turn latency."""
    out: dict[str, Any] = {}
    for arm in sorted({r["arm"] for r in records}):
        mine = [r for r in records if r["arm"] == arm]
        by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        overall: dict[str, list[float]] = defaultdict(list)
        for r in mine:
            overall[r["task_id"]].append(r["reward"])
            by_kind[r["kind"]][r["task_id"]].append(r["reward"])
        turns = sorted(s for r in mine for s in r["turn_seconds"])
        out[arm] = {"episodes": len(mine), "pass_hat_1": _pass1(overall),
                    "kinds": {kind: _pass1(results) for kind, results in sorted(by_kind.items())},
                    "stale_uses": sum(r["stale_uses"] for r in mine),
                    "turn_p50_s": turns[len(turns) // 2] if turns else None,
                    "turn_p95_s": turns[min(len(turns) - 1, int(0.95 * len(turns)))] if turns else None}
    return out


def _pass1(results: dict[str, list[float]]) -> dict[str, Any]:
    summary = summarize(results)
    return {"tasks": summary["n_tasks"], "value": round(summary["pass_hat_k"]["1"], 3),
            "ci": [round(x, 3) for x in summary["ci"]["1"]["pass_hat_k"]]}
