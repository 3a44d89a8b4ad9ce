"""One report over several runs of the same suite (``agentspec eval table RUN... --out DIR``).

Why: the specialization claim is a table of agents (specialized, its base, a larger general model,
ablations) on one suite; ``compare`` puts two runs side by side, this puts N in one place.

Contract:
- Each run is a finished tau run directory (``harness``); its label is ``--label`` (in order) or
  the spec name it ran (``run.json``'s agent), else the folder name.
- Every run is compared with the first (the baseline): pass^1 difference with its paired bootstrap
  interval and p-value on the common tasks (``passk.compare_runs``). Runs of different suites share
  no task and are an error (``ReportError``).
- Writes ``table.json`` (per run: pass^k with CIs, the main metrics, category success rates, the
  comparison with the baseline), ``table.md`` and ``table.png`` (pass^k per run with CI bars, and
  success per category), atomically. Without matplotlib the PNG is skipped and the JSON says so.

Not here: running episodes (``harness``), one run's report (``report``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from . import passk
from .report import ReportError, _rewards, build_report, load_run

__all__ = ["build_table", "table_markdown", "write_table"]

_METRICS = ("valid_step_share", "hallucinated_ids_per_episode", "policy_violations_per_episode",
            "steps_per_episode", "seconds_per_episode", "turn_seconds_p50", "turn_seconds_p95")


def _label(report: dict[str, Any], run_dir: Path) -> str:
    found = re.search(r"\('spec', '([^']+)'\)", str(report.get("agent") or ""))
    return found.group(1) if found else run_dir.name


def build_table(run_dirs: Sequence[str | os.PathLike[str]], labels: Sequence[str] | None = None, *,
                n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The content of table.json (see the module docstring)."""
    if len(run_dirs) < 2:
        raise ReportError("A table needs at least two runs.", hint="Pass the run folders: eval table A B [C ...].")
    if labels and len(labels) != len(run_dirs):
        raise ReportError(f"{len(labels)} labels for {len(run_dirs)} runs.", hint="Give one --label per run, in order.")
    baseline_rewards = _rewards(load_run(run_dirs[0])[1])
    rows = []
    for i, run_dir in enumerate(map(Path, run_dirs)):
        report = build_report(run_dir, n_boot=n_boot, seed=seed)
        rewards = baseline_rewards if i == 0 else _rewards(load_run(run_dir)[1])
        if not set(rewards) & set(baseline_rewards):
            raise ReportError(f"{run_dir} shares no task with {run_dirs[0]}: not the same suite.",
                              hint="Tabulate runs of one suite (the same tasks.json, split and limit).")
        vs = None
        if i:
            cmp = passk.compare_runs(baseline_rewards, rewards, n_boot=n_boot, seed=seed)["pass_hat_k"]["1"]
            vs = {"diff": cmp["diff"], "ci": cmp["ci"], "p_value": cmp["p_value"]}
        rows.append({
            "label": labels[i] if labels else _label(report, run_dir), "run_dir": str(run_dir),
            "n_tasks": report["n_tasks"], "trials": report["trials"], "pass_hat_k": report["pass_hat_k"],
            "ci": {k: v["pass_hat_k"] for k, v in report["ci"].items()},
            "metrics": {m: report["metrics"].get(m) for m in _METRICS},
            "categories": {c: v["success_rate"] for c, v in report["categories"].items()},
            "vs_baseline": vs,
        })
    return {"baseline": rows[0]["label"], "alpha": report["alpha"], "runs": rows}


def _num(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def table_markdown(table: dict[str, Any]) -> str:
    runs = table["runs"]
    ks = list(runs[0]["pass_hat_k"])
    level = f"{1 - table['alpha']:.0%}"
    head = ["agent", *[f"pass^{k}" for k in ks], f"pass^1 {level} CI", f"pass^1 vs {table['baseline']} ({level} CI, p)",
            "valid steps", "invented ids/ep", "s/episode", "s/turn p50", "s/turn p95"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        vs = r["vs_baseline"]
        versus = "-" if vs is None else f"{vs['diff']:+.3f} ({vs['ci'][0]:+.3f}..{vs['ci'][1]:+.3f}, p {vs['p_value']:.2f})"
        m = r["metrics"]
        lines.append("| " + " | ".join([
            r["label"], *[_num(r["pass_hat_k"].get(k)) for k in ks], f"{r['ci']['1'][0]:.3f}-{r['ci']['1'][1]:.3f}",
            versus, _num(m["valid_step_share"], ".1%"), _num(m["hallucinated_ids_per_episode"], ".2f"),
            _num(m["seconds_per_episode"], ".1f"), _num(m.get("turn_seconds_p50"), ".2f"),
            _num(m.get("turn_seconds_p95"), ".2f")]) + " |")
    cats = sorted({c for r in runs for c in r["categories"]})
    lines += ["", "| category | " + " | ".join(r["label"] for r in runs) + " |", "|" + "---|" * (len(runs) + 1)]
    lines += [f"| {c} | " + " | ".join(_num(r["categories"].get(c)) for r in runs) + " |" for c in cats]
    return "\n".join(lines) + "\n"


def _figure(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = table["runs"]
    ks = list(runs[0]["pass_hat_k"])
    cats = sorted({c for r in runs for c in r["categories"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(6 + 0.9 * len(cats), 4), gridspec_kw={"width_ratios": [1, 2]})
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        have = [k for k in ks if k in r["pass_hat_k"]]  # a run of fewer trials has no pass^k beyond them
        xs = [ks.index(k) + i * width for k in have]
        values = [r["pass_hat_k"][k] for k in have]
        err = [[v - r["ci"][k][0] for k, v in zip(have, values)], [r["ci"][k][1] - v for k, v in zip(have, values)]]
        left.bar(xs, values, width, yerr=err, capsize=3, label=r["label"])
        right.bar([j + i * width for j in range(len(cats))], [r["categories"].get(c, 0.0) for c in cats], width,
                  label=r["label"])
    left.set(xticks=[j + 0.4 - width / 2 for j in range(len(ks))], xticklabels=[f"pass^{k}" for k in ks],
             ylim=(0, 1.05), title=f"pass^k ({1 - table['alpha']:.0%} bootstrap CI)")
    right.set(xticks=[j + 0.4 - width / 2 for j in range(len(cats))], ylim=(0, 1.05), title="success by category")
    right.set_xticklabels(cats, rotation=45, ha="right")
    left.legend(fontsize=8)
    fig.tight_layout()
    partial = path.with_name(path.name + ".partial.png")
    fig.savefig(partial, dpi=120)
    plt.close(fig)
    os.replace(partial, path)


def write_table(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                labels: Sequence[str] | None = None, **options: Any) -> dict[str, Any]:
    """Write table.json, table.md and table.png into ``out``; return the table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = build_table(run_dirs, labels, **options)
    try:
        _figure(table, out / "table.png")
        table["figures"] = ["table.png"]
    except ImportError as exc:
        table["figures"], table["figures_skipped"] = [], f"matplotlib is not installed ({exc}); pip install matplotlib"
    for name, text in (("table.json", json.dumps(table, indent=2) + "\n"), ("table.md", table_markdown(table))):
        partial = out / (name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, out / name)
    return table
