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
@click.option("--spec", "spec_name", default=None, envvar="AGENTSPEC_SPEC",
              help="Agent spec: a YAML path or a packaged name (default: retail).")
@click.option("--session", "session_name", default=None,
              help="Session name: resumes it if it exists (default: a new chat-<time> session).")
@click.option("--approve", is_flag=True, help="Pause before each consequential tool call for your yes/no.")
@click.option("--db", "db", default=None, type=click.Path(dir_okay=False),
              help="Retail db.json a new session starts from (default: $AGENTSPEC_RETAIL_DB or "
              "../shared/data/tau2-retail/db.json).")
@click.option("--plain", is_flag=True, help="Chat with the bare model: no spec, no tools.")
@settings_options
@click.pass_context
def chat(ctx: click.Context, spec_name: str | None, session_name: str | None, approve: bool, db: str | None,
         plain: bool, **options: Any) -> None:
    """Chat with the agent of a spec (default: the retail customer-service agent).

    Sessions are saved after every turn: `--session NAME` resumes one, /sessions lists them.
    Model flags (--model, --backend, --n-ctx, --threads, --temperature, ...) override the spec's.
    With --plain: chat with the bare model (default: the bundled SmolLM2-135M).
    Type /help inside for commands. Ctrl-C stops a reply, Ctrl-D quits.
    """
    if plain:
        from agentspec.repl import ChatRepl

        settings = RuntimeSettings(**options)
        model = settings.load()

        def load_other(name: str) -> Any:
            return settings.model_copy(update={"model": name}).load()

        ChatRepl(model, settings.generation(), system=settings.system, load_model=load_other).run()
        return
    from agentspec.agent_repl import AgentRepl, new_session_name
    from agentspec.graph.session import AgentSession
    from agentspec.spec import load_model, load_spec

    spec = _with_overrides(load_spec(spec_name), ctx, options)
    model = load_model(spec)

    def open_session(name: str) -> AgentSession:
        return AgentSession(spec, name=name, model=model, approve=approve, data=db)

    session = open_session(session_name or new_session_name())
    try:
        AgentRepl(session, open_session=open_session).run()
    finally:
        session.close()


def _with_overrides(spec: Any, ctx: click.Context, options: dict[str, Any]) -> Any:
    """The spec with the model/generation flags the user actually gave (not their defaults)."""
    given = {k: v for k, v in options.items()
             if ctx.get_parameter_source(k) not in (None, click.core.ParameterSource.DEFAULT)}
    if "system" in given:
        raise AgentSpecError("--system does not apply to an agent spec",
                             hint="Edit the spec's prompts.system template, or use --plain.", code="bad_option")
    model_map = {"backend": "backend", "model": "name", "n_ctx": "n_ctx", "threads": "threads",
                 "base_url": "base_url", "device": "device", "seed": "seed"}
    model = {model_map[k]: v for k, v in given.items() if k in model_map}
    generation = {k: v for k, v in given.items() if k in ("temperature", "top_p", "top_k", "max_tokens", "seed")}
    if "api_key" in given:
        raise AgentSpecError("--api-key is read from $OPENAI_API_KEY for agent specs", code="bad_option")
    if not model and not generation:
        return spec
    updated = spec.model_copy(update={"model": spec.model.model_copy(update=model),
                                      "generation": spec.generation.model_copy(update=generation)})
    updated._base_dir, updated._source = spec.base_dir, spec.source
    return updated


@cli.command()
@click.argument("spec_name", metavar="SPEC", required=False)
def validate(spec_name: str | None) -> None:
    """Check an agent spec (a YAML path or a packaged name) and report every problem with its field path.

    Exits with status 2 when the spec is invalid.
    """
    from agentspec.spec import check_spec, find_spec

    path = find_spec(spec_name)
    spec, problems = check_spec(spec_name)
    console = Console()
    if problems:
        console.print(f"[bold red]{path}: {len(problems)} problem(s)[/]", highlight=False)
        for problem in problems:
            console.print(f"  [red]{problem.path or '(spec)'}[/]: {problem.message}", highlight=False)
        sys.exit(2)
    assert spec is not None
    tools = sorted(set(spec.policy.authentication.required_by) | set(spec.policy.authentication.tools))
    console.print(f"[green]OK[/] {path}: spec {spec.name!r}, model {spec.model.name or 'default'} "
                  f"({spec.model.backend}), toolkits {', '.join(t.name for t in spec.toolkits)}, "
                  f"{len(tools)} tools under policy", highlight=False)


@cli.command()
@click.argument("session_name", metavar="SESSION")
@click.option("--json", "as_json", is_flag=True, help="Print the trace entries as JSON.")
@click.option("--turn", type=int, default=None, help="Only this turn.")
def trace(session_name: str, as_json: bool, turn: int | None) -> None:
    """Show the trace of a saved session: per step, prompt tokens, output, tool calls, observations, latency."""
    from agentspec.graph.session import read_session_trace
    from agentspec.graph.trace import summarize, trace_table

    entries = [e for e in read_session_trace(session_name) if turn is None or e.get("turn") == turn]
    if as_json:
        click.echo(json.dumps(entries, indent=1, ensure_ascii=False))
        return
    console = Console()
    console.print(trace_table(entries, title=f"session {session_name}", width=90))
    totals = summarize(entries)
    console.print(", ".join(f"{k.replace('_', ' ')}: {v:.0f}" if isinstance(v, float) else f"{k.replace('_', ' ')}: {v}"
                            for k, v in totals.items()), highlight=False)


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (reply, usage, timings) as the last line.")
@settings_options
def ask(text: str, as_json: bool, **options: Any) -> None:
    """Ask one question and print the reply (for scripts)."""
    from agentspec.repl import checked_text

    text = checked_text(text)
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


def _attach_subgroups() -> None:
    from agentspec.evals.cli import eval_group

    cli.add_command(eval_group, "eval")
    from agentspec.train.cli import train_group

    cli.add_command(train_group, "train")
    from agentspec.experiments.cli import experiment_group

    cli.add_command(experiment_group, "experiment")
    from agentspec.retrieval_cli import retrieval_group

    cli.add_command(retrieval_group, "retrieval")
    from agentspec.server.cli import keys_group, serve

    cli.add_command(serve, "serve")
    cli.add_command(keys_group, "keys")
    from agentspec.memory_cli import memory_group

    cli.add_command(memory_group, "memory")


_attach_subgroups()


def main() -> None:
    cli(prog_name="agentspec")


if __name__ == "__main__":
    main()
