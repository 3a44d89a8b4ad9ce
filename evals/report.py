"""Reports of a tau run directory, and the comparison of two runs.

``write_report(run_dir)`` reads ``run.json`` and ``episodes.jsonl`` (see ``harness``) and writes:

- ``report.json``: ``n_tasks``, ``trials``, ``n_episodes``, ``pass_hat_k`` / ``pass_at_k`` (str(k) ->
  value) with bootstrap ``ci`` (``passk.summarize``), ``categories`` (per category: tasks, episodes,
  success rate, pass^k), and ``metrics``: valid-step share, hallucinated ids and policy violations
  (per episode, and the share of episodes with any), steps, tokens, seconds per episode and per agent
  turn, db-match and communicate rates, terminations, per-tool call counts and error rates
  (observations starting with "Error:");
- ``report.md``: the same as tables;
- ``passk.png`` (pass^k and pass@k against k, with the bootstrap intervals as error bars) and
  ``categories.png`` (success rate per category), drawn with matplotlib's Agg backend. Without
  matplotlib the PNGs are skipped and ``report.json`` says so in ``figures_skipped``.

``compare_runs(dir_a, dir_b)`` puts two runs side by side: pass^k / pass@k with the paired bootstrap
difference (b - a), its interval and p-value (``passk.compare_runs``), category success rates and the
metrics; ``comparison_markdown`` and ``print_comparison`` (rich) render it.

An incomplete run (a task with fewer trials than the run asked for) is a ``ReportError``: resume the
run first. Not here: running episodes.
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean as mean  # always a float, also for bools
from typing import Any

from agentspec.errors import AgentSpecError

from . import passk
from .harness import EPISODES_FILE, RUN_FILE, read_episodes

__all__ = ["ReportError", "load_run", "build_report", "write_report", "report_markdown", "compare_runs",
           "comparison_markdown", "print_comparison"]


class ReportError(AgentSpecError):
    """A run directory that cannot be reported: missing files or unfinished episodes."""

    code = "report"


def load_run(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(run.json, episodes in task order then trial order); every task must have all its trials."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise ReportError(f"{run_dir} is not a run directory (no {RUN_FILE})",
                          hint="pass the --out directory of `agentspec eval tau`")
    run = _read_run(run_dir / RUN_FILE)
    order = {tid: i for i, tid in enumerate(run["task_ids"])}
    episodes: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        records = read_episodes(run_dir / EPISODES_FILE)
    except UnicodeDecodeError as exc:
        raise ReportError(f"{run_dir / EPISODES_FILE} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          hint="restore the file, or delete the damaged line and resume the run") from None
    for ep in records:
        problem = _episode_problem(ep)
        if problem:
            raise ReportError(f"{run_dir / EPISODES_FILE}: episode {ep.get('task_id')!r} trial {ep.get('trial')!r}: "
                              f"{problem}", hint="delete that line and resume the run to record the episode again")
        if ep["task_id"] in order and ep["trial"] < run["trials"]:
            episodes.setdefault((ep["task_id"], ep["trial"]), ep)
    missing = len(order) * run["trials"] - len(episodes)
    if missing:
        raise ReportError(f"{run_dir}: {missing} of {len(order) * run['trials']} episodes are not finished",
                          hint="rerun the same `agentspec eval tau` command with this --out to resume")
    return run, sorted(episodes.values(), key=lambda e: (order[e["task_id"]], e["trial"]))


def _read_run(path: Path) -> dict[str, Any]:
    """``run.json``: an object with ``task_ids`` (a list of strings) and ``trials`` (a positive integer)."""
    hint = "restore run.json, or rerun the suite into a new --out directory"
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} cannot be read as JSON: {exc}", hint=hint) from None
    if not isinstance(run, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(run).__name__}", hint=hint)
    ids = run.get("task_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ReportError(f"{path}: 'task_ids' must be a list of task id strings", hint=hint)
    if not _is_int(run.get("trials")) or run["trials"] < 1:
        raise ReportError(f"{path}: 'trials' must be a positive integer, got {run.get('trials')!r}", hint=hint)
    return run


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The fields of an episode record (``harness._record``) the report reads, and what each must be.
_EPISODE_FIELDS: dict[str, tuple[str, Any]] = {
    "task_id": ("a string", lambda v: isinstance(v, str)),
    "trial": ("an integer", _is_int),
    "category": ("a string", lambda v: isinstance(v, str)),
    "termination": ("a string", lambda v: isinstance(v, str)),
    "reward": ("a number", _is_number),
    **{name: ("a number", _is_number) for name in ("steps", "valid_steps", "invalid_steps", "agent_turns",
                                                  "prompt_tokens", "completion_tokens", "seconds")},
    "agent_seconds_per_turn": ("a number or null", lambda v: v is None or _is_number(v)),
    "turn_seconds": ("a list of numbers or null",
                     lambda v: v is None or isinstance(v, list) and all(_is_number(x) for x in v)),
    "hallucinated_ids": ("a list", lambda v: isinstance(v, list)),
    "policy_violations": ("a list", lambda v: isinstance(v, list)),
    "db_match": ("a boolean", lambda v: isinstance(v, bool)),
    "communicate_ok": ("a boolean", lambda v: isinstance(v, bool)),
    "tool_calls": ("an object of {\"calls\": int, \"errors\": int} per tool",
                   lambda v: isinstance(v, dict) and all(isinstance(c, dict) and _is_int(c.get("calls"))
                                                         and _is_int(c.get("errors")) for c in v.values())),
}
_OPTIONAL_FIELDS = {"turn_seconds"}


def _episode_problem(ep: dict[str, Any]) -> str | None:
    """What is wrong with an episode record for the report (a missing or mistyped field), or None."""
    for name, (kind, ok) in _EPISODE_FIELDS.items():
        if name not in ep:
            if name in _OPTIONAL_FIELDS:
                continue
            return f"no {name!r} field"
        if not ok(ep[name]):
            return f"{name!r} must be {kind}, got {ep[name]!r:.60}"
    return None


def _rewards(episodes: list[dict[str, Any]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for ep in episodes:
        out[ep["task_id"]].append(ep["reward"])
    return dict(out)


def _avg(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return mean(kept) if kept else None


def _metrics(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    tools: dict[str, dict[str, Any]] = defaultdict(lambda: {"calls": 0, "errors": 0})
    for ep in episodes:
        for name, counts in ep["tool_calls"].items():
            tools[name]["calls"] += counts["calls"]
            tools[name]["errors"] += counts["errors"]
    for counts in tools.values():
        counts["error_rate"] = counts["errors"] / counts["calls"] if counts["calls"] else 0.0
    steps = sum(ep["steps"] for ep in episodes)
    return {
        "valid_step_share": sum(ep["valid_steps"] for ep in episodes) / steps if steps else None,
        "invalid_steps_per_episode": mean(ep["invalid_steps"] for ep in episodes),
        "hallucinated_ids_per_episode": mean(len(ep["hallucinated_ids"]) for ep in episodes),
        "episodes_with_hallucinated_ids": mean(bool(ep["hallucinated_ids"]) for ep in episodes),
        "policy_violations_per_episode": mean(len(ep["policy_violations"]) for ep in episodes),
        "episodes_with_policy_violations": mean(bool(ep["policy_violations"]) for ep in episodes),
        "steps_per_episode": mean(ep["steps"] for ep in episodes),
        "agent_turns_per_episode": mean(ep["agent_turns"] for ep in episodes),
        "prompt_tokens_per_episode": mean(ep["prompt_tokens"] for ep in episodes),
        "completion_tokens_per_episode": mean(ep["completion_tokens"] for ep in episodes),
        "seconds_per_episode": mean(ep["seconds"] for ep in episodes),
        "agent_seconds_per_turn": _avg([ep["agent_seconds_per_turn"] for ep in episodes]),
        **_turn_latency([s for ep in episodes for s in ep.get("turn_seconds") or []]),
        "db_match_rate": mean(bool(ep["db_match"]) for ep in episodes),
        "communicate_rate": mean(bool(ep["communicate_ok"]) for ep in episodes),
        "terminations": dict(sorted(Counter(ep["termination"] for ep in episodes).items())),
        "tool_error_rates": dict(sorted(tools.items())),
    }


def _turn_latency(seconds: list[float]) -> dict[str, Any]:
    """p50 and p95 of the agent's turns (user message -> reply, tool calls included), over every turn."""
    if not seconds:
        return {"turn_seconds_p50": None, "turn_seconds_p95": None, "turns_timed": 0}
    ordered = sorted(seconds)

    def quantile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"turn_seconds_p50": quantile(0.5), "turn_seconds_p95": quantile(0.95), "turns_timed": len(ordered)}


def build_report(run_dir: str | os.PathLike[str], *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The content of report.json (see the module docstring)."""
    run, episodes = load_run(run_dir)
    summary = passk.summarize(_rewards(episodes), n_boot=n_boot, seed=seed)
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ep in episodes:
        by_category[ep["category"]].append(ep)
    categories = {}
    for cat, eps in sorted(by_category.items()):
        cat_rewards = _rewards(eps)
        categories[cat] = {
            "n_tasks": len(cat_rewards), "episodes": len(eps),
            "success_rate": mean(ep["reward"] == 1.0 for ep in eps),
            "pass_hat_k": {str(k): passk.pass_hat_k(passk.trial_counts(cat_rewards)[1], run["trials"], k)
                           for k in range(1, run["trials"] + 1)},
        }
    failing = sorted({f"{ep['task_id']} {f['action_id']}" for ep in episodes for f in ep.get("gold_failures", ())})
    return {"run_dir": str(run_dir), "agent": run.get("agent"), "user": run.get("user"),
            "behaviour": run.get("behaviour", "corrected"), "failing_reference_calls": failing,
            "n_tasks": summary["n_tasks"], "trials": summary["trials"], "n_episodes": len(episodes),
            "pass_hat_k": summary["pass_hat_k"], "pass_at_k": summary["pass_at_k"], "ci": summary["ci"],
            "alpha": summary["alpha"], "categories": categories, "metrics": _metrics(episodes)}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# tau run report: {report['run_dir']}", "",
             f"{report['n_tasks']} tasks x {report['trials']} trials; agent `{report['agent']}`, "
             f"user `{report['user']}`; store behaviour `{report.get('behaviour', 'corrected')}`; "
             f"{len(report.get('failing_reference_calls', ()))} reference calls fail by design (scored as "
             "observations that change nothing).", "",
             f"| k | pass^k | {1 - report['alpha']:.0%} CI | pass@k | {1 - report['alpha']:.0%} CI |",
             "|---|---|---|---|---|"]
    for k, value in report["pass_hat_k"].items():
        ci = report["ci"][k]
        lines.append(f"| {k} | {value:.3f} | {ci['pass_hat_k'][0]:.3f}-{ci['pass_hat_k'][1]:.3f} | "
                     f"{report['pass_at_k'][k]:.3f} | {ci['pass_at_k'][0]:.3f}-{ci['pass_at_k'][1]:.3f} |")
    lines += ["", "## Categories", "", "| category | tasks | success rate | pass^k (k=n) |", "|---|---|---|---|"]
    for cat, row in report["categories"].items():
        lines.append(f"| {cat} | {row['n_tasks']} | {row['success_rate']:.3f} | "
                     f"{row['pass_hat_k'][str(report['trials'])]:.3f} |")
    metrics = report["metrics"]
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_fmt(v)} |" for name, v in metrics.items()
              if name not in ("terminations", "tool_error_rates")]
    lines.append(f"| terminations | {', '.join(f'{k}: {v}' for k, v in metrics['terminations'].items())} |")
    lines += ["", "## Tools", "", "| tool | calls | errors | error rate |", "|---|---|---|---|"]
    lines += [f"| {name} | {c['calls']} | {c['errors']} | {c['error_rate']:.3f} |"
              for name, c in metrics["tool_error_rates"].items()]
    return "\n".join(lines) + "\n"


def _figures(report: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    ks = [int(k) for k in report["pass_hat_k"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label, style in (("pass_hat_k", "pass^k", "-o"), ("pass_at_k", "pass@k", "--s")):
        values = [report[key][str(k)] for k in ks]
        low = [v - report["ci"][str(k)][key][0] for k, v in zip(ks, values)]
        high = [report["ci"][str(k)][key][1] - v for k, v in zip(ks, values)]
        ax.errorbar(ks, values, yerr=[low, high], fmt=style, capsize=4, label=label)
    ax.set(xlabel="k (trials)", ylabel="success", ylim=(-0.02, 1.02), xticks=ks,
           title=f"{report['n_tasks']} tasks, {1 - report['alpha']:.0%} bootstrap CI")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "passk.png", dpi=120)
    plt.close(fig)

    cats = list(report["categories"])
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(cats)), 3.5))
    ax.bar(cats, [report["categories"][c]["success_rate"] for c in cats])
    ax.set(ylabel="success rate", ylim=(0, 1.05), title="success by category")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "categories.png", dpi=120)
    plt.close(fig)
    return ["passk.png", "categories.png"]


def write_report(run_dir: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """Write report.json, report.md and the PNGs into ``run_dir``; return the report."""
    out = Path(run_dir)
    report = build_report(out, **options)
    try:
        report["figures"] = _figures(report, out)
    except ImportError as exc:
        report["figures"] = []
        report["figures_skipped"] = f"matplotlib is not installed ({exc}); pip install matplotlib"
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    return report


# ---- comparison -----------------------------------------------------------------------------------

def compare_runs(dir_a: str | os.PathLike[str], dir_b: str | os.PathLike[str], *, n_boot: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """Run b against run a: values side by side, b - a, paired bootstrap CI and p-value."""
    _, eps_a = load_run(dir_a)
    _, eps_b = load_run(dir_b)
    rep_a, rep_b = build_report(dir_a, n_boot=n_boot, seed=seed), build_report(dir_b, n_boot=n_boot, seed=seed)
    cats = sorted(set(rep_a["categories"]) | set(rep_b["categories"]))
    categories = {}
    for cat in cats:
        a = rep_a["categories"].get(cat, {}).get("success_rate")
        b = rep_b["categories"].get(cat, {}).get("success_rate")
        categories[cat] = {"a": a, "b": b, "diff": None if a is None or b is None else b - a}
    metrics = {}
    for name, a in rep_a["metrics"].items():
        b = rep_b["metrics"].get(name)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            metrics[name] = {"a": a, "b": b, "diff": b - a}
    return {"a": str(dir_a), "b": str(dir_b),
            "passk": passk.compare_runs(_rewards(eps_a), _rewards(eps_b), n_boot=n_boot, seed=seed),
            "categories": categories, "metrics": metrics}


def _rows(table: dict[str, Any]) -> list[list[str]]:
    """[metric, a, b, b - a, CI, p] rows shared by the markdown and rich renderings."""
    rows = []
    cmp = table["passk"]
    for key, label in (("pass_hat_k", "pass^{k}"), ("pass_at_k", "pass@{k}")):
        for k, row in cmp[key].items():
            rows.append([label.format(k=k), _fmt(row["a"]), _fmt(row["b"]), f"{row['diff']:+.3f}",
                         f"{row['ci'][0]:+.3f}..{row['ci'][1]:+.3f}", f"{row['p_value']:.3f}"])
    for cat, row in table["categories"].items():
        rows.append([f"success: {cat}", _fmt(row["a"]), _fmt(row["b"]),
                     "-" if row["diff"] is None else f"{row['diff']:+.3f}", "", ""])
    for name, row in table["metrics"].items():
        rows.append([name, _fmt(row["a"]), _fmt(row["b"]), f"{row['diff']:+.3f}", "", ""])
    return rows


_HEADER = ["metric", "A", "B", "B - A", "95% CI of B - A", "p"]


def comparison_markdown(table: dict[str, Any]) -> str:
    cmp = table["passk"]
    lines = [f"A: `{table['a']}`  ", f"B: `{table['b']}`  ",
             f"{cmp['n_common']} common tasks; trials A={cmp['trials_a']}, B={cmp['trials_b']}", "",
             "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(table)]
    return "\n".join(lines) + "\n"


def print_comparison(table: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    rich_table = Table(title=f"B = {table['b']}  vs  A = {table['a']}")
    for name in _HEADER:
        rich_table.add_column(name, justify="left" if name == "metric" else "right")
    for row in _rows(table):
        rich_table.add_row(*row)
    console.print(rich_table)
