"""Agent sessions: one conversation with its own checkpoints and its own copy of each toolkit's data.

Contract:
- ``AgentSession(spec, name=NAME)`` keeps everything under ``$AGENTSPEC_HOME/sessions/NAME/``
  (``AGENTSPEC_HOME`` defaults to ``~/.cache/agentspec``): ``checkpoints.sqlite`` (LangGraph's
  ``SqliteSaver``, thread id = NAME), the toolkits' own files (each toolkit factory's
  ``open_session(config, directory, data)`` creates them on first use and REOPENS them on resume,
  so the session's writes persist with it; ``agentspec.hooks``) and ``session.json`` (spec,
  created/updated times, turns, user). Opening an existing NAME resumes it, in any process.
- ``AgentSession(spec)`` (no name) is ephemeral: in-memory checkpoints. ``toolkits={name: object}``
  uses the given toolkit objects instead of opening the spec's (the eval harness's fresh store per
  episode; the session never closes what it was given). ``data`` is the user's override of where
  the toolkits' data comes from (``--db``), passed to ``open_session``.
- ``checkpointer``: a LangGraph saver shared by many sessions (the server's PostgreSQL one); the
  session uses it with thread id = NAME and does not close it. Default: the session's own SQLite file.
- ``reader``: the reader of ``spec.understanding`` (default: loaded from ``understanding.reader``,
  once per process).
- ``memory`` / ``documents``: the long-term memory store and document index the graph's ``recall`` step
  reads (``agentspec.graph.knowledge``); default: those the spec's ``memory:`` / ``retrieval:`` blocks
  name, opened here and closed with the session. A server passes one of each to all its sessions.
- ``send(text, observe=fn) -> TurnResult`` runs one turn; ``observe(node, update)`` (optional) is
  called after each step of the graph with that step's state update, as it happens (the server's events). With ``approve=True`` a turn may stop at an operator
  approval (``TurnResult.approval``); ``resume(answer)`` continues it, also after a restart
  (``pending_approval()`` tells whether one is waiting).
- Crashes: every step of a turn is checkpointed before the next one starts (durability "sync"), and
  each write runs under an idempotency key (the ``once`` hook). A turn a crash cut off is finished by
  ``recover()`` (``send`` calls it first): from its last checkpoint, reporting a write that ran instead
  of running it again. A turn the user stopped (Ctrl-C) is ended where it stands by ``abandon()``. ``session.json`` is replaced atomically; a saved session is open in one process
  at a time (``SessionLock``); unreadable checkpoints are an ``AgentSpecError`` naming the file.

Nothing here contacts the network (LangSmith tracing stays off unless the user set it).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agentspec.errors import AgentSpecError
from agentspec.graph.build import build_graph
from agentspec.graph.deps import AgentDeps
from agentspec.graph.knowledge import agentspec_home, open_documents, open_memory
from agentspec.graph.session_lock import SessionLock
from agentspec.runtime.base import ChatModel
from agentspec.spec import AgentSpec, load_model
from agentspec.toolkit import ToolRegistry, open_session_toolkit

__all__ = ["AgentSession", "Observer", "TurnResult", "agentspec_home", "list_sessions", "sessions_dir"]

Observer = Callable[[str, dict[str, Any]], None]  # (graph node, its state update)


def _valid_name(name: str) -> bool:
    """Letters, digits, '.', '_' or '-' (ASCII), at most 64, starting with a letter or digit: a folder name."""
    return (0 < len(name) <= 64 and name.isascii() and name[0].isalnum()
            and all(c.isalnum() or c in "._-" for c in name))


def sessions_dir() -> Path:
    return agentspec_home() / "sessions"


@dataclass
class TurnResult:
    """What one ``send``/``resume`` produced: the reply, or an approval the operator must answer."""

    reply: str | None
    approval: dict[str, Any] | None = None  # {"call": {...}, "statement": str} while interrupted
    entries: list[dict[str, Any]] = field(default_factory=list)  # trace entries of this turn so far
    seconds: float = 0.0

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Calls actually run this turn: ``{"name", "arguments", "observation", "outcome"}``."""
        return [{**e["calls"][0], "observation": e["output"], "outcome": e["outcome"]}
                for e in self.entries if e.get("kind") == "tool"]


class AgentSession:
    def __init__(self, spec: AgentSpec, *, name: str | None = None, model: ChatModel | None = None,
                 decoder: Any = None, approve: bool = False, data: str | os.PathLike[str] | None = None,
                 toolkits: dict[str, Any] | None = None, reader: Any = None, seed: int | None = None,
                 checkpointer: Any = None, memory: Any = None, documents: Any = None):
        if name is not None and not _valid_name(name):
            raise AgentSpecError(f"bad session name {name!r}",
                                 hint="Use letters, digits, '.', '_' or '-' (at most 64 characters).",
                                 code="bad_session_name")
        self.spec = spec
        self.name = name
        self.dir = sessions_dir() / name if name else None
        self._owned: list[Any] = []  # stores this session opened (and closes)
        self._conn: sqlite3.Connection | None = None
        self._lock: SessionLock | None = None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = SessionLock(self.dir, name)  # type: ignore[arg-type]
        try:  # a missing model file or a bad spec: what was opened here is closed, not leaked
            registry, by_tool = self._toolkits(data, toolkits or {})
            if reader is None and spec.understanding is not None:
                from agentspec.routing.reader import load_reader

                reader = load_reader(spec.resolve_path(spec.understanding.reader))
            self.model = model if model is not None else load_model(spec)
            if decoder is None:
                from agentspec.decoding.engine import StepDecoder

                decoder = StepDecoder(self.model, mode=spec.decoding.mode, max_attempts=spec.decoding.max_attempts)
            settings = spec.generation.settings()
            if seed is not None:
                settings = settings.with_(seed=seed)
            encoder = getattr(reader, "encoder", None)
            if memory is None and spec.memory is not None:
                memory = self._own(open_memory(spec, encoder))
            if documents is None and spec.retrieval is not None:
                documents = self._own(open_documents(spec, list(dict.fromkeys(by_tool.values())), encoder))
            self.deps = AgentDeps(spec=spec, model=self.model, decoder=decoder, registry=registry,
                                  toolkits=by_tool, settings=settings, approve=approve, reader=reader,
                                  session=name or f"ephemeral-{uuid.uuid4().hex}", memory=memory, documents=documents)
            self.graph = build_graph(self.deps, checkpointer if checkpointer is not None else self._checkpointer())
            self.config = {"configurable": {"thread_id": name or "ephemeral"},
                           "recursion_limit": 6 * spec.limits.max_steps_per_turn + 20}
            self._check_checkpoints()
            self._write_meta()
        except BaseException:
            self.close()
            raise

    def _own(self, opened: Any) -> Any:
        self._owned.append(opened)
        return opened

    def _checkpointer(self) -> Any:
        if self.dir is None:
            from langgraph.checkpoint.memory import InMemorySaver

            return InMemorySaver()
        from langgraph.checkpoint.sqlite import SqliteSaver

        self._conn = sqlite3.connect(self.dir / "checkpoints.sqlite", check_same_thread=False)
        return SqliteSaver(self._conn)

    def _check_checkpoints(self) -> None:
        """Read the last checkpoint once: an unreadable file is a clear error, not a traceback mid-turn."""
        try:
            self.graph.get_state(self.config)
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            path = self.dir / "checkpoints.sqlite" if self.dir else "memory"
            raise AgentSpecError(f"the checkpoints of session {self.name!r} ({path}) cannot be read: {exc}",
                                 hint="Restore the file from a backup, or move it away to start the conversation "
                                 "over (the session's store keeps the writes already made).",
                                 code="corrupt_checkpoints") from None

    # -- toolkits ---------------------------------------------------------------------------------

    def _toolkits(self, data: Any, given: dict[str, Any]) -> tuple[ToolRegistry, dict[str, Any]]:
        registry = ToolRegistry()
        by_tool: dict[str, Any] = {}
        for tk in self.spec.toolkits:
            if tk.name in given:
                toolkit = given[tk.name]
            else:
                toolkit = open_session_toolkit(tk.name, self.spec.resolve_config(tk.config), self.dir,
                                               str(data) if data is not None else None)
                self._owned.append(toolkit)
            for tool in registry.register(toolkit):
                by_tool[tool.name] = toolkit
        return registry, by_tool

    # -- turns ------------------------------------------------------------------------------------

    def send(self, text: str, observe: Observer | None = None) -> TurnResult:
        """Run one turn for the user's ``text`` (after finishing a turn a crash cut off: ``recover``)."""
        if self.pending_approval() is not None:
            raise AgentSpecError("an operator approval is waiting in this session",
                                 hint='Answer it first: resume({"type": "accept"}) approves, anything else rejects.',
                                 code="approval_pending")
        self.recover(observe)
        return self._run({"messages": [{"role": "user", "content": text}]}, observe)

    def interrupted(self) -> bool:
        """A crash cut off the last turn: its last checkpoint has steps to run or to apply (a step that
        finished without its checkpoint) and no operator approval waits."""
        snapshot = self.graph.get_state(self.config)
        return bool(snapshot.tasks) and not any(task.interrupts for task in snapshot.tasks)

    def recover(self, observe: Observer | None = None) -> TurnResult | None:
        """Finish the turn a crash cut off, from its last checkpoint: a write that ran is reported from
        its idempotency record, not run again. None when no turn was cut off."""
        if not self.interrupted():
            return None
        return self._run(None, observe)

    def resume(self, answer: Any, observe: Observer | None = None) -> TurnResult:
        """Answer the waiting operator approval and finish the turn: a typed answer (``True``, ``"accept"`` or
        ``{"type": "accept"}`` approves; anything else, free text included, rejects: ``guard.approved``)."""
        from langgraph.types import Command

        if self.pending_approval() is None:
            raise AgentSpecError("no operator approval is waiting in this session", code="no_approval")
        return self._run(Command(resume=answer), observe)

    def abandon(self) -> TurnResult | None:
        """End the turn the user stopped (Ctrl-C) where it stands: no further step runs, and no reply is
        added. A turn stopped at its ``act`` step (a confirmed write may have run) is finished instead
        (``recover``), so that the store and the session agree; that turn's result is returned."""
        if not self.interrupted():
            return None
        if any(task.name == "act" for task in self.graph.get_state(self.config).tasks):
            return self.recover()
        self.graph.update_state(self.config, {"stop": "stopped", "reply": None}, as_node="respond")
        self._write_meta()
        return None

    def _run(self, payload: Any, observe: Observer | None = None) -> TurnResult:
        started = time.perf_counter()
        # "sync": each step's checkpoint is on disk before the next step runs, so a crash loses at most
        # the step it cut off, which recover() runs again.
        interrupts: Any = None
        for chunk in self.graph.stream(payload, self.config, stream_mode="updates", durability="sync"):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    interrupts = update
                elif observe is not None:
                    observe(node, update if isinstance(update, dict) else {})
        state = self.state
        # Entries carry their turn number, so a turn resumed after an interrupt gets all of its own.
        entries = [e for e in state.get("trace", []) if e.get("turn") == state.get("turn", 0)]
        approval = dict(interrupts[0].value) if interrupts else None
        self._write_meta()
        return TurnResult(reply=None if approval else state.get("reply"), approval=approval, entries=entries,
                          seconds=time.perf_counter() - started)

    def pending_approval(self) -> dict[str, Any] | None:
        """The operator approval this session is stopped at, if any."""
        snapshot = self.graph.get_state(self.config)
        for task in snapshot.tasks:
            for intr in task.interrupts:
                return dict(intr.value)
        return None

    # -- reading ----------------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.graph.get_state(self.config).values)

    def history(self) -> list[dict[str, Any]]:
        return list(self.state.get("messages", []))

    def trace(self) -> list[dict[str, Any]]:
        return list(self.state.get("trace", []))

    def _write_meta(self) -> None:
        if self.dir is None:
            return
        path = self.dir / "session.json"
        meta = _read_meta(path) or {"name": self.name, "created": time.time()}
        state = self.state
        meta.update(spec=self.spec.source or self.spec.name, updated=time.time(), turns=state.get("turn", 0),
                    user_id=state.get("user_id"))
        partial = path.with_name(".session.json.partial")
        partial.write_text(json.dumps(meta, indent=1))
        os.replace(partial, path)  # a reader sees the old file or the new one, never half of one

    def close(self) -> None:
        for owned in self._owned:
            close = getattr(owned, "close", None)
            if close:
                close()
        self._owned.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _read_meta(path: Path) -> dict[str, Any] | None:
    """``session.json``'s content; None when it is missing or unreadable (it is rebuilt from the checkpoint)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def list_sessions() -> list[dict[str, Any]]:
    """Saved sessions, most recently used first: ``{"name", "spec", "created", "updated", "turns", "user_id"}``.
    The name is the folder's; an unreadable or odd ``session.json`` lists with what it holds of use."""
    out = []
    for meta_path in sessions_dir().glob("*/session.json"):
        meta = {"spec": "?", "turns": "?", "user_id": None, **(_read_meta(meta_path) or {})}
        meta["name"] = meta_path.parent.name
        meta["updated"] = _timestamp(meta.get("updated"))
        out.append(meta)
    return sorted(out, key=lambda m: m["updated"], reverse=True)


def _timestamp(value: Any) -> float:
    """``value`` as a plausible Unix time (0 when it is none)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11
    return float(value) if ok else 0.0


def read_session_trace(name: str) -> list[dict[str, Any]]:
    """The trace of a saved session, read from its checkpoints without loading a model."""
    path = sessions_dir() / name / "checkpoints.sqlite"
    if not _valid_name(name) or not path.exists():
        known = ", ".join(m["name"] for m in list_sessions()) or "none"
        raise AgentSpecError(f"no session named {name!r} (saved sessions: {known})",
                             hint="`agentspec chat --session NAME` creates one.", code="unknown_session")
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        tup = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": name}})
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise AgentSpecError(f"the checkpoints of session {name!r} ({path}) cannot be read: {exc}",
                             hint="Restore the file from a backup; the session's trace lives only there.",
                             code="corrupt_checkpoints") from None
    finally:
        conn.close()
    if tup is None:
        return []
    return list(tup.checkpoint.get("channel_values", {}).get("trace", []))


__all__ += ["read_session_trace"]
