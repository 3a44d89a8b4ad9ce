"""Where ``agentspec serve`` keeps its conversations: SQLite on one host, PostgreSQL for several replicas.

Contract:
- ``open_backing(database, home) -> Backing``. ``database`` None or ``"sqlite"``: the server's records
  live in a LangGraph ``SqliteStore`` in ``home/server/server.sqlite`` and each conversation keeps its
  checkpoints in its own session folder (``AgentSession``'s default): ``checkpointer`` is None.
  ``postgresql://...`` or ``postgres://...``: one psycopg connection pool serves a ``PostgresSaver``
  (``checkpointer``, shared by all conversations, thread id = conversation id) and a ``PostgresStore``;
  every replica pointed at the same database sees the same conversations and records.
- The store's tables exist when ``open_backing`` returns. Replicas starting together are fine: the
  PostgreSQL set-up runs under an advisory lock (LangGraph's ``setup()`` is not safe to run concurrently:
  two of them collide on ``CREATE TABLE IF NOT EXISTS`` and on the migration rows).
- ``store`` and ``checkpointer`` may be used from many threads at once (both LangGraph classes
  serialise their own operations with a lock, one statement batch at a time per process).
- ``turn_lock(conversation, timeout_s)`` is held around a turn. PostgreSQL: a session-level advisory
  lock on a connection of its own, so a turn of one conversation runs on one replica at a time; not
  acquired within ``timeout_s`` -> ``AgentSpecError`` code ``conversation_busy``. If that connection
  is lost mid-turn the lock goes with it (PostgreSQL releases it); the turn is not interrupted.
  SQLite: no-op (the session's file lock already serialises the turns of one host). Its connection
  failing is ``database_unreachable``.
- Errors (``AgentSpecError``): ``database_unreachable`` (names the URL, password masked; fails within
  ``CONNECT_TIMEOUT_S``), ``missing_extra`` (psycopg or langgraph-checkpoint-postgres not installed),
  ``bad_database_url`` (another scheme or a malformed URL), ``bad_database`` (an unreadable SQLite file).

Not done here: schema changes of our own (LangGraph owns the tables), expiry of old conversations.
psycopg and the PostgreSQL modules are imported only when a PostgreSQL URL is given.
"""
from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentspec.errors import AgentSpecError

__all__ = ["Backing", "open_backing", "CONNECT_TIMEOUT_S"]

CONNECT_TIMEOUT_S = 5  # a database that does not answer within this fails the server's start
_SETUP_TIMEOUT_S = 120.0  # how long a replica waits for another one's set-up
_POOL_MAX = 8  # LangGraph's saver and store each run one operation at a time per process
_POLL_S = (0.02, 0.25)  # first and longest pause between two tries of an advisory lock
_URL_HINT = "Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or leave --database out for SQLite."


class Backing:
    """The conversations' checkpointer, the server's store and the per-conversation turn lock."""

    def __init__(self, kind: Literal["sqlite", "postgres"], *, store: Any, checkpointer: Any = None,
                 where: str, url: str | None = None, closers: tuple[Any, ...] = ()):
        self.kind = kind
        self.store = store
        self.checkpointer = checkpointer
        self.where = where  # for logs and errors: the SQLite path or the URL with its password masked
        self._url = url
        self._closers = list(closers)

    @contextmanager
    def turn_lock(self, conversation_id: str, timeout_s: float = 0) -> Iterator[None]:
        """Hold the conversation's turn across replicas (see the module docstring)."""
        if self.kind == "sqlite":
            yield
            return
        conn = _connect(self._url, self.where)
        try:
            if not _try_lock(conn, _lock_key(f"agentspec:turn:{conversation_id}"), timeout_s):
                raise AgentSpecError(f"conversation {conversation_id!r} is busy: another turn of it is running "
                                     f"(on this replica or another)",
                                     hint="Wait for that turn to finish and send again.", code="conversation_busy")
            yield
        finally:
            conn.close()  # closing the session releases its advisory locks

    def close(self) -> None:
        """Close the pool or the SQLite connection; idempotent."""
        while self._closers:
            self._closers.pop().close()

    def __enter__(self) -> Backing:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Backing({self.kind}, {self.where})"


def open_backing(database: str | None, home: Path) -> Backing:
    """The backing named by ``--database`` (None: SQLite under ``home``), its tables set up."""
    if database is None or database == "sqlite":
        return _open_sqlite(Path(home) / "server" / "server.sqlite")
    scheme = database.split(":", 1)[0].lower() if ":" in database else ""
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(database)
    raise AgentSpecError(f"unsupported database {_masked(database)!r}", hint=_URL_HINT, code="bad_database_url")


def _open_sqlite(path: Path) -> Backing:
    from langgraph.store.sqlite import SqliteStore

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None), as SqliteStore.from_conn_string does: the store issues its
        # own BEGIN/COMMIT, and with Python's implicit transactions its set-up leaves one open, so the
        # first put fails with "cannot start a transaction within a transaction".
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise AgentSpecError(f"cannot open the server's database {path}: {exc}",
                             hint="Check that AGENTSPEC_HOME is a writable folder.",
                             code="database_unreachable") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # readers (the CLI's `keys list`) do not block the server
        store = SqliteStore(conn)  # its own threading.Lock serialises every batch on this one connection
        store.setup()
    except sqlite3.Error as exc:
        conn.close()
        raise AgentSpecError(f"the server's database {path} cannot be read: {exc}",
                             hint="Move the file away (the server starts a new one) or restore it from a backup.",
                             code="bad_database") from None
    return Backing("sqlite", store=store, where=str(path), closers=(conn,))


def _open_postgres(url: str) -> Backing:
    where = _masked(url)
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.store.postgres import PostgresStore
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout
    except ImportError as exc:
        raise AgentSpecError(f"a PostgreSQL database needs the package {exc.name!r}, which is not installed",
                             hint="pip install 'agentspec[postgres]'", code="missing_extra") from None
    # 1. One connection first: a wrong host, password or database is reported as PostgreSQL words it.
    conn = _connect(url, where)
    try:
        # 2. The pool LangGraph's docs ask for: autocommit (set-up runs CREATE INDEX CONCURRENTLY),
        #    no server-side prepared statements (poolers), rows as dicts.
        pool = ConnectionPool(url, min_size=1, max_size=_POOL_MAX, open=False, name="agentspec",
                              check=ConnectionPool.check_connection,
                              kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                                      "connect_timeout": CONNECT_TIMEOUT_S})
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            saver, store = PostgresSaver(pool), PostgresStore(pool)
            # 3. Set-up under an advisory lock, polled: a replica BLOCKED in pg_advisory_lock is an open
            #    transaction that the holder's CREATE INDEX CONCURRENTLY waits for, while the holder
            #    waits for its index: a deadlock PostgreSQL does not detect (the cycle runs through us).
            key = _lock_key("agentspec:setup")
            if not _try_lock(conn, key, _SETUP_TIMEOUT_S):
                raise AgentSpecError(f"another replica has held the set-up lock of {where} for over "
                                     f"{_SETUP_TIMEOUT_S:.0f} s", hint="Check that replica's log, then start again.",
                                     code="database_unreachable")
            saver.setup()
            store.setup()
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except PoolTimeout:
            pool.close()
            raise _unreachable(where, f"no pool connection within {CONNECT_TIMEOUT_S} s") from None
        except BaseException:
            pool.close()
            raise
    finally:
        conn.close()
    return Backing("postgres", store=store, checkpointer=saver, where=where, url=url, closers=(pool,))


def _connect(url: str | None, where: str) -> Any:
    """A new autocommit psycopg connection; ``database_unreachable`` within ``CONNECT_TIMEOUT_S``."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
        raise AgentSpecError(f"bad database URL {where!r}: {_scrubbed(str(exc), url)}", hint=_URL_HINT,
                             code="bad_database_url") from None
    except psycopg.OperationalError as exc:
        raise _unreachable(where, _scrubbed(str(exc), url)) from None


def _unreachable(where: str, why: str) -> AgentSpecError:
    return AgentSpecError(f"cannot connect to the database {where}: {why}",
                          hint="Check that PostgreSQL runs and accepts connections at that host and port, and the "
                               "user, password and database name in --database; or leave --database out for SQLite.",
                          code="database_unreachable")


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (stable across processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _try_lock(conn: Any, key: int, timeout_s: float) -> bool:
    """``pg_try_advisory_lock`` polled until ``timeout_s`` (0: one try); never a blocking wait (see set-up)."""
    deadline = time.monotonic() + max(timeout_s, 0)
    pause = _POLL_S[0]
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, _POLL_S[1])


def _scrubbed(message: str, url: str | None) -> str:
    """A libpq message without the URL's password (libpq quotes the whole URL in some messages)."""
    message = message.strip()
    if url:
        message = message.replace(url, _masked(url))
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            message = message.replace(password, "***")
    return message


def _masked(url: str) -> str:
    """``url`` with its password (in the netloc or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="*")
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:  # unparsable: show only the scheme, never what might be a password
        return url.split(":", 1)[0] + "://***"
