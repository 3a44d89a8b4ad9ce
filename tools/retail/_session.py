"""The retail store of one agent session: the toolkit factory's ``open_session`` hook (``agentspec.hooks``).

Contract: ``open_session(config, directory, data)`` returns the session's ``RetailStore``. In a saved
session (``directory`` given) the store is ``directory/retail.sqlite``: created from a db.json on
first use, REOPENED on resume, so the session's writes persist with it. An ephemeral session gets a
private temporary store. With a shared live shop (the config's ``store``, else
``$AGENTSPEC_RETAIL_STORE``: a SQLite file path) every new session, saved or not, acts on that one
store instead: created from the db.json by the first session that needs it (under a file lock, so
two processes starting at once create it once), reopened by every other, so one conversation's
writes are what the next one sees (a customer's memories stay true). A saved session that already
has its own copy keeps it. The db.json a new store starts from: the config's ``db`` (already resolved
against the spec's folder), else ``data`` (``--db``), else ``$AGENTSPEC_RETAIL_DB``, else
``../shared/data/tau2-retail/db.json`` from the current folder; none found is an ``AgentSpecError``
saying where it looked. The data is never copied into the repository.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

from ._dbfile import read_db_json
from .store import RetailStore

__all__ = ["open_session", "resolve_retail_db"]


def resolve_retail_db(configured: str | None, override: str | os.PathLike[str] | None = None) -> Path:
    """The db.json a new retail store starts from (see the module docstring for the order)."""
    candidates: list[tuple[str, Path]] = []
    if configured:
        candidates.append(("toolkits[].config.db", Path(configured).expanduser()))
    if override:
        candidates.append(("--db", Path(override).expanduser()))
    if os.environ.get("AGENTSPEC_RETAIL_DB"):
        candidates.append(("$AGENTSPEC_RETAIL_DB", Path(os.environ["AGENTSPEC_RETAIL_DB"]).expanduser()))
    candidates.append(("default", Path.cwd() / ".." / "shared" / "data" / "tau2-retail" / "db.json"))
    source, path = candidates[0]
    if path.is_file():
        return path.resolve()
    if source != "default":
        raise AgentSpecError(f"retail db not found: {path} (from {source})",
                             hint="Point it at a tau2-bench retail db.json.", code="retail_db")
    raise AgentSpecError(
        f"No retail db.json: none configured and {path.resolve()} does not exist.",
        hint="Pass --db PATH/db.json, set AGENTSPEC_RETAIL_DB, set `db:` in the spec's retail toolkit config, "
        "or run from a folder next to ../shared/data/tau2-retail/.", code="retail_db")


def open_session(config: dict[str, Any], directory: Path | None, data: str | None) -> RetailStore:
    """The retail store of one session (module docstring)."""
    extra = set(config) - {"db", "store"}
    if extra:
        raise AgentSpecError(f"the retail toolkit does not take {', '.join(sorted(extra))}",
                             hint="Its config takes `db` (a db.json path) and `store` (a shared shop's SQLite file).",
                             code="bad_option")
    shared = config.get("store") or os.environ.get("AGENTSPEC_RETAIL_STORE")
    own = directory is not None and (Path(directory) / "retail.sqlite").exists()
    if shared and not own:
        return _shared(Path(shared).expanduser(), config.get("db"), data)
    if own:
        store, source = _reopened(Path(directory) / "retail.sqlite"), _source_path(config.get("db"), data)
    else:
        source = resolve_retail_db(config.get("db"), data)
        store = RetailStore.from_json(read_db_json(source),  # a broken file: a clear error
                                      db_path=Path(directory) / "retail.sqlite" if directory else None)
    store.source_dir = source.parent if source else None
    return store


def _shared(path: Path, configured: str | None, data: str | None) -> RetailStore:
    """The shared live shop at ``path``: created from the db.json once, under a lock, then reopened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            source = resolve_retail_db(configured, data)
            RetailStore.from_json(read_db_json(source), db_path=path).close()
    store = _reopened(path, shared=True)
    store.source_dir = _source_dir(configured, data)
    return store


def _source_dir(configured: str | None, data: str | None) -> Path | None:
    source = _source_path(configured, data)
    return source.parent if source else None


def _source_path(configured: str | None, data: str | None) -> Path | None:
    """The db.json a reopened store started from, when it can still be found (its folder has the documents)."""
    try:
        return resolve_retail_db(configured, data)
    except AgentSpecError:
        return None


def _reopened(path: Path, shared: bool = False) -> RetailStore:
    """The session's (or the shared shop's) store, or a clear error when the file is not one (corrupt, or
    left empty)."""
    fix = (f"The shop's writes live in {path}; restore it from a backup, or remove it to start the shop "
           "again from the db.json." if shared else
           f"The session's writes live in {path}; restore it from a backup, or start a new session "
           "(another --session name) to begin from the db.json again.")
    try:
        store = RetailStore.open(path)
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise AgentSpecError(f"the session store {path} cannot be read: {exc}", hint=fix,
                             code="corrupt_store") from None
    if store.count("users") == 0:
        store.close()
        raise AgentSpecError(f"the session store {path} holds no users (an interrupted first start "
                             "of an older version)", hint=fix, code="corrupt_store")
    return store
