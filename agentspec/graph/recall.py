"""What the agent should know before the model speaks: recalled memories, checked; retrieved passages.

Contract: ``recall(state, deps)`` runs before each planning step and does its work once per (user,
turn): later steps of the turn reuse it. It needs ``spec.memory`` (and ``deps.memory``) or
``spec.retrieval`` (and ``deps.documents``); without them it changes nothing.

0. What to keep: with ``memory.remember_said``, each message of the verified customer not read for it
   yet (those said before authentication too) that the reader's head reads as something to keep (a
   lasting preference) is resolved by the toolkit against the store (``stated_memories``) and stored,
   with its session and turn (trace entry ``kind: remember``; ``recalled.noted`` lists the facts).
   Words the store cannot resolve are not kept.

1. Memories: only an authenticated user's (``user_id``), nearest what the customer asks about (the
   messages of the open requests, else the latest message), at least
   ``memory.min_score`` similar, at most ``memory.recall`` of them. Before authentication nothing is
   recalled.
2. The consistency check, for each memory: the toolkit's ``verify_memory(user_id, memory)`` hook compares
   it with live data (the store is the truth). ``stale``: the memory is superseded in the store (with
   the live fact as a newer memory, shown instead, when the hook gives one) and left out; ``fresh`` or
   ``unknown``: kept. Of two kept memories of one key, the newer supersedes the older. The trace entry
   (``kind: recall``) lists what was kept, what was dropped and why.
3. Passages: the document index's nearest passages to the same query, each with its source, at
   least ``retrieval.min_score`` similar, at most ``retrieval.top_k``: not while an open request is
   one a tool serves (a task, not a question: a turn that acts on the customer's data reads it from
   the tools, and a small model's prompt stays short), nor while the latest message asks to keep
   something (step 0: words for the customer's memory, not a question for the documents).
   ``question`` records a turn the request scope says asks a question and passages speak to (before
   authentication its reply then stands).
4. The prompt: ``context`` (passages under ``retrieval.header``, then memories under ``memory.header``,
   each line with its source) goes in as a system message just before the latest user message
   (``decide``); the identifiers and values of the kept memories join the grounding (the passages'
   do not: a document's text is no customer's data). Live data outranks both: a memory it contradicts
   was dropped in step 2, and tool observations stay in the prompt as they are.
"""
from __future__ import annotations

import time
from typing import Any

from agentspec.graph.deps import AgentDeps
from agentspec.graph.state import AgentState

__all__ = ["recall", "with_context"]


def recall(state: AgentState, deps: AgentDeps) -> dict[str, Any]:
    user = state.get("user_id")
    key = [user, state.get("turn", 0)]
    previous = state.get("recalled") or {}
    if previous.get("key") == key or not (deps.memory_enabled or deps.retrieval_enabled):
        return {}
    started = time.perf_counter()
    noted, notes = _note(state, deps, user) if deps.memory_enabled and user else ([], None)
    query = _query(state)
    kept, dropped = _memories(deps, user, query, state) if deps.memory_enabled and user else ([], [])
    question = False if _asks_to_keep(state, deps) else _asks_question(state, deps)
    passages = _passages(deps, query) if deps.retrieval_enabled and query and question is not False else []
    context = _context(deps, kept, passages)
    grounding = deps.grounding()
    for memory in kept:  # checked against the store: their values may be used; passages' may not
        grounding.observe_text(memory["text"])
    entry = {"turn": state.get("turn", 0), "kind": "recall", "user": user,
             "memories": [{"id": m["id"], "text": m["text"], "source": _source(m)} for m in kept],
             "dropped": dropped, "passages": [{"source": p["source"], "score": p["score"]} for p in passages],
             "latency_ms": round((time.perf_counter() - started) * 1e3, 1)}
    update: dict[str, Any] = {"noted": notes["upto"]} if notes is not None else {}
    return {"recalled": {"key": key, "context": context, "memories": kept, "passages": passages,
                         "question": bool(question and passages), "noted": [fact.text for fact in noted]},
            "grounding": grounding.as_dict(), "trace": ([notes["entry"]] if notes and notes["entry"] else []) + [entry],
            **update}


def _note(state: AgentState, deps: AgentDeps, user: str) -> tuple[list[Any], dict[str, Any] | None]:
    """What the verified customer's messages not read for it yet ask to keep (``memory.remember_said``):
    each message the reader's head reads at ``remember_threshold`` or above as a kind, resolved against
    the store by the toolkit (``stated_memories``) and stored. Messages said before authentication are
    read once the user is known. Returns (the facts resolved, {"upto": messages read, "entry": trace})."""
    said = _said(state)
    if not (deps.spec.memory and deps.spec.memory.remember_said) or len(said) <= state.get("noted", 0):
        return [], None
    facts: list[Any] = []
    read: list[dict[str, Any]] = []
    for text in said[state.get("noted", 0):]:
        label, p = _to_keep(deps, text)
        if label is None:
            continue
        found = deps.remember_said(user, label, [text], [dict(deps.read(text).slots)], int(state.get("turn", 0)))
        facts += found
        read.append({"label": label, "p": p, "kept": [fact.text for fact in found]})
    entry = {"turn": state.get("turn", 0), "kind": "remember", "user": user, "read": read} if read else None
    return facts, {"upto": len(said), "entry": entry}


def _said(state: AgentState) -> list[str]:
    """The user's own messages of the conversation, in order (tool results excluded)."""
    return [str(m.get("content") or "") for m in state.get("messages", [])
            if m.get("role") == "user" and "meta" not in m]


def _to_keep(deps: AgentDeps, text: str) -> tuple[str | None, float]:
    """What ``text`` asks to keep, as the ``memory.remember_said`` head reads it at its threshold (None:
    nothing, or no such head), with its probability."""
    spec = deps.spec.memory
    if spec is None or not spec.remember_said:
        return None, 0.0
    reading = deps.read(text)
    label = reading.chosen(spec.remember_said, spec.remember_threshold)
    return label, round(reading.choices[spec.remember_said][label], 3) if label else 0.0


def with_context(messages: list[dict[str, Any]], state: AgentState) -> list[dict[str, Any]]:
    """``messages`` with the turn's recalled context as a system message before the latest user message."""
    context = (state.get("recalled") or {}).get("context")
    if not context:
        return messages
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages))
    return [*messages[:last_user], {"role": "system", "content": context}, *messages[last_user:]]


def _query(state: AgentState) -> str:
    """What the customer asks about: the messages of the open requests (the last three), else the latest
    message of the customer's own (never a tool's observation)."""
    said = [str(text) for text in state.get("said") or []][-3:]
    own = _said(state)
    return " ".join(said) if said else (own[-1] if own else "")


def _memories(deps: AgentDeps, user: str, query: str, state: AgentState) -> tuple[list[dict], list[dict]]:
    spec = deps.spec.memory
    assert spec is not None
    found = [m for m in deps.memory.recall(user, query, k=spec.recall) if (m.score or 0.0) >= spec.min_score]
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    newest: dict[str, Any] = {}
    for memory in sorted(found, key=lambda m: m.time, reverse=True):
        verdict = deps.verify_memory(user, memory.as_dict())
        if verdict.get("status") == "stale":
            replacement = _supersede_stale(deps, user, memory, verdict, state)
            dropped.append({"id": memory.id, "text": memory.text, "why": "stale", "live": verdict.get("live")})
            if replacement is not None and replacement.key not in newest:
                newest[replacement.key] = replacement.id
                kept.append(replacement.as_dict())
        elif memory.key in newest:
            deps.memory.supersede(memory, f"a newer {memory.key} was recalled", by=newest[memory.key])
            dropped.append({"id": memory.id, "text": memory.text, "why": "superseded", "by": newest[memory.key]})
        else:
            newest[memory.key] = memory.id
            kept.append(memory.as_dict())
    kept.sort(key=lambda m: -(m["score"] or 0.0))
    return kept, dropped


def _supersede_stale(deps: AgentDeps, user: str, memory: Any, verdict: dict[str, Any], state: AgentState) -> Any:
    """Supersede a stale memory; the live fact that replaces it (a new memory), if the hook gave one."""
    from agentspec.memory.store import Fact

    added = []
    if verdict.get("text"):
        fact = Fact(text=str(verdict["text"]), key=memory.key, value=str(verdict.get("value") or verdict.get("live") or ""),
                    kind=memory.kind)
        added = deps.memory.remember(user, [fact], session=deps.session, turn=int(state.get("turn", 0)))
    deps.memory.supersede(memory, f"stale: live data says {verdict.get('live')!r}", by=added[0].id if added else None)
    return added[0] if added else None


def _asks_question(state: AgentState, deps: AgentDeps) -> bool | None:
    """False when an open request is one a tool serves or one answered from the customer's records
    (``understanding.questions``): the turn is about the customer's data, documents answer nothing in
    it; True when none is, None when the spec has no request scope to tell."""
    understanding = deps.spec.understanding
    if understanding is None or not understanding.requests:
        return None
    return not any(understanding.requests.get(request) or request in understanding.questions
                   for request in state.get("open_requests") or [])


def _asks_to_keep(state: AgentState, deps: AgentDeps) -> bool:
    """Whether the latest user message asks to keep something for later (``memory.remember_said``): a
    statement for the customer's memory, not a question for the documents (before authentication the
    identity is asked for, so it can be kept)."""
    said = _said(state)
    return bool(said) and _to_keep(deps, said[-1])[0] is not None


def _passages(deps: AgentDeps, query: str) -> list[dict[str, Any]]:
    spec = deps.spec.retrieval
    assert spec is not None
    found = deps.documents.search(query, k=spec.top_k)
    return [{"source": p.source, "text": p.text, "score": round(float(p.score), 4)} for p in found
            if p.score >= spec.min_score]


def _source(memory: dict[str, Any]) -> str:
    return f"session {memory['session']}, turn {memory['turn']}, {memory['time'][:10]}"


def _context(deps: AgentDeps, memories: list[dict[str, Any]], passages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    if passages and deps.spec.retrieval is not None:
        parts.append(deps.spec.retrieval.header)
        parts += [f"[{p['source']}] {p['text']}" for p in passages]
    if memories and deps.spec.memory is not None:
        parts.append(deps.spec.memory.header)
        parts += [f"- {m['text']} ({_source(m)})" for m in memories]
    return "\n".join(parts)
