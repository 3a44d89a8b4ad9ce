"""The ``agentspec`` command group. Each command's docstring is its --help text.

User errors (``AgentSpecError``) are printed as "Error: ..." with their hint and exit with status 2;
anything else is a bug and shows its traceback.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from agentspec import __version__
from agentspec.errors import AgentSpecError
from agentspec.settings import RuntimeSettings, settings_options

__all__ = ["main", "cli"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentSpecError as exc:
            console = Console(stderr=True)
            console.print(f"[bold red]Error:[/] {exc.message}", markup=True, highlight=False)
            if exc.hint:
                console.print(f"[yellow]Hint:[/] {exc.hint}", highlight=False)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="agentspec")
def cli() -> None:
    """agentspec: specialized, tool-using LLM agents that run locally."""


@cli.command()
@settings_options
def chat(**options: Any) -> None:
    """Chat with a model in the terminal (default: the bundled SmolLM2-135M).

    Type /help inside for commands. Ctrl-C stops a reply, Ctrl-D quits.
    """
    from agentspec.repl import ChatRepl

    settings = RuntimeSettings(**options)
    model = settings.load()

    def load_other(name: str) -> Any:
        return settings.model_copy(update={"model": name}).load()

    ChatRepl(model, settings.generation(), system=settings.system, load_model=load_other).run()


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (reply, usage, timings) as the last line.")
@settings_options
def ask(text: str, as_json: bool, **options: Any) -> None:
    """Ask one question and print the reply (for scripts)."""
    settings = RuntimeSettings(**options)
    model = settings.load()
    messages = ([{"role": "system", "content": settings.system}] if settings.system else []) + [
        {"role": "user", "content": text}
    ]
    stream = model.stream(messages, settings.generation())
    if as_json:
        completion = stream.read()
        payload = {"model": model.name, "backend": model.backend, **completion.to_dict()}
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    for delta in stream:
        click.echo(delta, nl=False)
    click.echo()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(as_json: bool) -> None:
    """List local models: bundled ones and GGUF files in the model cache, with their GGUF metadata."""
    from agentspec.runtime.models import BUNDLED, cache_dir, inspect_gguf

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in BUNDLED.values():
        try:
            path = entry.locate()
        except AgentSpecError as exc:
            rows.append({"name": entry.name, "path": None, "installed": False, "note": exc.hint})
            continue
        info = inspect_gguf(path, entry.name).to_dict()
        rows.append({**info, "installed": True, "description": entry.description})
        seen.add(str(path))
    for path in sorted(cache_dir().glob("*.gguf")):
        if str(path) not in seen:
            rows.append({**inspect_gguf(path).to_dict(), "installed": True})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "architecture", "quant", "size MB", "context", "params", "path")
    for r in rows:
        if r["installed"]:
            table.add_row(r["name"], r["architecture"], r["quantization"], f"{r['size_mb']:.1f}",
                          str(r["context_length"]), r["parameters"], r["path"])
        else:
            table.add_row(r["name"], "-", "-", "-", "-", "-", f"not installed: {r['note']}")
    Console().print(table)


def main() -> None:
    cli(prog_name="agentspec")


if __name__ == "__main__":
    main()
