"""Model workers and the bounded queue of turns in front of them.

Contract:
- ``TurnPool(specs, backing, conversations, settings, metrics)`` runs ``settings.workers`` threads per
  spec, each with its own model (its own llama.cpp context, ``settings.threads`` threads) and decoder.
  ``start()`` loads them in the background; ``ready`` is True once every worker has its model.
- ``submit(job)`` queues a ``Job``; a full queue (``settings.queue`` jobs waiting for that spec) raises
  ``QueueFull`` at once (the HTTP layer answers 429 with Retry-After): nothing waits unbounded.
- A job runs under the conversation's locks (one turn at a time per conversation: a thread lock in
  this process, ``Backing.turn_lock`` across replicas, the session's file lock on its folder) in an
  ``AgentSession`` opened on the worker's model; its events go to ``job.emit`` as they happen
  (``events``), and ``job.result`` / ``job.error`` are set before ``job.done``.
- ``job.cancel()`` (the client left): a queued job is dropped; a running one stops at the model's
  next token and the turn is ended where it stands (``AgentSession.abandon``: a write that ran is
  finished and recorded, never run twice).
- ``shutdown(timeout_s)``: no new jobs; queued and running turns finish (each step is checkpointed),
  then the workers exit. Jobs still queued after the timeout are answered ``shutting_down``.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agentspec.errors import AgentSpecError
from agentspec.server.turns import run_job

__all__ = ["Job", "QueueFull", "TurnCancelled", "TurnPool"]


class QueueFull(Exception):
    """The spec's queue is full: the client should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__("queue full")
        self.retry_after = retry_after


class TurnCancelled(Exception):
    """The client of a running turn left: raised inside the decoder to stop the turn."""


@dataclass
class Job:
    conversation: str
    spec: str
    action: str  # "send" | "resume" | "operator" (an operator's message) | "close" (hand back to the agent)
    payload: Any = None
    emit: Callable[[dict[str, Any]], None] = lambda event: None
    operator: str | None = None
    result: dict[str, Any] | None = None
    error: AgentSpecError | None = None
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    on_done: Callable[[], None] | None = None  # called once, from the worker's thread, after ``done`` is set

    def cancel(self) -> None:
        self.cancelled.set()

    def finish(self) -> None:
        self.done.set()
        if self.on_done is not None:
            self.on_done()


class _Worker(threading.Thread):
    def __init__(self, pool: "TurnPool", spec_name: str, index: int):
        super().__init__(name=f"agentspec-worker-{spec_name}-{index}", daemon=True)
        self.pool = pool
        self.spec_name = spec_name
        self.model: Any = None
        self.decoder: Any = None
        self.load_error: BaseException | None = None
        self.busy = False

    def run(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # reported by /readyz and the server log; the worker stays down
            self.load_error = exc
            self.pool._loaded()
            return
        self.pool._loaded()
        jobs = self.pool._queues[self.spec_name]
        while True:
            job = jobs.get()
            if job is None:  # shutdown sentinel
                return
            if job.cancelled.is_set():
                job.error = AgentSpecError("the client left before the turn started", code="cancelled")
                job.finish()
                continue
            self.busy = True
            try:
                run_job(self, job)
            finally:
                self.busy = False
                job.finish()

    def _load(self) -> None:
        from agentspec.decoding.engine import StepDecoder
        from agentspec.spec import load_model

        spec = self.pool.specs[self.spec_name]
        if spec.model.backend == "llamacpp" and spec.model.threads is None:
            spec = spec.model_copy(update={"model": spec.model.model_copy(update={"threads": self.pool.threads})})
        # One worker at a time: the first one may derive the model file into the cache (Q8_0), and
        # workers deriving it at once collide (llama.cpp's quantizer fails on the half-written file).
        with self.pool._load_lock:
            self.model = self.pool.load_model(spec) if self.pool.load_model else load_model(spec)
        self.decoder = StepDecoder(self.model, mode=spec.decoding.mode, max_attempts=spec.decoding.max_attempts)


class TurnPool:
    def __init__(self, specs: dict[str, Any], backing: Any, conversations: Any, *, workers: int = 1,
                 queue_size: int = 16, threads: int | None = None, approve: bool = False, data: str | None = None,
                 metrics: Any = None, load_model: Callable[[Any], Any] | None = None):
        self.specs = specs
        self.backing = backing
        self.conversations = conversations
        self.approve = approve
        self.data = data
        self.metrics = metrics
        self.load_model = load_model  # tests: a scripted model per worker
        self.queue_size = queue_size
        total = max(1, workers * len(specs))
        self.threads = threads or max(1, (os.cpu_count() or 2) // total)
        self._queues: dict[str, queue.Queue[Job | None]] = {name: queue.Queue() for name in specs}
        self._workers = [_Worker(self, name, i) for name in specs for i in range(workers)]
        self._pending = 0
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # workers load their models one after another
        self._conversation_locks: dict[str, threading.Lock] = {}
        self._loaded_count = 0
        self.accepting = True
        self._knowledge: dict[str, tuple[Any, Any]] = {}  # spec -> (memory, documents), shared by its sessions

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def _loaded(self) -> None:
        with self._lock:
            self._loaded_count += 1

    @property
    def ready(self) -> bool:
        return self.accepting and self._loaded_count == len(self._workers) and not self.load_errors()

    def load_errors(self) -> list[str]:
        return [f"{w.name}: {w.load_error}" for w in self._workers if w.load_error is not None]

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued and running (up to ``timeout_s``), then stop the workers."""
        self.accepting = False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (self.depth() or self.busy()):
            time.sleep(0.05)
        for name, jobs in self._queues.items():
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.error = AgentSpecError("the server is shutting down", hint="Send the message again.",
                                               code="shutting_down")
                    job.finish()
            for worker in self._workers:
                if worker.spec_name == name:
                    jobs.put(None)
        for worker in self._workers:
            worker.join(timeout=max(0.1, deadline - time.monotonic()))
        if not self.busy():
            self.close_knowledge()

    def knowledge(self, spec_name: str) -> tuple[Any, Any]:
        """The spec's long-term memory and document index, opened once and shared by its sessions."""
        with self._load_lock:
            if spec_name not in self._knowledge:
                from agentspec.graph.knowledge import open_knowledge

                self._knowledge[spec_name] = open_knowledge(self.specs[spec_name], self.data)
            return self._knowledge[spec_name]

    def close_knowledge(self) -> None:
        for opened in self._knowledge.values():
            for item in opened:
                getattr(item, "close", lambda: None)()
        self._knowledge.clear()

    # -- jobs ---------------------------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        if not self.accepting:
            raise AgentSpecError("the server is shutting down", hint="Retry on another replica.", code="shutting_down")
        jobs = self._queues[job.spec]
        if jobs.qsize() >= self.queue_size:
            waiting_per_worker = jobs.qsize() / max(1, sum(w.spec_name == job.spec for w in self._workers))
            raise QueueFull(retry_after=max(1, int(waiting_per_worker * 2)))
        jobs.put(job)
        return job

    def conversation_lock(self, conversation: str) -> threading.Lock:
        with self._lock:
            return self._conversation_locks.setdefault(conversation, threading.Lock())

    def depth(self) -> int:
        return sum(q.qsize() for q in self._queues.values())

    def busy(self) -> int:
        return sum(w.busy for w in self._workers)

    def size(self) -> int:
        return len(self._workers)
