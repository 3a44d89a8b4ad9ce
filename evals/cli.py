"""``agentspec eval``: generate tau-style retail suites, run them, compare runs.

The group ``eval_group`` is attached to the main CLI by ``agentspec.cli``; each command's docstring is
its help. User errors are ``AgentSpecError`` subclasses (the main CLI prints message and hint).
``tau --json`` prints, as its last line, one JSON object with ``pass_hat_k``, ``pass_at_k`` (str(k) ->
value), ``ci``, ``n_tasks``, ``trials``, ``categories``, ``metrics`` and ``out``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from .agents import AGENT_KINDS, AgentFactory, check_agent
from .generate import generate_suite
from .harness import UserFactory, run_suite
from .report import compare_runs, comparison_markdown, print_comparison, write_report
from .tasks import load_tasks

__all__ = ["eval_group"]


@click.group("eval")
def eval_group() -> None:
    """Evaluate agents on tau-style task suites (pass^k) and compare runs."""


@eval_group.command()
@click.argument("tasks", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The tau2 retail db.json every episode starts from.")
@click.option("--split-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A split_tasks.json (default: the one next to TASKS, when --split is given).")
@click.option("--split", help="Run only the tasks of this split (e.g. test).")
@click.option("--agent", "agent_kind", type=click.Choice(AGENT_KINDS), default="spec", show_default=True,
              help="spec: the agent an agent spec describes; oracle: replays the gold (harness check).")
@click.option("--spec", help="Agent spec (YAML path or name) for --agent spec.")
@click.option("--user", "user_kind", type=click.Choice(["scripted", "llm"]), default="scripted",
              show_default=True, help="The user simulator.")
@click.option("--user-model", help="Model name or GGUF path for --user llm (default: the bundled one).")
@click.option("--user-backend", default="llamacpp", show_default=True, help="Backend of --user-model.")
@click.option("--trials", default=1, show_default=True, type=click.IntRange(min=1), help="Trials per task.")
@click.option("--limit", type=click.IntRange(min=1), help="Run only the first N tasks.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes (each builds its own agent).")
@click.option("--max-turns", default=30, show_default=True, type=click.IntRange(min=1),
              help="Agent turns before an episode counts as failed.")
@click.option("--seed", default=0, show_default=True, help="Base seed of the per-episode seeds.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (resumable: rerun with the same --out to finish). Default: a new temp dir.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object, last.")
def tau(tasks: Path, db: Path, split_file: Path | None, split: str | None, agent_kind: str, spec: str | None,
        user_kind: str, user_model: str | None, user_backend: str, trials: int, limit: int | None,
        workers: int, max_turns: int, seed: int, out: Path | None, progress: bool, as_json: bool) -> None:
    """Run the tasks in TASKS (a tau2 tasks.json) and write a report with pass^k into --out."""
    if split_file is not None and split is None:
        raise click.UsageError("--split-file needs --split NAME (e.g. --split test)")
    suite = load_tasks(tasks, split_file=split_file, split=split)
    if limit:
        suite = suite[:limit]
    options = {"spec": spec} if agent_kind == "spec" else {}
    agent_factory = AgentFactory.of(agent_kind, **options)
    check_agent(agent_kind, **options)  # fail now, not inside a worker
    out = out or Path(tempfile.mkdtemp(prefix="agentspec-tau-"))
    run_suite(suite, db, agent_factory, UserFactory(user_kind, user_model, user_backend), trials, out,
              workers=workers, max_turns=max_turns, progress=progress and not as_json, seed=seed)
    report = write_report(out)
    if as_json:
        keys = ("pass_hat_k", "pass_at_k", "ci", "n_tasks", "trials", "categories", "metrics")
        click.echo(json.dumps({**{k: report[k] for k in keys}, "out": str(out)}))
        return
    click.echo((out / "report.md").read_text(encoding="utf-8"))
    click.echo(f"Report written to {out}")


@eval_group.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path), help="tau2 retail db.json.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--n", "n", required=True, type=click.IntRange(min=1), help="Number of tasks.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives the same suite.")
@click.option("--eval-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of users held out for evaluation (their tasks form the test split).")
def generate(db: Path, out: Path, n: int, seed: int, eval_fraction: float) -> None:
    """Generate a retail task suite: tasks.json, split_tasks.json and user_split.json in --out."""
    tasks = generate_suite(db, out, n, seed=seed, eval_fraction=eval_fraction)
    splits = json.loads((out / "split_tasks.json").read_text(encoding="utf-8"))
    click.echo(f"Wrote {len(tasks)} tasks to {out / 'tasks.json'} "
               f"(train {len(splits['train'])}, test {len(splits['test'])}).")


@eval_group.command()
@click.argument("run_a", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead of a rich one.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_a: Path, run_b: Path, markdown: bool, as_json: bool) -> None:
    """Compare two runs of the same suite: B - A with bootstrap CIs and p-values."""
    table = compare_runs(run_a, run_b)
    if as_json:
        click.echo(json.dumps(table))
    elif markdown:
        click.echo(comparison_markdown(table))
    else:
        print_comparison(table)
