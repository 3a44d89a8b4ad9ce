"""Retrieval over domain documents: markdown passages with their source, embedded, searched with faiss.

    index = DocumentIndex.open(Path("~/.cache/agentspec/retrieval"))
    index.update([Document("policy.md", text), Document("faq.md", faq)])   # added/changed/removed/unchanged
    for p in index.search("how long does a refund take?", k=5):
        print(p.source, p.score, p.text)                                   # "faq.md#How long ...", 0.71, ...
    prompt_block = format_passages(index.search(question, k=3))            # passages with their source

Contract:
- ``Document(source, text)``: ``source`` names the document (a file name such as ``policy.md``), ``text``
  is markdown. ``update`` cuts it into passages (``_chunks.chunk``: sections and paragraphs of about
  80-200 words), each ``Passage(source, text, score)`` with ``source`` like ``policy.md#Cancel pending
  order``.
- ``update(documents, prune=True)`` makes the index hold exactly ``documents`` (with ``prune=False``
  the ones not given are kept) and returns ``{"added", "changed", "removed", "unchanged"}``: sorted lists
  of document sources. Incremental: a document whose content hash is unchanged is not re-chunked,
  and only passages whose text is not in the index already are embedded (one encoder call per
  update, none when nothing is new).
- Storage is one SQLite file, ``FOLDER/documents.sqlite`` (WAL, ``synchronous=FULL``): documents,
  passages and their vectors, all written by one transaction per update. The faiss index
  (``IndexIDMap2(IndexFlatIP)``, cosine on L2-normalised vectors) is derived: rebuilt from the file at
  open and after each commit, and again when ``search`` sees that another process committed (the
  generation number changed). So a kill -9 at any instant leaves an index that agrees with its
  metadata. The rebuild reads every vector: fine for thousands of passages, not for millions.
- A file that is not a readable index (or whose rows disagree) raises ``AgentSpecError`` code
  ``retrieval_corrupt`` naming it and the fix (``agentspec retrieval index ... --rebuild``); vectors of
  another width than the encoder's raise code ``retrieval_dimension``. The folder is created on the
  first update; ``search`` on an empty or missing index returns ``[]`` without loading the encoder.
- ``encoder``: anything with ``embed(list[str]) -> float32 [N, d]``; default, loaded on first use:
  ``agentspec.routing.encoder.SentenceEncoder.load()`` (MiniLM, d = 384). One index, one encoder.

Not here: which documents a domain has (a toolkit's ``documents`` hook builds them), prompts (the
caller places ``format_passages`` where it wants), per-user memories (``store``).
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agentspec.errors import AgentSpecError

from ._chunks import CHUNKER_VERSION, Chunk, chunk
from ._sqlite import connect, immediate

__all__ = ["Document", "Passage", "DocumentIndex", "Encoder", "format_passages", "INDEX_FILE", "REBUILD_HINT"]

INDEX_FILE = "documents.sqlite"
REBUILD_HINT = "agentspec retrieval index --data DIR --rebuild"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, hash TEXT NOT NULL, passages INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, document TEXT NOT NULL, source TEXT NOT NULL,
    position INTEGER NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS passages_document ON passages(document);
CREATE INDEX IF NOT EXISTS passages_text_hash ON passages(text_hash);
CREATE TABLE IF NOT EXISTS scores (
    document TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (document, name));
"""


class Encoder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Document:
    """A domain document: ``source`` names it (e.g. ``policy.md``), ``text`` is markdown."""

    source: str
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved passage: ``source`` is ``document#section``; ``score`` the cosine to the query."""

    source: str
    text: str
    score: float = 0.0


def format_passages(passages: Iterable[Passage]) -> str:
    """Passages as a prompt block: ``[1] (source: policy.md#...)`` then the text, blank-line separated."""
    return "\n\n".join(f"[{i}] (source: {p.source})\n{p.text}" for i, p in enumerate(passages, start=1))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corrupt_error(path: Path, detail: str) -> AgentSpecError:
    return AgentSpecError(
        f"The retrieval index {path} is not readable ({detail}).",
        hint=f"Rebuild it from the documents: `{REBUILD_HINT}` (it only holds derived data).",
        code="retrieval_corrupt",
    )


class DocumentIndex:
    """Passages of documents in SQLite, searched through a faiss copy. See the module docstring."""

    def __init__(self, folder: Path, encoder: Encoder | None = None, *, max_words: int = 200,
                 min_words: int = 80):
        self.folder = Path(folder)
        self.path = self.folder / INDEX_FILE
        self.max_words, self.min_words = max_words, min_words
        self._encoder = encoder
        self._db: sqlite3.Connection | None = None
        self._faiss: Any = None
        self._generation = -1
        self._dim: int | None = None
        self._lock = threading.RLock()

    # ---- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: str | Path, encoder: Encoder | None = None, **chunking: int) -> DocumentIndex:
        """The index in ``folder``; an existing file is read now (corrupt: ``AgentSpecError``)."""
        index = cls(Path(folder).expanduser(), encoder, **chunking)
        if index.path.exists():
            index._connect()
        return index

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                db = connect(self.path)
            except sqlite3.DatabaseError as exc:
                raise corrupt_error(self.path, str(exc)) from None
            try:
                db.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                db.close()
                raise corrupt_error(self.path, str(exc)) from None
            self._db = db
            try:
                self._reload()
            except BaseException:
                self._db = None
                db.close()
                raise
        return self._db

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()  # type: ignore[union-attr]
        return row[0] if row else None

    def _reload(self) -> None:
        """Rebuild the faiss copy from the file, checking that rows and vectors agree."""
        import faiss

        db = self._db
        assert db is not None
        try:
            db.execute("BEGIN")  # one snapshot: another process may commit meanwhile
            try:
                generation = int(self._meta("generation") or 0)
                dim = self._meta("dim")
                rows = db.execute("SELECT id, vector FROM passages ORDER BY id").fetchall()
                counted = db.execute("SELECT COALESCE(SUM(passages), 0) FROM documents").fetchone()[0]
            finally:
                db.execute("COMMIT")
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise corrupt_error(self.path, str(exc)) from None
        if counted != len(rows):
            raise corrupt_error(self.path, f"{len(rows)} passages stored, the documents list {counted}")
        self._dim = int(dim) if dim else None
        if rows and (self._dim is None or any(len(v) != 4 * self._dim for _, v in rows)):
            raise corrupt_error(self.path, "a stored vector has the wrong size")
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim or 1))
        if rows:
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), self._dim)
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._faiss, self._generation = index, generation

    def _fresh(self) -> bool:
        """Reload if another process committed since; False when there is no index file yet."""
        if self._db is None:
            if not self.path.exists():
                return False
            self._connect()
            return True
        try:
            generation = int(self._meta("generation") or 0)
        except sqlite3.DatabaseError as exc:
            raise corrupt_error(self.path, str(exc)) from None
        if generation != self._generation:
            self._reload()
        return True

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from agentspec.routing.encoder import SentenceEncoder

            self._encoder = SentenceEncoder.load()
        return self._encoder

    def _embed(self, texts: list[str]) -> np.ndarray:
        """float32 [N, d], L2-normalised (again: cheap, and inner product must be cosine)."""
        vectors = np.ascontiguousarray(self.encoder.embed(texts), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"encoder returned shape {vectors.shape} for {len(texts)} texts")
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise AgentSpecError(
                f"The retrieval index {self.path} holds {self._dim}-wide vectors; the encoder gives "
                f"{vectors.shape[1]}.", hint=f"Rebuild it with this encoder: `{REBUILD_HINT}`.",
                code="retrieval_dimension")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))

    # ---- updating ---------------------------------------------------------------------------------

    def _document_hash(self, document: Document) -> str:
        return _sha(f"{CHUNKER_VERSION}:{self.max_words}:{self.min_words}\n{document.text}")

    def update(self, documents: Iterable[Document], *, prune: bool = True) -> dict[str, list[str]]:
        """Index ``documents`` incrementally in one transaction; see the module docstring."""
        documents = list(documents)
        sources = [d.source for d in documents]
        if len(set(sources)) != len(sources):
            twice = sorted({s for s in sources if sources.count(s) > 1})
            raise AgentSpecError(f"documents given twice: {', '.join(twice)}",
                                 hint="Give each document once, under a unique source name.",
                                 code="retrieval_input")
        with self._lock:
            db = self._connect()
            self._fresh()
            stored = dict(db.execute("SELECT source, hash FROM documents").fetchall())
            # 1. What changed, by content hash.
            hashes = {d.source: self._document_hash(d) for d in documents}
            report: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "unchanged": []}
            todo: list[Document] = []
            for d in documents:
                kind = "added" if d.source not in stored else "unchanged" if stored[d.source] == hashes[d.source] \
                    else "changed"
                report[kind].append(d.source)
                if kind != "unchanged":
                    todo.append(d)
            if prune:
                report["removed"] = sorted(set(stored) - set(hashes))
            if not todo and not report["removed"]:
                return {k: sorted(v) for k, v in report.items()}
            # 2. Chunk what changed; embed only passage texts the index does not hold yet (one call).
            chunks = {d.source: chunk(d, self.max_words, self.min_words) for d in todo}
            vectors = self._vectors([c for cs in chunks.values() for c in cs])
            # 3. One transaction: replace the passages of changed documents, drop removed ones.
            self._commit(chunks, hashes, report["removed"], vectors)
            self._reload()
        return {k: sorted(v) for k, v in report.items()}

    def _vectors(self, chunks: list[Chunk]) -> dict[str, bytes]:
        """text hash -> vector bytes for every chunk: reused from the file where the text is known."""
        db = self._db
        assert db is not None
        wanted = {_sha(c.text): c.text for c in chunks}
        known: dict[str, bytes] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            batch = keys[start:start + 500]
            marks = ",".join("?" * len(batch))
            known.update(db.execute(f"SELECT text_hash, vector FROM passages WHERE text_hash IN ({marks})",
                                    batch).fetchall())
        new = [h for h in keys if h not in known]
        if new:
            embedded = self._embed([wanted[h] for h in new])
            self._dim = embedded.shape[1]
            known.update({h: row.astype("<f4").tobytes() for h, row in zip(new, embedded)})
        return known

    def _commit(self, chunks: dict[str, list[Chunk]], hashes: dict[str, str], removed: list[str],
                vectors: dict[str, bytes]) -> None:
        db = self._db
        assert db is not None
        now = time.time()
        with immediate(db):
            for source in [*chunks, *removed]:
                db.execute("DELETE FROM passages WHERE document = ?", (source,))
                db.execute("DELETE FROM documents WHERE source = ?", (source,))
            for source, parts in chunks.items():
                db.executemany(
                    "INSERT INTO passages (document, source, position, text, text_hash, vector) VALUES (?,?,?,?,?,?)",
                    [(source, c.source, c.position, c.text, _sha(c.text), vectors[_sha(c.text)]) for c in parts])
                db.execute("INSERT INTO documents (source, hash, passages, indexed_at) VALUES (?,?,?,?)",
                           (source, hashes[source], len(parts), now))
            if self._dim is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(self._dim),))
            generation = int(self._meta("generation") or 0) + 1  # read inside the write lock
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))

    # ---- reading ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The ``k`` passages most similar to ``query`` (cosine), best first; [] on an empty index."""
        with self._lock:
            if k < 1 or not self._fresh() or self._faiss.ntotal == 0:
                return []
            scores, ids = self._faiss.search(self._embed([query]), min(k, self._faiss.ntotal))
            hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            marks = ",".join("?" * len(hits))
            rows = dict((r[0], r[1:]) for r in self._db.execute(  # type: ignore[union-attr]
                f"SELECT id, source, text FROM passages WHERE id IN ({marks})", [i for i, _ in hits]))
        return [Passage(rows[i][0], rows[i][1], s) for i, s in hits if i in rows]

    def passages(self) -> list[Passage]:
        """Every passage, by document and position (score 0)."""
        with self._lock:
            if not self._fresh():
                return []
            rows = self._db.execute(  # type: ignore[union-attr]
                "SELECT source, text FROM passages ORDER BY document, position").fetchall()
        return [Passage(source, text) for source, text in rows]

    def documents(self) -> dict[str, str]:
        """Document source -> content hash, for every indexed document."""
        with self._lock:
            if not self._fresh():
                return {}
            return dict(self._db.execute("SELECT source, hash FROM documents ORDER BY source"))  # type: ignore[union-attr]

    def __len__(self) -> int:
        with self._lock:
            return self._faiss.ntotal if self._fresh() else 0

    # ---- per-document scores (the perplexity monitor keeps its numbers here) ------------------------

    def scores(self, name: str) -> dict[str, float]:
        """Scores named ``name`` of documents whose content has not changed since they were recorded."""
        with self._lock:
            if not self._fresh():
                return {}
            return dict(self._db.execute(  # type: ignore[union-attr]
                "SELECT s.document, s.value FROM scores s JOIN documents d ON d.source = s.document "
                "AND d.hash = s.hash WHERE s.name = ?", (name,)))

    def record_scores(self, name: str, values: dict[str, float]) -> None:
        """Record a score per indexed document (for its current content), in one transaction."""
        with self._lock:
            db = self._connect()
            hashes = dict(db.execute("SELECT source, hash FROM documents").fetchall())
            unknown = sorted(set(values) - set(hashes))
            if unknown:
                raise KeyError(f"not indexed: {', '.join(unknown)}")
            with immediate(db):
                db.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?)",
                               [(s, name, hashes[s], float(v)) for s, v in values.items()])

    def stats(self) -> dict[str, Any]:
        """Counts for humans and ``--json``: documents, passages, dimension, generation, file."""
        with self._lock:
            fresh = self._fresh()
            docs = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] if fresh else 0  # type: ignore[union-attr]
            return {"documents": docs, "passages": self._faiss.ntotal if fresh else 0, "dim": self._dim,
                    "generation": max(self._generation, 0), "file": str(self.path)}

    # ---- closing ----------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db, self._faiss, self._generation = None, None, -1

    def __enter__(self) -> DocumentIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DocumentIndex({str(self.folder)!r})"
