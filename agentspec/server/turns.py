"""One job of the server, run by a model worker on one conversation.

Contract: ``run_job(worker, job)`` takes the conversation's locks, opens its ``AgentSession`` on the
worker's model and decoder (the backing's shared checkpointer, or the session's own SQLite file), and
does the job's action:
- ``send``: the customer's message. While a person holds the conversation (after a hand-off) it is
  only added to the history and the operator queue sees it; otherwise one agent turn runs, its events
  (``events.step_events``, tokens) going to ``job.emit`` as they happen.
- ``resume``: the operator's answer to a waiting approval finishes the stopped turn.
- ``operator``: an operator's message to the customer, added to the history.
- ``close``: the operator hands the conversation back to the agent.
Then the conversation's record is brought up to date (user, holder, waiting approval, transcript) and
``job.result`` is ``{"reply", "approval", "events", "turn", "seconds", "holder"}``; an ``AgentSpecError``
goes to ``job.error``. No exception leaves ``run_job``: a bug is logged and reported as ``internal``.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.server.events import ReplyTokens, step_events
from agentspec.server.records import transcript_digest

__all__ = ["run_job", "visible_messages"]

log = logging.getLogger("agentspec.server")
_OPEN_RETRY_S = 30.0


def visible_messages(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as its customer reads it: their messages and the replies (no tool steps)."""
    import json

    out = []
    for m in history:
        if m.get("role") == "user" and "meta" not in m:
            out.append({"role": "user", "content": m.get("content") or ""})
        elif m.get("role") == "assistant":
            try:
                data = json.loads(m.get("content") or "")
            except ValueError:
                continue
            if isinstance(data, dict) and "reply" in data:
                out.append({"role": "assistant", "content": str(data["reply"]),
                            **({"operator": m["operator"]} if m.get("operator") else {})})
    return out


def run_job(worker: Any, job: Any) -> None:
    job.started_at = time.perf_counter()
    pool = worker.pool
    try:
        with pool.conversation_lock(job.conversation), pool.backing.turn_lock(job.conversation, timeout_s=60):
            session = _open(worker, job)
            try:
                job.result = _act(worker, job, session)
                _update_record(pool, job, session)
            finally:
                worker.decoder.on_delta = None
                worker.decoder.on_attempt = None
                session.close()
    except AgentSpecError as exc:
        job.error = exc
    except Exception:  # our bug: logged with its traceback, the client gets a plain error
        log.exception("job %s on %s failed", job.action, job.conversation)
        job.error = AgentSpecError("the server failed on this message", hint="It is logged; try again.",
                                   code="internal")


def _open(worker: Any, job: Any) -> Any:
    """The conversation's session on this worker's model; waits while another process holds it."""
    from agentspec.graph.session import AgentSession

    pool = worker.pool
    deadline = time.monotonic() + _OPEN_RETRY_S
    while True:
        try:
            memory, documents = pool.knowledge(job.spec)
            return AgentSession(pool.specs[job.spec], name=job.conversation, model=worker.model,
                                decoder=worker.decoder, approve=pool.approve, data=pool.data,
                                checkpointer=pool.backing.checkpointer, memory=memory, documents=documents)
        except AgentSpecError as exc:
            if exc.code != "session_busy" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _act(worker: Any, job: Any, session: Any) -> dict[str, Any]:
    record = worker.pool.conversations.get(job.conversation) or {}
    events: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:
        events.append(event)
        job.emit(event)

    started = time.perf_counter()
    if job.action == "operator":
        _append(session, {"role": "assistant", "content": _reply_text(job.payload), "operator": job.operator})
        emit({"event": "reply", "text": job.payload, "outcome": "operator", "operator": job.operator})
        return _result(session, None, None, events, started, "human")
    if job.action == "close":
        emit({"event": "handback"})
        return _result(session, None, None, events, started, "agent")
    if job.action == "send" and record.get("holder") == "human":
        _append(session, {"role": "user", "content": job.payload})
        emit({"event": "queued", "holder": "human"})
        return _result(session, None, None, events, started, "human")
    tokens = ReplyTokens()

    def on_delta(delta: str) -> None:
        if job.cancelled.is_set():
            from agentspec.server.pool import TurnCancelled

            raise TurnCancelled()
        text = tokens.feed(delta)
        if text:
            emit({"event": "token", "text": text})

    def on_attempt(attempt: int) -> None:
        tokens.reset()
        if attempt > 1:
            emit({"event": "retry", "attempt": attempt})

    def observe(node: str, update: dict[str, Any]) -> None:
        tokens.reset()
        for event in step_events(node, update, handoff_tool=session.spec.policy.handoff.tool):
            emit(event)

    worker.decoder.on_delta, worker.decoder.on_attempt = on_delta, on_attempt
    from agentspec.server.pool import TurnCancelled

    try:
        if job.action == "resume":
            result = session.resume(job.payload, observe=observe)
        else:
            result = session.send(str(job.payload), observe=observe)
    except TurnCancelled:
        worker.decoder.on_delta = None
        session.abandon()  # a turn stopped at its write step finishes it: the store and the session agree
        raise AgentSpecError("the client left; the turn was stopped", code="cancelled") from None
    if result.approval is not None:
        emit({"event": "approval", "statement": result.approval.get("statement"), "call": result.approval.get("call")})
    holder = "human" if session.state.get("stop") == "handoff" else record.get("holder", "agent")
    _count(worker, job, result)
    return _result(session, result.reply, result.approval, events, started, holder)


def _reply_text(text: str) -> str:
    import json

    return json.dumps({"reply": text}, ensure_ascii=False)


def _append(session: Any, message: dict[str, Any]) -> None:
    """Add a message to the conversation without running the agent (a person holds it)."""
    session.graph.update_state(session.config, {"messages": [message]}, as_node="respond")


def _result(session: Any, reply: str | None, approval: Any, events: list, started: float, holder: str) -> dict[str, Any]:
    return {"reply": reply, "approval": approval, "events": events, "turn": session.state.get("turn", 0),
            "seconds": round(time.perf_counter() - started, 4), "holder": holder}


def _count(worker: Any, job: Any, result: Any) -> None:
    metrics = worker.pool.metrics
    if metrics is None:
        return
    decided = [e for e in result.entries if e.get("kind") == "decide"]
    tokens = sum(e.get("completion_tokens", 0) for e in decided)
    decode_s = sum(e.get("latency_ms", 0.0) for e in decided) / 1e3
    metrics.turn(job.spec, result.seconds, tokens, decode_s)


def _update_record(pool: Any, job: Any, session: Any) -> None:
    record = pool.conversations.get(job.conversation)
    if record is None or job.result is None:
        return
    state = session.state
    holder = job.result["holder"]
    handoff = record.get("handoff")
    if holder == "human" and record.get("holder") != "human":
        summary = next((e["event"] == "handoff" and e.get("summary") for e in job.result["events"]
                        if e["event"] == "handoff"), "") or ""
        handoff = {"summary": summary, "since": time.time()}
    if holder == "agent":
        handoff = None
    pool.conversations.update(job.conversation, user_id=state.get("user_id"), holder=holder, handoff=handoff,
                              approval=session.pending_approval(),
                              transcript=transcript_digest(record["owner"], visible_messages(session.history())))
