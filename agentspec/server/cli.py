"""``agentspec serve`` and ``agentspec keys``: the customer-service backend and its API keys.

FastAPI and uvicorn are imported only when the server starts (the ``serve`` extra).
"""
from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from agentspec.errors import AgentSpecError

__all__ = ["keys_group", "serve"]

_DATABASE_HELP = "postgresql://... shared by replicas (default: SQLite under $AGENTSPEC_HOME)."


@click.command()
@click.argument("specs", metavar="[SPEC]...", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Model workers per spec, each with its own model and threads.")
@click.option("--threads", default=None, type=click.IntRange(1, 512), help="CPU threads per worker (default: cores / workers).")
@click.option("--queue", "queue", default=16, show_default=True, type=click.IntRange(0, 10_000),
              help="Turns that may wait per spec; more get 429 with Retry-After.")
@click.option("--rate", "rate_per_minute", default=120, show_default=True, type=click.IntRange(0, None),
              help="Requests a minute per API key (0: no limit).")
@click.option("--max-body", "max_body_bytes", default=65_536, show_default=True, type=click.IntRange(256, None),
              help="Largest request body in bytes.")
@click.option("--database", default=None, envvar="AGENTSPEC_DATABASE", help=_DATABASE_HELP)
@click.option("--db", "data", default=None, type=click.Path(dir_okay=False),
              help="Data a new conversation's toolkits start from (retail: db.json).")
@click.option("--approve", is_flag=True, help="Consequential calls wait for an operator's approval.")
def serve(specs: tuple[str, ...], **options: Any) -> None:
    """Serve agent specs over HTTP (default spec: retail) as a customer-service backend.

    OpenAI-compatible /v1/chat/completions (model = spec name), a session API with server-sent events,
    a hand-off queue and approvals for operators, /healthz, /readyz, /metrics, and a web chat page at /.
    Every request needs an API key: `agentspec keys add NAME --role integration` issues one.
    """
    import uvicorn

    from agentspec.server.app import create_app
    from agentspec.server.settings import ServeSettings

    from agentspec.graph.session import agentspec_home
    from agentspec.server.backing import open_backing
    from agentspec.spec import load_spec

    settings = ServeSettings(specs=list(specs) or ["retail"], **options)
    for name in settings.specs:  # a bad spec or database stops here, with its error, before anything listens
        load_spec(name)
    open_backing(settings.database, agentspec_home()).close()
    app = create_app(settings)
    console = Console(stderr=True)
    console.print(f"agentspec serve · specs {', '.join(settings.specs)} · http://{settings.host}:{settings.port}"
                  f" · {settings.workers} worker(s) per spec · the models load in the background (GET /readyz)",
                  highlight=False)
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, and the app's lifespan finishes turns in flight.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                timeout_graceful_shutdown=int(settings.shutdown_timeout_s) or None)


@click.group("keys")
def keys_group() -> None:
    """API keys of `agentspec serve`: integrations (clients) and operators (the people behind the queue)."""


def _keyring(database: str | None) -> Any:
    from agentspec.graph.session import agentspec_home
    from agentspec.server.backing import open_backing
    from agentspec.server.keys import KeyRing

    backing = open_backing(database, agentspec_home())
    return backing, KeyRing(backing.store)


@keys_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["integration", "operator"]), default="integration", show_default=True)
@click.option("--database", default=None, envvar="AGENTSPEC_DATABASE", help=_DATABASE_HELP)
def keys_add(name: str, role: str, database: str | None) -> None:
    """Issue a key; it is printed once (only its hash is kept)."""
    backing, ring = _keyring(database)
    try:
        key = ring.add(name, role)
    finally:
        backing.close()
    click.echo(key)
    Console(stderr=True).print(f"[dim]{role} key {name!r}: keep it now, it is not shown again[/]")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--database", default=None, envvar="AGENTSPEC_DATABASE", help=_DATABASE_HELP)
def keys_list(as_json: bool, database: str | None) -> None:
    """The keys issued: name, role, id, created (never the keys themselves)."""
    backing, ring = _keyring(database)
    try:
        keys = ring.list()
    finally:
        backing.close()
    if as_json:
        click.echo(json.dumps([{"name": k.name, "role": k.role, "id": k.id, "created": k.created} for k in keys]))
        return
    table = Table("name", "role", "id", "created")
    for k in keys:
        table.add_row(k.name, k.role, k.id, time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created)))
    Console().print(table)


@keys_group.command("revoke")
@click.argument("name")
@click.option("--database", default=None, envvar="AGENTSPEC_DATABASE", help=_DATABASE_HELP)
def keys_revoke(name: str, database: str | None) -> None:
    """Revoke the key NAME: it stops working at once, on every replica."""
    backing, ring = _keyring(database)
    try:
        if not ring.revoke(name):
            raise AgentSpecError(f"no key named {name!r}", hint="`agentspec keys list` shows them.", code="unknown_key")
    finally:
        backing.close()
    click.echo(f"revoked {name}")
