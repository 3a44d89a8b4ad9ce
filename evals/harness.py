"""Run a task suite: episodes of (task, trial), scored, recorded one JSON line each, resumable.

``run_suite(tasks, db_path, agent_factory, user_factory, trials, out_dir, workers=1, max_turns=30,
progress=True, seed=0) -> RunResult``.

One episode (``Episode``):
1. a fresh copy of the store built from ``db_path``; ``agent.start(store, task.id, seed)``;
2. the user, built from ``task.user_scenario`` only, opens; agent and user alternate until the user's
   message contains ###STOP###, the agent transfers (``AgentTurn.transferred`` or a successful
   ``transfer_to_human_agents`` call), or the agent has had ``max_turns`` turns (a failure: reward 0);
   an ``AgentSpecError`` raised by the agent ends the episode as a failure too (anything else is a
   bug and propagates);
3. the reward (``reward.Rewarder``), the metrics, the transcript: one JSON object.

Seeds: episode (task, trial) gets ``int(sha256("{seed}:{task id}:{trial}")[:8], 16)``, the same in
any worker, any order, any resume.

Recording and resuming: ``out_dir/run.json`` holds the run's identity (task ids, trials, max_turns,
seed, agent, user, and the content: a digest of each task, of the db file and of the agent's spec when
the agent factory has a ``content_digest()``); a rerun into the same directory must match it
(``RunDirMismatchError`` naming what differs otherwise). A run file written before the digests existed
is resumed without comparing them.
Each finished episode is appended to ``out_dir/episodes.jsonl`` and flushed + fsynced, by the parent
process only. On start, episodes already in the file are skipped; an unreadable line (a write cut by
a kill) is dropped and the file rewritten without it. The result (sorted by task order, then trial)
is therefore the same as an uninterrupted run's, timings aside.

Parallelism: ``workers > 1`` runs episodes in a ``spawn`` process pool; each worker builds its agent,
its user factory's model and its store once, from the picklable ``agent_factory`` (called with the
gold criteria, see ``agents.AgentFactory``) and ``user_factory`` (called as
``user_factory(scenario, seed=..., max_turns=...)``, see ``UserFactory``). Progress: a rich bar.
A pool of n > 1 workers gives each worker's llama.cpp models ``max(1, cores // n)`` threads unless the
user set them (``--threads``, or the spec's ``model.threads``): factories with a ``for_workers(n)``
method are replaced by its result (``AgentFactory``, ``UserFactory``); other callables are used as given.

Not here: aggregate reports and plots (``report``), the CLI (``cli``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.runtime.base import ChatModel
from agentspec.tools.retail import RetailStore, read_db_json

from ._monitor import EpisodeMonitor
from .agents import AgentTurn, EvalAgent, worker_threads
from .reward import Rewarder
from .tasks import Task, UserScenario
from ._llm_user import LLMUser
from .users import STOP, ScriptedUser, UserSimulator

__all__ = ["RunDirMismatchError", "UserFactory", "Episode", "Conversation", "converse", "RunResult", "run_suite", "episode_seed",
           "read_episodes", "content_identity", "EPISODES_FILE", "RUN_FILE"]

EPISODES_FILE = "episodes.jsonl"
RUN_FILE = "run.json"


class RunDirMismatchError(AgentSpecError):
    """A run directory that already holds episodes of a different run."""

    code = "run_dir_mismatch"


# ---- users ----------------------------------------------------------------------------------------

_USER_MODELS: dict[tuple[str, str | None], ChatModel] = {}  # one model per process, loaded on first use


@dataclass(frozen=True)
class UserFactory:
    """Picklable recipe for user simulators: ``"scripted"`` or ``"llm"`` (``model``/``backend``, and
    ``base_url`` for an OpenAI-compatible server).

    ``threads`` (explicit) or else ``default_threads`` (set by ``for_workers``) are the llamacpp user
    model's CPU threads; neither is part of the run's identity.
    """

    kind: str = "scripted"
    model: str | None = None
    backend: str = "llamacpp"
    threads: int | None = field(default=None, repr=False, compare=False)
    base_url: str | None = None  # backend openai: the server (vLLM, llama-server, ...)
    default_threads: int | None = field(default=None, repr=False, compare=False)

    def for_workers(self, workers: int) -> UserFactory:
        return replace(self, default_threads=worker_threads(workers))

    def __call__(self, scenario: UserScenario, *, seed: int = 0, max_turns: int = 30) -> UserSimulator:
        if self.kind in ("scripted", "varied"):
            return ScriptedUser(scenario, max_turns=max_turns, seed=seed, varied=self.kind == "varied")
        if self.kind == "llm":
            key = (self.backend, self.model, self.base_url)
            if key not in _USER_MODELS:
                from agentspec.settings import RuntimeSettings

                threads = (self.threads or self.default_threads) if self.backend == "llamacpp" else None
                _USER_MODELS[key] = RuntimeSettings(backend=self.backend, model=self.model, threads=threads,
                                                    base_url=self.base_url).load()
            return LLMUser(scenario, _USER_MODELS[key], max_turns=max_turns, seed=seed)
        raise AgentSpecError(f"unknown user kind {self.kind!r}", hint="use --user scripted, varied or llm",
                             code="unknown_user")


# ---- one episode ----------------------------------------------------------------------------------

def episode_seed(seed: int, task_id: str, trial: int) -> int:
    return int(hashlib.sha256(f"{seed}:{task_id}:{trial}".encode()).hexdigest()[:8], 16)


class Episode:
    """Runs episodes of one suite in one process: the base store, the rewarder and the agent, built once."""

    def __init__(self, tasks: Sequence[Task], db_path: str | os.PathLike[str],
                 agent_factory: Callable[..., EvalAgent], user_factory: Callable[..., UserSimulator],
                 max_turns: int, seed: int = 0, behaviour: str = "corrected",
                 gold: dict[tuple[str, str], Any] | None = None) -> None:
        self.tasks = {t.id: t for t in tasks}
        self.base = RetailStore.from_json(db_path, behaviour=behaviour)
        self.rewarder = Rewarder(self.base, gold)  # gold: the replays run_suite's check already did
        self.agent = agent_factory({t.id: t.evaluation_criteria for t in tasks})
        self.user_factory = user_factory
        self.max_turns = max_turns
        self.seed = seed

    def run(self, task_id: str, trial: int) -> dict[str, Any]:
        task = self.tasks[task_id]
        seed = episode_seed(self.seed, task_id, trial)
        started = time.perf_counter()
        with self.base.copy() as store:
            session = self.agent.start(store, task.id, seed=seed)
            user = self.user_factory(task.user_scenario, seed=seed, max_turns=self.max_turns)
            talk = converse(session, user, store, self.max_turns)
            turns, messages, termination, error = talk.turns, talk.messages, talk.termination, talk.error
            extra_ids, extra_violations = talk.ids, talk.violations
            result = self.rewarder.score(task, store, [t.reply for t in turns])
        record = _record(task, trial, seed, turns, result.to_dict(), termination, error,
                         extra_ids, extra_violations, messages, time.perf_counter() - started)
        if termination in ("max_turns", "agent_error"):
            record["reward"] = 0.0
            record["reasons"].append("the agent ran out of turns" if termination == "max_turns"
                                     else f"the agent failed: {error}")
        return record

    def close(self) -> None:
        self.base.close()


@dataclass
class Conversation:
    """What one agent session and one simulated user said to each other (``converse``)."""

    turns: list[AgentTurn]
    messages: list[dict[str, Any]]
    termination: str  # user_stop | transfer | max_turns | agent_error
    error: str | None
    ids: list[str]  # identifiers the monitor found invented
    violations: list[str]  # policy violations the monitor found


def converse(session: Any, user: UserSimulator, store: RetailStore, max_turns: int) -> Conversation:
    """The user opens; agent and user alternate until the user stops, the agent transfers, the agent has
    had ``max_turns`` turns or raised an ``AgentSpecError`` (step 2 of the module docstring). The
    session is closed at the end; the store is left as the conversation left it."""
    monitor = EpisodeMonitor(store)
    user_text = user.reply(None)
    messages: list[dict[str, Any]] = [{"role": "user", "content": user_text}]
    turns: list[AgentTurn] = []
    ids, violations = [], []
    termination, error = "max_turns", None
    while STOP not in user_text:
        if len(turns) >= max_turns:
            break
        monitor.observe_user(user_text, _meant_yes(user))
        try:
            turn = session.respond(user_text)
        except AgentSpecError as exc:
            termination, error = "agent_error", str(exc)
            break
        turns.append(turn)
        found_ids, found_violations = monitor.check_turn(turn)
        ids += found_ids
        violations += found_violations
        messages.append({"role": "assistant", "content": turn.reply, "tool_calls": [vars(c) for c in turn.tool_calls]})
        if turn.transferred or any(c.name == "transfer_to_human_agents" and c.outcome == "ok" for c in turn.tool_calls):
            termination = "transfer"
            break
        user_text = user.reply(turn.reply)
        messages.append({"role": "user", "content": user_text})
    else:
        termination = "user_stop"
    if hasattr(session, "close"):
        session.close()
    return Conversation(turns, messages, termination, error, ids, violations)


def _meant_yes(user: UserSimulator) -> bool | None:
    """Whether the simulator's last message was meant as a yes (its recorded act); None if it records none."""
    acts = getattr(user, "acts", None)
    return acts[-1] == "confirm" if acts else None


def _record(task: Task, trial: int, seed: int, turns: list[AgentTurn], reward: dict[str, Any],
            termination: str, error: str | None, ids: list[str], violations: list[str],
            messages: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    tools: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "errors": 0})
    for turn in turns:
        for call in turn.tool_calls:
            tools[call.name]["calls"] += 1
            tools[call.name]["errors"] += call.outcome != "ok"
    steps = sum(t.steps for t in turns)
    valid = sum(t.valid_steps for t in turns)
    hallucinated = sorted(set(ids) | {i for t in turns for i in t.hallucinated_ids})
    policy = sorted(set(violations) | {v for t in turns for v in t.policy_violations})
    return {
        "task_id": task.id, "trial": trial, "seed": seed, "category": task.category or "uncategorized",
        "reward": reward["reward"], "db_match": reward["db_match"], "communicate_ok": reward["communicate_ok"],
        "missing_info": reward["missing_info"], "reasons": list(reward["reasons"]),
        "termination": termination, "error": error, "agent_turns": len(turns),
        "steps": steps, "valid_steps": valid, "invalid_steps": sum(t.invalid_steps for t in turns),
        "valid_step_share": valid / steps if steps else None,
        "hallucinated_ids": hallucinated, "policy_violations": policy,
        "prompt_tokens": sum(t.prompt_tokens for t in turns),
        "completion_tokens": sum(t.completion_tokens for t in turns),
        "seconds": round(seconds, 4),
        "agent_seconds_per_turn": round(sum(t.seconds for t in turns) / len(turns), 4) if turns else None,
        "turn_seconds": [round(t.seconds, 3) for t in turns],  # user message -> reply, tool calls included
        "tool_calls": dict(sorted(tools.items())),
        "messages": messages,
    }


# ---- the run directory ------------------------------------------------------------------------------

def read_episodes(path: str | os.PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """Episodes of an ``episodes.jsonl``; unreadable lines are dropped (and removed if ``repair``).

    A line is unreadable when it is not UTF-8, not JSON (a torn last line), or not an object with a
    string ``task_id`` and an integer ``trial``.
    """
    path = Path(path)
    if not path.exists():
        return []
    good, bad = [], 0
    for raw in path.read_bytes().splitlines():
        try:
            record = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON (both ValueErrors), nested too deep
            record = None
        if isinstance(record, dict) and isinstance(record.get("task_id"), str) \
                and isinstance(record.get("trial"), int) and not isinstance(record.get("trial"), bool):
            good.append(record)
            continue
        bad += raw.strip() != b""
    if bad and repair:
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in good), encoding="utf-8")
        os.replace(tmp, path)
    return good


def _describe(factory: Any) -> str:
    """A stable name for a factory: no memory addresses, so a resumed run matches its first part."""
    if hasattr(factory, "__qualname__") and hasattr(factory, "__module__"):
        return f"{factory.__module__}.{factory.__qualname__}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(factory))


# Identity keys holding content digests; a run file without them (older) is resumed without comparing them.
_DIGESTS = ("task_digests", "db_digest", "agent_digest")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def content_identity(tasks: Sequence[Task], db_path: str | os.PathLike[str], agent_factory: Any) -> dict[str, Any]:
    """The digests of what a run runs: each task's content, the db file, the agent's spec (or None)."""
    digest = getattr(agent_factory, "content_digest", None)
    return {"task_digests": {t.id: _digest(t.model_dump_json().encode()) for t in tasks},
            "db_digest": _digest(Path(db_path).read_bytes()),
            "agent_digest": digest() if callable(digest) else None}


def _difference(key: str, old: Any, new: Any) -> str:
    """What differs between a run file's ``old`` value of ``key`` and this run's ``new``, in words."""
    if key == "task_digests" and isinstance(old, dict):
        changed = [tid for tid, d in new.items() if tid in old and old[tid] != d]
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        return f"the content of task {shown} (another tasks file with the same ids?)"
    if key == "db_digest":
        return "the db file's content"
    if key == "agent_digest":
        return "the agent spec's content (the spec file changed since the run started)"
    return key


def _differs(old: Any, new: Any, growing: bool) -> bool:
    if growing and isinstance(old, dict) and isinstance(new, dict):
        return any(old[key] != value for key, value in new.items() if key in old)
    return old != new


_RUN_DEFAULTS = {"behaviour": "corrected"}  # what a run file written before a key existed meant by it


def _check_run_file(out: Path, identity: dict[str, Any], *, growing: tuple[str, ...] = ()) -> None:
    """Write ``out/run.json``, or refuse a resume whose ``identity`` differs from it. For a key in
    ``growing`` (a mapping such as ``task_digests``) only the entries both have must agree: new ones join
    the run and the file."""
    run_file = out / RUN_FILE
    if not run_file.exists():
        run_file.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
        return
    old = {**_RUN_DEFAULTS, **json.loads(run_file.read_text(encoding="utf-8"))}
    changed = [k for k in identity if (k in old or k not in _DIGESTS) and _differs(old.get(k), identity[k], k in growing)]
    if changed:
        raise RunDirMismatchError(
            f"{out} holds a different run: this one differs in "
            + "; ".join(_difference(k, old.get(k), identity[k]) for k in changed),
            hint="resume with exactly the tasks file, db, spec and options the run started with "
                 "(see its run.json), or choose a new --out directory")
    if growing:
        for k in growing:
            old[k] = {**(old.get(k) or {}), **identity[k]}
        run_file.write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")


class _Appender:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())  # a killed run loses at most the episode being written

    def close(self) -> None:
        self.file.close()


@dataclass
class RunResult:
    """The episodes of a finished run, in task order then trial order."""

    out_dir: Path
    task_ids: list[str]
    trials: int
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def rewards(self) -> dict[str, list[float]]:
        """``{task id: [reward per trial]}`` (the input of ``passk``)."""
        out: dict[str, list[float]] = {tid: [] for tid in self.task_ids}
        for ep in self.episodes:
            out[ep["task_id"]].append(ep["reward"])
        return out

    def summary(self) -> dict[str, Any]:
        from .passk import summarize

        return summarize(self.rewards())


# ---- workers ------------------------------------------------------------------------------------

_WORKER: Episode | None = None


def _init_worker(*args: Any) -> None:
    global _WORKER
    _WORKER = Episode(*args)


def _run_in_worker(task_id: str, trial: int) -> dict[str, Any]:
    assert _WORKER is not None, "worker used before _init_worker"
    return _WORKER.run(task_id, trial)


def _progress(enabled: bool, total: int, done: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("tau episodes"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("pass {task.fields[passed]}"), transient=False)
    bar.start()
    bar.add_task("episodes", total=total, completed=done, passed=0)
    return bar


def run_suite(tasks: Sequence[Task], db_path: str | os.PathLike[str], agent_factory: Callable[..., EvalAgent],
              user_factory: Callable[..., UserSimulator], trials: int, out_dir: str | os.PathLike[str],
              workers: int = 1, max_turns: int = 30, progress: bool = True, seed: int = 0,
              behaviour: str = "corrected") -> RunResult:
    """Run every (task, trial) episode not yet in ``out_dir/episodes.jsonl``; return all of them.

    ``behaviour``: the retail store's (``RetailStore.BEHAVIOURS``; ``tau2`` for tau2's own task files).
    Every task's reference is replayed first: one that cannot fit the db is an error before any episode."""
    if not tasks:
        raise AgentSpecError("no tasks to run", hint="check the task file and --split / --limit",
                             code="no_tasks")
    if trials < 1 or workers < 1 or max_turns < 1:
        raise AgentSpecError(f"trials={trials}, workers={workers}, max_turns={max_turns}",
                             hint="all three must be at least 1", code="bad_option")
    read_db_json(db_path)  # a missing, truncated or misshapen db.json: a clear error before anything runs
    _refuse_initial_states(tasks)
    with RetailStore.from_json(db_path, behaviour=behaviour) as base:
        checked = Rewarder(base)
        checked.check(tasks)  # a task that cannot fit this db: a clear error before anything runs
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task_ids = [t.id for t in tasks]
    _check_run_file(out, {"task_ids": task_ids, "trials": trials, "max_turns": max_turns, "seed": seed,
                          "agent": _describe(agent_factory), "user": _describe(user_factory),
                          "categories": [t.category for t in tasks],
                          "behaviour": behaviour,
                          **content_identity(tasks, db_path, agent_factory)})
    path = out / EPISODES_FILE
    wanted = {(tid, trial) for tid in task_ids for trial in range(trials)}
    done: dict[tuple[str, int], dict[str, Any]] = {}
    for record in read_episodes(path, repair=True):
        done.setdefault((record["task_id"], record["trial"]), record)
    todo = [(tid, trial) for trial in range(trials) for tid in task_ids if (tid, trial) not in done]
    bar = _progress(progress, len(wanted), len(wanted) - len(todo))
    appender = _Appender(path)
    try:
        for record in _execute(todo, tasks, db_path, agent_factory, user_factory, max_turns, seed, workers,
                               behaviour, checked.known):
            appender.write(record)
            done[(record["task_id"], record["trial"])] = record
            if bar is not None:
                passed = sum(r["reward"] == 1.0 for r in done.values())
                bar.update(bar.task_ids[0], advance=1, passed=passed)
    finally:
        appender.close()
        if bar is not None:
            bar.stop()
    order = {tid: i for i, tid in enumerate(task_ids)}
    episodes = sorted((r for key, r in done.items() if key in wanted),
                      key=lambda r: (order[r["task_id"]], r["trial"]))
    return RunResult(out, task_ids, trials, episodes)


def _refuse_initial_states(tasks: Sequence[Task]) -> None:
    """tau2 lets a task start from a changed state (``initial_state``); episodes here start from the db as it
    is, so such a task would be measured from the wrong state: a clear error instead."""
    for task in tasks:
        state = getattr(task, "initial_state", None)
        if state:
            raise AgentSpecError(
                f"task {task.id!r} has an initial_state ({', '.join(k for k, v in dict(state).items() if v)}): "
                "episodes here start from the db as it is", code="task_initial_state",
                hint="apply the state to a copy of db.json and pass that with --db, or leave the task out")


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _pool(workers: int, args: tuple[Any, ...]) -> ProcessPoolExecutor:
    """The worker pool. Each worker's numpy (the reader's encoder) gets its share of the cores too, unless
    the user set the BLAS threads: workers inherit this process's environment when they start (this
    process's own BLAS was sized when numpy loaded; the setting only reaches the workers)."""
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, str(worker_threads(workers)))
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
                               initargs=args)


def _execute(todo: list[tuple[str, int]], tasks: Sequence[Task], db_path: Any, agent_factory: Any,
             user_factory: Any, max_turns: int, seed: int, workers: int,
             behaviour: str = "corrected", gold: dict[tuple[str, str], Any] | None = None) -> Iterable[dict[str, Any]]:
    """Finished episode records, as they finish (in ``todo`` order when ``workers == 1``)."""
    if not todo:
        return
    workers = min(workers, len(todo))
    if workers > 1:  # the pool shares the cores: cores // workers threads per model unless the user chose
        agent_factory, user_factory = (f.for_workers(workers) if hasattr(f, "for_workers") else f
                                       for f in (agent_factory, user_factory))
    args = (list(tasks), str(db_path), agent_factory, user_factory, max_turns, seed, behaviour, gold)
    if workers == 1:
        runner = Episode(*args)
        try:
            for task_id, trial in todo:
                yield runner.run(task_id, trial)
        finally:
            runner.close()
        return
    pool = _pool(workers, args)
    try:
        pending = {pool.submit(_run_in_worker, tid, trial) for tid, trial in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        # On Ctrl-C or an error: drop queued episodes; what was written stays for the resume.
        pool.shutdown(wait=True, cancel_futures=True)
