"""``agentspec memory list|search|forget``: manage the long-term memories an agent keeps per customer.

The store is the one the spec's ``memory:`` block names (default ``$AGENTSPEC_HOME/memory``), or
``--path``. ``list --user U`` shows a customer's memories, superseded ones with what replaced them;
``search QUERY --user U`` what a turn of that customer would recall; ``forget --user U`` removes the
customer from index, records and history alike (``--yes`` skips the question). ``--json`` prints one
JSON object instead of a table. No command reads another user's memories than the one named.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from agentspec.errors import AgentSpecError

__all__ = ["memory_group"]

_USER = click.option("--user", "user_id", required=True, help="The customer's user id.")
_SPEC = click.option("--spec", "spec_name", default=None, envvar="AGENTSPEC_SPEC",
                     help="Agent spec whose memory block names the store (default: retail).")
_PATH = click.option("--path", "path", default=None, type=click.Path(file_okay=False),
                     help="The memory folder (instead of the spec's).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _folder(spec_name: str | None, path: str | None) -> Path:
    if path:
        return Path(path)
    from agentspec.graph.knowledge import home_folder
    from agentspec.spec import DEFAULT_SPEC, load_spec

    spec = load_spec(spec_name or DEFAULT_SPEC)
    if spec.memory is None:
        raise AgentSpecError(f"spec {spec.name!r} has no memory block", code="no_memory",
                             hint="Name a spec with `memory:`, or the folder with --path.")
    return home_folder(spec, spec.memory.path, "memory")


def _open(spec_name: str | None, path: str | None) -> Any:
    from agentspec.memory.store import MemoryStore

    folder = _folder(spec_name, path)
    if not (folder / "memories.sqlite").exists():
        raise AgentSpecError(f"no memory store in {folder}", code="no_memory_store",
                             hint="Memories are written by conversations of a spec with `memory:`; check --path or --spec.")
    return MemoryStore.open(folder)


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "memory", "key", "source", "state"):
        table.add_column(column, overflow="fold")
    for m in rows:
        state = "live" if m["superseded_by"] is None else f"superseded ({m['reason']})"
        score = f" {m['score']:.2f}" if m.get("score") is not None else ""
        table.add_row(m["id"][:8], m["text"], m["key"], f"session {m['session']}, turn {m['turn']}, {m['time'][:19]}",
                      state + score)
    return table


@click.group("memory")
def memory_group() -> None:
    """Long-term memories of customers: list, search, forget."""


@memory_group.command("list")
@_USER
@_SPEC
@_PATH
@_JSON
def list_command(user_id: str, spec_name: str | None, path: str | None, as_json: bool) -> None:
    """A customer's memories, oldest first (superseded ones too, with the reason)."""
    store = _open(spec_name, path)
    try:
        rows = [m.as_dict() for m in store.memories(user_id)]
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"user": user_id, "memories": rows}, ensure_ascii=False))
    else:
        Console().print(_table(rows, f"Memories of {user_id} ({len(rows)})"))


@memory_group.command("search")
@click.argument("query")
@_USER
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="How many.")
@_SPEC
@_PATH
@_JSON
def search_command(query: str, user_id: str, k: int, spec_name: str | None, path: str | None, as_json: bool) -> None:
    """What a turn of this customer saying QUERY would recall (live memories, best first)."""
    store = _open(spec_name, path)
    try:
        rows = [m.as_dict() for m in store.recall(user_id, query, k=k)]
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"user": user_id, "query": query, "memories": rows}, ensure_ascii=False))
    else:
        Console().print(_table(rows, f"Recalled for {user_id}: {query!r}"))


@memory_group.command("forget")
@_USER
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_SPEC
@_PATH
@_JSON
def forget_command(user_id: str, yes: bool, spec_name: str | None, path: str | None, as_json: bool) -> None:
    """Remove every memory of a customer: index, records and history."""
    store = _open(spec_name, path)
    try:
        count = len(store.memories(user_id))
        if count and not yes and not click.confirm(f"Forget {count} memories of {user_id}?"):
            raise click.Abort()
        removed = store.forget(user_id)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"user": user_id, "forgotten": removed}))
    else:
        click.echo(f"Forgot {removed} memories of {user_id}.")
