"""The SQLite layer of the retail store: three tables of JSON documents, transactions, snapshots.

Contract:
- The state is the tau2 ``db.json`` structure ``{"products": {...}, "users": {...}, "orders": {...}}``.
  Each of the three sections is one table ``(id TEXT PRIMARY KEY, doc TEXT)``; ``doc`` is the entity's
  JSON exactly as in db.json (no fields added or dropped), so ``dump()`` gives back the parsed input.
- ``dump()`` lists rows in insertion order (``rowid``), so an unchanged store dumps its source order.
- ``state_hash()`` is the sha256 of canonical JSON (sorted keys, no whitespace, UTF-8): it does not
  depend on row order, on key order inside documents, or on the file the store lives in.
- Every write happens inside ``transaction()``: one SQLite transaction, committed on a normal exit and
  rolled back on *any* exception, so a write is all-or-nothing. A transaction opened inside another
  is a savepoint of it: its changes roll back alone on an exception and commit with the outer one.
- ``applied`` (a fourth table, outside the state) records writes run under an idempotency key
  (``applied_observation``/``record_applied``), in the transaction of the write itself.
- ``settings`` (a fifth table, outside the state) holds the store's own settings (``setting``), written
  once at creation and carried by every copy.
- A file the caller names appears complete or not at all: it is filled under a temporary name in
  the same folder and renamed into place, so an interrupted creation leaves no half-filled store.
- WAL journal mode needs a real file; ``Database.create(None)`` puts the file in a private temporary
  directory that ``close()`` deletes (and that skips fsync: it cannot outlive the process anyway).
  A caller-supplied path is kept, with WAL's usual ``synchronous=NORMAL``.

It does not know about users, orders or tools; ``_reads``/``_writes`` give the documents meaning.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "Database", "canonical_json"]

# The top-level keys of db.json, each stored as one table of the same name.
SECTIONS = ("products", "users", "orders")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal states give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _connect(path: Path, *, durable: bool) -> sqlite3.Connection:
    # isolation_level=None: the sqlite3 module opens no implicit transactions; we issue BEGIN/COMMIT
    # ourselves so the boundaries are exactly those of transaction(). check_same_thread=False because
    # a graph may run tools on a worker thread; the Database lock serialises access instead.
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    # Atomicity does not depend on fsync; durability across a power cut does. A private temp file dies
    # with the process anyway, so it skips fsync (store creation ~2 ms instead of ~40 ms); a file the
    # caller named keeps NORMAL, WAL's usual setting. Set before the WAL switch, which otherwise syncs.
    conn.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def _cleanup(conn: sqlite3.Connection, tmpdir: str | None) -> None:
    conn.close()
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)


class Database:
    """A SQLite file holding the three sections of a retail state as JSON documents."""

    def __init__(self, conn: sqlite3.Connection, path: Path, tmpdir: str | None) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._in_tx = False
        # Deletes the private temp dir even if the owner forgets close(); close() runs it early.
        self._finalizer = weakref.finalize(self, _cleanup, conn, tmpdir)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def create(cls, data: dict[str, Any], path: str | os.PathLike[str] | None = None,
               settings: dict[str, str] | None = None) -> Database:
        """A new database file at ``path`` (or in a private temp dir) filled with ``data`` and ``settings``."""
        if not isinstance(data, dict):
            raise ValueError(f"a retail db must be a JSON object with the keys {list(SECTIONS)}; got {type(data).__name__}")
        missing = [s for s in SECTIONS if not isinstance(data.get(s), dict)]
        if missing or set(data) - set(SECTIONS):
            raise ValueError(
                f"a retail db must be an object with exactly the keys {list(SECTIONS)} mapping ids to "
                f"entities; got keys {sorted(data)}"
            )
        if path is None:
            return cls._filled(cls._new_file(None), data, settings or {})
        path = Path(path)
        _refuse_existing(path)
        partial = _partial_name(path)
        _remove_database_files(partial)  # what an interrupted creation left
        cls._filled(cls._new_file(partial), data, settings or {}).close_as_complete()
        os.replace(partial, path)
        return cls.open(path)

    @classmethod
    def _filled(cls, db: Database, data: dict[str, Any], settings: dict[str, str]) -> Database:
        with db.transaction():
            for section in SECTIONS:
                db._conn.executemany(
                    f"INSERT INTO {section} (id, doc) VALUES (?, ?)",
                    ((key, json.dumps(doc, ensure_ascii=False)) for key, doc in data[section].items()),
                )
            db._conn.executemany("INSERT INTO settings (key, value) VALUES (?, ?)", settings.items())
        return db

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Database:
        """An existing database file written by ``create`` or ``backup_to``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no retail SQLite store at {path}")
        conn = _connect(path, durable=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not set(SECTIONS) <= tables:
                raise ValueError(f"{path} is not a retail store: tables {sorted(tables)}, need {list(SECTIONS)}")
            conn.execute(_APPLIED_TABLE)
            conn.execute(_SETTINGS_TABLE)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, None)

    @classmethod
    def _new_file(cls, path: str | os.PathLike[str] | None) -> Database:
        tmpdir = None
        if path is None:
            tmpdir = tempfile.mkdtemp(prefix="agentspec-retail-")
            path = Path(tmpdir) / "retail.sqlite"
        else:
            path = Path(path)
            _refuse_existing(path)
        conn = _connect(path, durable=tmpdir is None)
        for section in SECTIONS:
            conn.execute(f"CREATE TABLE {section} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        conn.execute(_APPLIED_TABLE)
        conn.execute(_SETTINGS_TABLE)
        return cls(conn, path, tmpdir)

    def backup_to(self, path: str | os.PathLike[str] | None = None) -> Database:
        """An independent database with the same content (SQLite online backup, consistent snapshot);
        a named ``path`` appears complete or not at all, like ``create``'s."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("cannot copy a store in the middle of a write")
            if path is None:
                return self._backup_into(Database._new_file(None))
            path = Path(path)
            _refuse_existing(path)
            partial = _partial_name(path)
            _remove_database_files(partial)
            self._backup_into(Database._new_file(partial)).close_as_complete()
            os.replace(partial, path)
            return Database.open(path)

    def _backup_into(self, copy: Database) -> Database:
        # The backup replaces the whole target database, the empty tables just created included.
        self._conn.backup(copy._conn)
        return copy

    def close_as_complete(self) -> None:
        """Close a freshly filled file so that it alone holds everything (no WAL beside it), synced."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.execute("PRAGMA journal_mode=DELETE")
            self._conn.execute("PRAGMA synchronous=FULL")
        self.close()
        with open(self.path, "rb") as f:
            os.fsync(f.fileno())

    def close(self) -> None:
        """Close the connection and delete the private temp file, if any. Idempotent."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    # -- reads -------------------------------------------------------------------------------------

    def get(self, section: str, key: str) -> dict[str, Any] | None:
        """The document ``key`` of ``section``, freshly parsed (mutating it changes nothing), or None."""
        with self._lock:
            row = self._conn.execute(f"SELECT doc FROM {_table(section)} WHERE id = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def items(self, section: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """All ``(id, document)`` pairs of ``section`` in insertion order."""
        with self._lock:
            rows = self._conn.execute(f"SELECT id, doc FROM {_table(section)} ORDER BY rowid").fetchall()
        for key, doc in rows:
            yield key, json.loads(doc)

    def field(self, section: str, name: str) -> dict[str, Any]:
        """Each document's top-level ``name`` (None where it has none), by id in insertion order, without
        parsing the documents."""
        with self._lock:
            rows = self._conn.execute(f"SELECT id, json_extract(doc, ?) FROM {_table(section)} ORDER BY rowid",
                                      (f"$.{name}",)).fetchall()
        return dict(rows)

    def count(self, section: str) -> int:
        """How many documents ``section`` holds."""
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {_table(section)}").fetchone()[0])

    def dump(self) -> dict[str, dict[str, Any]]:
        """The whole state as the db.json structure."""
        return {section: dict(self.items(section)) for section in SECTIONS}

    def state_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the whole state."""
        return hashlib.sha256(canonical_json(self.dump()).encode("utf-8")).hexdigest()

    # -- writes ------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic write: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises anything.
        Inside another transaction: a savepoint, rolled back alone if the block raises."""
        with self._lock:
            if self._in_tx:
                with self._savepoint():
                    yield self
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._in_tx = False

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT inner_write")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO inner_write")
            raise
        finally:
            self._conn.execute("RELEASE inner_write")

    def setting(self, key: str) -> str | None:
        """The value of the store's setting ``key`` (written at creation), or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def applied_observation(self, key: str) -> str | None:
        """The observation recorded for the write run under ``key``; None if none ran."""
        with self._lock:
            row = self._conn.execute("SELECT observation FROM applied WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def record_applied(self, key: str, observation: str) -> None:
        """Record that the write of ``key`` ran and answered ``observation``; only inside ``transaction()``."""
        if not self._in_tx:
            raise RuntimeError("Database.record_applied outside a transaction")
        self._conn.execute("INSERT INTO applied (key, observation) VALUES (?, ?)", (key, observation))

    def put(self, section: str, key: str, doc: dict[str, Any]) -> None:
        """Replace the existing document ``key`` of ``section``; only inside ``transaction()``."""
        if not self._in_tx:
            raise RuntimeError("Database.put outside a transaction")
        cur = self._conn.execute(
            f"UPDATE {_table(section)} SET doc = ? WHERE id = ?", (json.dumps(doc, ensure_ascii=False), key)
        )
        if cur.rowcount != 1:
            raise KeyError(f"{section}/{key} does not exist")


_APPLIED_TABLE = "CREATE TABLE IF NOT EXISTS applied (key TEXT PRIMARY KEY, observation TEXT NOT NULL)"
_SETTINGS_TABLE = "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def _refuse_existing(path: Path) -> None:
    if path.exists():
        # Refuse rather than silently mixing a new state into an old file.
        raise FileExistsError(f"{path} already exists; remove it or pass another db_path")


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _remove_database_files(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


def _table(section: str) -> str:
    # Table names cannot be bound parameters; allow only the three known ones into the SQL text.
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}; expected one of {SECTIONS}")
    return section
