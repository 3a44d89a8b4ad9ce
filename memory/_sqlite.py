"""The SQLite conventions of the memory stores: one file, WAL, ``synchronous=FULL``, explicit transactions.

``connect(path)``: a connection in autocommit mode (``isolation_level=None``: every transaction is one
this module opens), shareable across threads (callers hold their own lock), waiting up to 30 s for
another process's write. ``immediate(db)``: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any
exception: what a kill leaves is the state before or after, never between.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "immediate"]


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
