"""A mem0 vector store whose faiss index can never disagree with its records: SQLite is the truth.

mem0's own ``faiss`` store rewrites the whole index and a JSON docstore on every insert, in two files
written one after the other: a kill between them leaves ids out of step with vectors. It also searches
the top 2k vectors of everyone and filters by user afterwards, so a customer with few memories among
many users' may recall nothing. This store fixes both:

- Every insert, update and delete is one SQLite transaction (WAL, ``synchronous=FULL``) holding the id,
  the scope (``user_id``), the vector and the payload. faiss holds a derived copy in memory: one
  ``IndexIDMap2(IndexFlatIP)`` per user, rebuilt from SQLite at open and changed only after a commit.
  A kill -9 at any instant leaves a file that opens into an index aligned with its records.
- ``search`` with a ``user_id`` filter searches that user's index only (exact, never another user's);
  other filters are applied to the payloads of the candidates.
- Another process's commits are seen: before a search, an update or a delete, SQLite's ``data_version``
  says whether another connection committed, and the derived index is rebuilt if so.
- A file that is not a readable store raises ``AgentSpecError`` (code ``memory_corrupt``) naming it and
  the fix; vectors of another width than the embedder's raise ``memory_dimension``.

Vectors are L2-normalised on the way in (inner product = cosine). Implements mem0's ``VectorStoreBase``.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from pydantic import BaseModel

from agentspec.errors import AgentSpecError
from agentspec.memory._mem0 import VectorStoreBase
from agentspec.memory._sqlite import connect, immediate

__all__ = ["DurableFaiss", "Hit"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_user ON vectors(user_id);
"""
_NO_USER = ""  # scope key of records without a user_id


class Hit(BaseModel):
    """One record as mem0 expects it (``id``, ``score``, ``payload``)."""

    id: str
    score: float | None = None
    payload: dict[str, Any] | None = None


def corrupt_error(path: Path, detail: str) -> AgentSpecError:
    return AgentSpecError(
        f"The memory store {path} is not readable ({detail}).",
        hint=f"Restore {path} from a backup, or move it away to start with no memories "
             f"(`agentspec memory forget --all` cannot read it either).", code="memory_corrupt")


class DurableFaiss(VectorStoreBase):
    """SQLite records + per-user faiss indexes (see the module docstring)."""

    def __init__(self, path: Path, dims: int = 384):
        self.path = Path(path)
        self.dims = dims
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect(self.path)
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise corrupt_error(self.path, str(exc)) from None
        self._indexes: dict[str, faiss.IndexIDMap2] = {}
        self._rows: dict[str, tuple[int, str]] = {}  # id -> (row, scope)
        self._version = self._data_version()
        self._load()

    # -- derived index -------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            rows = self._db.execute("SELECT row, id, user_id, vector FROM vectors").fetchall()
        except sqlite3.DatabaseError as exc:
            raise corrupt_error(self.path, str(exc)) from None
        by_scope: dict[str, list[tuple[int, str, bytes]]] = {}
        for row, vid, scope, blob in rows:
            if len(blob) != 4 * self.dims:
                raise AgentSpecError(
                    f"The memory store {self.path} holds {len(blob) // 4}-wide vectors; the embedder gives {self.dims}.",
                    hint="Use the embedder the store was written with, or move the file away to start again.",
                    code="memory_dimension")
            by_scope.setdefault(scope, []).append((row, vid, blob))
        for scope, items in by_scope.items():
            vectors = np.frombuffer(b"".join(b for _, _, b in items), dtype=np.float32).reshape(len(items), self.dims)
            self._index(scope).add_with_ids(vectors, np.array([r for r, _, _ in items], dtype=np.int64))
            self._rows.update({vid: (row, scope) for row, vid, _ in items})

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        """Rebuild the derived index when another connection (another process) committed since."""
        version = self._data_version()
        if version != self._version:
            self._version = version
            self._indexes.clear()
            self._rows.clear()
            self._load()

    def _index(self, scope: str) -> faiss.IndexIDMap2:
        if scope not in self._indexes:
            self._indexes[scope] = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dims))
        return self._indexes[scope]

    def _vector(self, vector: Any) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if v.shape[1] != self.dims:
            raise AgentSpecError(f"A {v.shape[1]}-wide vector for a {self.dims}-wide memory store.",
                                 hint="Configure the embedder and the store with the same width.", code="memory_dimension")
        v = np.ascontiguousarray(v)
        faiss.normalize_L2(v)
        return v

    # -- mem0's VectorStoreBase ----------------------------------------------------------------------
    def create_col(self, name: str = "memories", vector_size: int | None = None, distance: str | None = None) -> None:
        return None

    def insert(self, vectors: list[Any], payloads: list[dict] | None = None, ids: list[str] | None = None) -> None:
        payloads = payloads or [{} for _ in vectors]
        ids = ids or [str(i) for i in range(len(vectors))]
        prepared = [(vid, str(p.get("user_id") or _NO_USER), self._vector(v), p) for v, p, vid in zip(vectors, payloads, ids)]
        with self._lock:
            with immediate(self._db) as db:
                rows = [db.execute("INSERT INTO vectors(id, user_id, vector, payload) VALUES (?, ?, ?, ?)",
                                   (vid, scope, v.tobytes(), json.dumps(p))).lastrowid
                        for vid, scope, v, p in prepared]
            for row, (vid, scope, v, _) in zip(rows, prepared):
                self._index(scope).add_with_ids(v, np.array([row], dtype=np.int64))
                self._rows[vid] = (row, scope)

    def search(self, query: str, vectors: list[Any], top_k: int = 5, filters: dict | None = None) -> list[Hit]:
        filters = dict(filters or {})
        q = self._vector(vectors)
        with self._lock:
            self._refresh()
            if "user_id" in filters:
                scopes = [str(filters.pop("user_id"))]
            else:
                scopes = list(self._indexes)
            found: list[tuple[float, int]] = []
            for scope in scopes:
                index = self._indexes.get(scope)
                if index is None or index.ntotal == 0:
                    continue
                fetch = index.ntotal if filters else min(top_k, index.ntotal)
                scores, rows = index.search(q, fetch)
                found += [(float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0]
        found.sort(key=lambda item: -item[0])
        hits: list[Hit] = []
        for score, row in found:
            hit = self._by_row(row, score)
            if hit is not None and _matches(hit.payload or {}, filters):
                hits.append(hit)
                if len(hits) >= top_k:
                    break
        return hits

    def _by_row(self, row: int, score: float | None) -> Hit | None:
        got = self._db.execute("SELECT id, payload FROM vectors WHERE row = ?", (row,)).fetchone()
        return Hit(id=got[0], score=score, payload=json.loads(got[1])) if got else None

    def get(self, vector_id: str) -> Hit | None:
        got = self._db.execute("SELECT id, payload FROM vectors WHERE id = ?", (vector_id,)).fetchone()
        return Hit(id=got[0], payload=json.loads(got[1])) if got else None

    def update(self, vector_id: str, vector: Any = None, payload: dict | None = None) -> None:
        with self._lock:
            self._refresh()
            if vector_id not in self._rows:
                raise ValueError(f"Vector {vector_id} not found")
            row, scope = self._rows[vector_id]
            v = self._vector(vector) if vector is not None else None
            with immediate(self._db) as db:
                if payload is not None:
                    db.execute("UPDATE vectors SET payload = ? WHERE row = ?", (json.dumps(payload), row))
                if v is not None:
                    db.execute("UPDATE vectors SET vector = ? WHERE row = ?", (v.tobytes(), row))
            if v is not None:
                index = self._index(scope)
                index.remove_ids(np.array([row], dtype=np.int64))
                index.add_with_ids(v, np.array([row], dtype=np.int64))

    def delete(self, vector_id: str) -> None:
        with self._lock:
            self._refresh()
            if vector_id not in self._rows:
                return
            row, scope = self._rows[vector_id]
            self._db.execute("DELETE FROM vectors WHERE row = ?", (row,))
            self._index(scope).remove_ids(np.array([row], dtype=np.int64))
            del self._rows[vector_id]

    def list(self, filters: dict | None = None, top_k: int | None = 100) -> list[list[Hit]]:
        filters = dict(filters or {})
        sql, args = "SELECT id, payload FROM vectors", ()
        if "user_id" in filters:
            sql, args = sql + " WHERE user_id = ?", (str(filters.pop("user_id")),)
        hits = [Hit(id=vid, payload=json.loads(p)) for vid, p in self._db.execute(sql + " ORDER BY row", args)]
        hits = [h for h in hits if _matches(h.payload or {}, filters)]
        return [hits[:top_k] if top_k else hits]

    def list_cols(self) -> list[str]:
        return ["memories"]

    def delete_col(self) -> None:
        self.reset()

    def col_info(self) -> dict[str, Any]:
        return {"name": "memories", "count": len(self._rows), "dimension": self.dims, "path": str(self.path)}

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM vectors")
            self._indexes.clear()
            self._rows.clear()

    # -- checks and lifetime -------------------------------------------------------------------------
    def users(self) -> list[str]:
        """Every scope (user id) with a record, sorted."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT user_id FROM vectors ORDER BY user_id")]

    def count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return len(self._rows)
        index = self._indexes.get(user_id)
        return 0 if index is None else index.ntotal

    def aligned(self) -> bool:
        """The derived index holds exactly the stored records (the invariant a crash must not break)."""
        stored = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return stored == len(self._rows) == sum(index.ntotal for index in self._indexes.values())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _matches(payload: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, wanted in filters.items():
        have = payload.get(key)
        if isinstance(wanted, list):
            if have not in wanted:
                return False
        elif have != wanted:
            return False
    return True
