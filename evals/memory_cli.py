"""``agentspec eval memory generate|run``: the multi-session suite of long-term memory (``memory_suite``).

``preferences [--spec S] [--reader DIR] [--set FILE]``: the reader's head that keeps lasting preferences
(``memory.remember_said``) on a blind set of messages (``preferences``), counts only.
``generate --db DB --n N --out FILE`` writes the tasks (dev and test halves, by user and by wording).
``run FILE --db DB [--split test] [--arms memory,none] [--trials 1] --out DIR`` runs every episode,
resumable (rerun the same command), and writes DIR/memory.json, memory.md and memory.png: pass^1 with
bootstrap 95% CIs per arm and per kind, stale uses (0 expected), turn latency. The last line printed is
the JSON summary.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["memory_eval_group"]


@click.group("memory")
def memory_eval_group() -> None:
    """Multi-session suites: session 1 leaves a fact, session 2 needs it (or must not use it: stale)."""


@memory_eval_group.command("generate")
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True), help="tau2 retail db.json.")
@click.option("--n", "n", default=24, show_default=True, type=click.IntRange(min=1), help="Tasks (half dev, half test).")
@click.option("--seed", default=0, show_default=True, help="Seed of the users' split and the drafts.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Task file to write (JSON).")
def generate_command(db: str, n: int, seed: int, out: str) -> None:
    """Write a multi-session memory suite."""
    from .memory_suite import generate_memory_suite, save_memory_suite

    tasks = generate_memory_suite(db, n, seed=seed)
    save_memory_suite(tasks, out)
    kinds = {kind: sum(t.kind == kind for t in tasks) for kind in sorted({t.kind for t in tasks})}
    click.echo(f"Wrote {len(tasks)} tasks to {out}: {kinds}")


@memory_eval_group.command("run")
@click.argument("suite", type=click.Path(dir_okay=False, exists=True))
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True), help="tau2 retail db.json.")
@click.option("--spec", "spec_name", default="retail", show_default=True, help="Agent spec (name or path).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["dev", "test", "all"]))
@click.option("--arms", default="memory,none", show_default=True, help="Comma list: memory (a memory store per "
              "episode, shared by its two sessions) and/or none.")
@click.option("--trials", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--max-turns", default=16, show_default=True, type=click.IntRange(min=1), help="Agent turns per session.")
@click.option("--user", default="varied", show_default=True, type=click.Choice(["scripted", "varied"]))
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Only the first N tasks of the split.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder (resumable).")
def run_command(suite: str, db: str, spec_name: str, split: str, arms: str, trials: int, max_turns: int, user: str,
                limit: int | None, out: str) -> None:
    """Run a memory suite with and without memory; pass^1 per arm and kind, stale uses."""
    from agentspec.spec import load_spec

    from .memory_suite import load_memory_suite, run_memory_suite, summarize_memory_runs

    chosen = tuple(a.strip() for a in arms.split(",") if a.strip())
    bad = [a for a in chosen if a not in ("memory", "none")]
    if bad or not chosen:
        raise click.BadParameter(f"unknown arm(s) {bad or arms!r}: use memory and/or none", param_hint="--arms")
    tasks = load_memory_suite(suite, None if split == "all" else split)[:limit]
    if not tasks:
        raise click.BadParameter(f"no {split} tasks in {suite}", param_hint="--split")
    spec = load_spec(spec_name)
    total = len(chosen) * len(tasks) * trials

    def shown(record: dict[str, Any]) -> None:
        click.echo(f"[{record['arm']}] {record['task_id']} ({record['kind']}) trial {record['trial']}: "
                   f"reward {record['reward']:.0f}, stale uses {record['stale_uses']}, {record['seconds']:.0f} s", err=True)

    click.echo(f"{total} episodes ({', '.join(chosen)} x {len(tasks)} tasks x {trials} trials) into {out}", err=True)
    records = run_memory_suite(tasks, db, spec, arms=chosen, trials=trials, out_dir=out, max_turns=max_turns,
                               varied=user == "varied", on_episode=shown)
    wanted = {t.id for t in tasks}
    summary = {"suite": suite, "split": split, "spec": spec.name, "user": user, "trials": trials,
               "arms": summarize_memory_runs([r for r in records if r["task_id"] in wanted and r["arm"] in chosen])}
    _write_reports(Path(out), summary)
    click.echo(json.dumps(summary))


@memory_eval_group.command("preferences")
@click.option("--spec", "spec_name", default="retail", show_default=True, help="Agent spec (name or path): its "
              "reader and memory.remember_said head.")
@click.option("--reader", "reader_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="Another reader folder (default: the spec's).")
@click.option("--set", "set_path", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Preference set (default: the blind evals/preferences_holdout.yaml).")
def preferences_command(spec_name: str, reader_dir: str | None, set_path: str | None) -> None:
    """How the reader tells lasting preferences from other messages (counts only; the last line is JSON)."""
    from agentspec.routing.reader import load_reader
    from agentspec.spec import load_spec

    from .preferences import HOLDOUT, measure_preferences

    spec = load_spec(spec_name)
    if spec.memory is None or not spec.memory.remember_said or spec.understanding is None:
        raise click.UsageError(f"spec {spec.name!r} keeps nothing from words: set memory.remember_said and "
                               "understanding.reader")
    reader = load_reader(Path(reader_dir) if reader_dir else spec.resolve_path(spec.understanding.reader))
    result = measure_preferences(reader, spec.memory.remember_said, spec.memory.remember_threshold,
                                 Path(set_path) if set_path else HOLDOUT)
    click.echo(json.dumps(result))


def _write_reports(out: Path, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "memory.json").write_text(json.dumps(summary, indent=1))
    lines = [f"# Memory suite ({summary['split']}, spec {summary['spec']}, user {summary['user']})", "",
             "| arm | kind | tasks | pass^1 | 95% CI | stale uses |", "|---|---|---|---|---|---|"]
    labels, values, lows, highs = [], [], [], []
    for arm, result in summary["arms"].items():
        rows = [("all", result["pass_hat_1"]), *result["kinds"].items()]
        for kind, p in rows:
            lines.append(f"| {arm} | {kind} | {p['tasks']} | {p['value']:.3f} | {p['ci'][0]:.3f}-{p['ci'][1]:.3f} | "
                         f"{result['stale_uses'] if kind == 'all' else ''} |")
            labels.append(f"{arm}\n{kind}")
            values.append(p["value"])
            lows.append(p["value"] - p["ci"][0])
            highs.append(p["ci"][1] - p["value"])
    (out / "memory.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 1.1), 4))
    ax.bar(range(len(labels)), values, yerr=[lows, highs], capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass^1 (95% CI)")
    ax.set_title("Multi-session memory suite")
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=120)
    plt.close(fig)
