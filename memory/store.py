"""Per-customer long-term memory: mem0 over a durable faiss store, offline, one folder per agent home.

Contract:
- ``MemoryStore.open(folder, encoder=None)``: memories in ``folder/memories.sqlite`` (the truth, see
  ``vectors``), mem0's history in ``folder/history.sqlite``; the embedder is the packaged MiniLM.
- ``remember(user_id, facts, session=, turn=)`` adds each ``Fact`` (text, key, value, kind) with its source
  (session, turn) and time. A fact whose key an older live memory of that user holds with another value
  supersedes it: the old one stays, marked ``superseded_by`` the new id (the record of both). The same
  value again adds nothing. Nothing is inferred by mem0 (``infer=False``): what is worth remembering
  is decided by the caller (the toolkit's hook, the reader).
- ``recall(user_id, query, k)``: that user's live (not superseded) memories nearest the query, best
  first; never another user's (the vector store searches only that user's index). An empty user id
  recalls nothing.
- ``supersede(memory, reason, by=None)`` marks a memory replaced (by a newer one, or by live data).
- ``memories(user_id)`` all of a user's memories, oldest first; ``forget(user_id)`` removes them from
  the index, the records and mem0's history alike and returns how many there were.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentspec.memory._mem0 import build_memory
from agentspec.memory.embedder import MiniLMEmbedding
from agentspec.memory.vectors import DurableFaiss

__all__ = ["Fact", "MemoryItem", "MemoryStore"]


@dataclass(frozen=True)
class Fact:
    """Something worth remembering: ``text`` (what the prompt shows), ``key`` (the slot a newer fact of
    the same key replaces), ``value`` (what a live check compares), ``kind`` (the toolkit's category)."""

    text: str
    key: str
    value: str = ""
    kind: str = "fact"


@dataclass
class MemoryItem:
    """A stored memory with its source and, when searched, its score."""

    id: str
    user_id: str
    text: str
    key: str
    value: str
    kind: str
    session: str
    turn: int
    time: str
    superseded_by: str | None = None
    reason: str | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.superseded_by is None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "key": self.key, "value": self.value, "kind": self.kind,
                "session": self.session, "turn": self.turn, "time": self.time, "superseded_by": self.superseded_by,
                "reason": self.reason, "score": None if self.score is None else round(self.score, 4)}


def _item(record_id: str, payload: dict[str, Any], score: float | None = None) -> MemoryItem:
    return MemoryItem(id=record_id, user_id=str(payload.get("user_id", "")), text=str(payload.get("data", "")),
                      key=str(payload.get("key", "")), value=str(payload.get("value", "")),
                      kind=str(payload.get("kind", "fact")), session=str(payload.get("session", "")),
                      turn=int(payload.get("turn", 0)), time=str(payload.get("created_at", "")),
                      superseded_by=payload.get("superseded_by"), reason=payload.get("reason"), score=score)


class MemoryStore:
    """See the module docstring."""

    def __init__(self, folder: Path, vectors: DurableFaiss, mem0: Any):
        self.folder = folder
        self.vectors = vectors
        self.mem0 = mem0

    @classmethod
    def open(cls, folder: str | Path, encoder: Any = None) -> "MemoryStore":
        folder = Path(folder)
        embedder = MiniLMEmbedding(encoder)
        vectors = DurableFaiss(folder / "memories.sqlite", dims=embedder.dims)
        return cls(folder, vectors, build_memory(folder, embedder, vectors, dims=embedder.dims))

    def remember(self, user_id: str, facts: list[Fact], *, session: str, turn: int) -> list[MemoryItem]:
        """Store the facts (see the module docstring); returns the memories added."""
        if not user_id:
            raise ValueError("memories belong to an authenticated user")
        added: list[MemoryItem] = []
        for fact in facts:
            current = [m for m in self.memories(user_id) if m.live and m.key == fact.key]
            if any(m.value == fact.value and m.text == fact.text for m in current):
                continue
            metadata = {"key": fact.key, "value": fact.value, "kind": fact.kind, "session": session, "turn": turn}
            result = self.mem0.add(fact.text, user_id=user_id, metadata=metadata, infer=False)
            new_id = result["results"][0]["id"]
            for old in current:
                self.supersede(old, f"replaced by a newer {fact.key} (session {session}, turn {turn})", by=new_id)
            hit = self.vectors.get(new_id)
            added.append(_item(new_id, hit.payload or {}))
        return added

    def supersede(self, memory: MemoryItem, reason: str, by: str | None = None) -> None:
        """Mark ``memory`` replaced: by the memory ``by``, or (None) by live data, with the reason."""
        hit = self.vectors.get(memory.id)
        if hit is None:
            return
        payload = dict(hit.payload or {})
        payload.update(superseded_by=by or "live", reason=reason,
                       updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
        self.vectors.update(memory.id, payload=payload)

    def recall(self, user_id: str | None, query: str, k: int = 5) -> list[MemoryItem]:
        """The user's live memories nearest ``query``, best first (see the module docstring)."""
        if not user_id or not query.strip():
            return []
        found = self.vectors.search(query, self.mem0.embedding_model.embed(query, "search"),
                                    top_k=k, filters={"user_id": user_id, "superseded_by": None})
        return [_item(hit.id, hit.payload or {}, hit.score) for hit in found]

    def memories(self, user_id: str) -> list[MemoryItem]:
        hits = self.vectors.list(filters={"user_id": user_id}, top_k=None)[0]
        return [_item(hit.id, hit.payload or {}) for hit in hits]

    def users(self) -> list[str]:
        return self.vectors.users()

    def forget(self, user_id: str) -> int:
        """Remove every memory of the user from index, records and mem0's history; returns how many."""
        ids = [m.id for m in self.memories(user_id)]
        for memory_id in ids:
            self.vectors.delete(memory_id)
        self._purge_history(ids, user_id)
        return len(ids)

    def _purge_history(self, ids: list[str], user_id: str) -> None:
        path = self.folder / "history.sqlite"
        if not path.exists():
            return
        with sqlite3.connect(path) as db:
            db.executemany("DELETE FROM history WHERE memory_id = ?", [(i,) for i in ids])
            db.execute("DELETE FROM messages WHERE session_scope LIKE ?", (f"%user_id={user_id}%",))

    def close(self) -> None:
        self.vectors.close()
        if hasattr(self.mem0.db, "close"):
            self.mem0.db.close()
