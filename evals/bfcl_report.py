"""BFCL over several category files at once: which files, their answers, one report per category.

- ``resolve_files(paths, answers)``: each path is a questions file or a folder of them (its top-level
  ``*.json`` files, BFCL's layout). A file's answers are ``answers`` when that is a file (one questions
  file only), ``answers/<name>`` when it is a folder, else ``possible_answer/<name>`` beside the
  questions file when it exists (BFCL's own layout), else none. A category that is scored against
  possible answers and has none is a ``BfclFormatError`` naming the file and the fix.
- ``run_files``: runs each file through ``run_bfcl`` (predictions in ``<dir>/predictions/<stem>.jsonl``,
  resumable) and returns the report: per category ``n``, ``correct``, ``accuracy`` with its Wilson 95%
  interval, ``valid_rate`` and error counts, then ``overall`` (over cases) and ``category_mean``
  (unweighted over categories, as BFCL's summary averages them).
- ``write_report(report, out_dir)``: ``report.json``, ``report.md`` and ``report.png`` (accuracy per
  category with its interval).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentspec.runtime.base import ChatModel, GenerationSettings

from .bfcl import ERROR_TYPES, BfclFormatError, category_of, load_bfcl
from .bfcl_runner import run_bfcl
from .docqa import wilson

__all__ = ["MissingAnswersError", "resolve_files", "run_files", "write_report", "report_markdown"]


def _needs_answers(category: str) -> bool:
    return "relevance" not in category


def resolve_files(paths: Sequence[Path], answers: Path | None) -> list[tuple[Path, Path | None]]:
    """(questions file, answers file or None) for every questions file the paths name, in order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise BfclFormatError(f"{path} holds no *.json questions files", hint="point at BFCL's data folder")
            files += found
        else:
            files.append(path)
    if answers is not None and answers.is_file() and len(files) > 1:
        raise BfclFormatError(f"--answers {answers} is one file but {len(files)} questions files were given",
                              hint="pass the possible_answer folder instead (files matched by name)")
    out = []
    for questions in files:
        if answers is not None and answers.is_file():
            found: Path | None = answers
        else:
            folder = answers if answers is not None else questions.parent / "possible_answer"
            found = folder / questions.name if (folder / questions.name).is_file() else None
        out.append((questions, found))
    return out


class MissingAnswersError(BfclFormatError):
    """A questions file whose categories are scored against possible answers, given none."""


def _load(questions: Path, answers: Path | None) -> tuple[list[Any], list[dict[str, Any]]]:
    skipped: list[dict[str, Any]] = []
    cases = load_bfcl(questions, answers, skipped=skipped)
    if answers is None:
        needing = sorted({c.category for c in cases if _needs_answers(c.category)})
        if needing:
            raise MissingAnswersError(
                f"{questions.name}: the {', '.join(needing)} cases are scored against their possible answers: "
                "pass --answers POSSIBLE_ANSWER.json (or the possible_answer folder)",
                hint="BFCL keeps them in possible_answer/ beside the questions files")
    return cases, skipped


def run_files(files: Sequence[tuple[Path, Path | None]], model: ChatModel, *, out_dir: Path | None, limit: int | None,
              on_case: Callable[[dict[str, Any]], None] | None = None, out_file: Path | None = None,
              **options: Any) -> dict[str, Any]:
    """Run every file (``run_bfcl`` ``options``: mode, max_attempts, settings, steps) and report per category.
    Predictions go to ``out_dir/predictions/`` or, for one file, to ``out_file``."""
    loaded = [(q, *_load(q, a)) for q, a in files]  # every file checked before the first case runs
    rows: list[dict[str, Any]] = []
    runs = []
    for questions, cases, skipped in loaded:
        cases = cases[:limit] if limit else cases
        out = out_file
        if out_dir is not None:
            (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
            out = out_dir / "predictions" / f"{questions.stem}.jsonl"
        report = run_bfcl(cases, model, out=out, on_case=on_case, skipped=skipped, **options)
        runs.append({"file": str(questions), **{k: v for k, v in report.items() if k != "per_case"}})
        rows += report["per_case"]
    merged = _summary(rows)
    return {"n": merged["n"], "accuracy": merged["accuracy"], "valid_rate": merged["valid_rate"],
            "errors": {e: sum(r["errors"][e] for r in runs) for e in ERROR_TYPES},
            "mode": runs[0]["mode"] if runs else None, "constrained": all(r["constrained"] for r in runs),
            "retried": sum(r["retried"] for r in runs),
            "malformed_attempts": dict(sum((Counter(r["malformed_attempts"]) for r in runs), Counter())),
            "malformed_cases": [m for r in runs for m in r["malformed_cases"]],
            **_aggregate(rows), "steps": options.get("steps", "category"), "model": getattr(model, "name", ""),
            "files": [{k: r[k] for k in ("file", "n", "accuracy")} for r in runs]}



def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    correct = sum(r["valid"] for r in rows)
    errors = {e: sum(r["error_type"] == e for r in rows) for e in ERROR_TYPES}
    return {"n": len(rows), "correct": correct, "accuracy": round(correct / len(rows), 4) if rows else None,
            "ci": wilson(correct, len(rows)), "valid_rate": round(sum(r["schema_valid"] for r in rows) / len(rows), 4)
            if rows else None, "errors": {e: c for e, c in errors.items() if c}}


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_category.setdefault(category_of(str(row["id"])), []).append(row)
    categories = {name: _summary(group) for name, group in by_category.items()}
    means = [c["accuracy"] for c in categories.values() if c["accuracy"] is not None]
    return {"categories": categories, "overall": _summary(rows),
            "category_mean": round(sum(means) / len(means), 4) if means else None}


def report_markdown(report: dict[str, Any], title: str = "BFCL report") -> str:
    lines = [f"# {title}", "", f"Model `{report.get('model', '')}`, steps `{report.get('steps')}`.", "",
             "| category | n | accuracy | 95% CI | valid rate | main errors |", "|---|---|---|---|---|---|"]
    for name, c in [*report["categories"].items(), ("overall (cases)", report["overall"])]:
        top = ", ".join(f"{e} {n}" for e, n in sorted(c["errors"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {name} | {c['n']} | {c['accuracy']:.3f} | {c['ci'][0]:.3f}-{c['ci'][1]:.3f} | "
                     f"{c['valid_rate']:.3f} | {top or '-'} |")
    lines += ["", f"Mean over categories: {report['category_mean']:.3f}.", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path, title: str = "BFCL report") -> dict[str, Path]:
    """report.json, report.md and report.png in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "png": out_dir / "report.png"}
    partial = paths["json"].with_suffix(".json.partial")
    partial.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, paths["json"])
    paths["md"].write_text(report_markdown(report, title), encoding="utf-8")
    _chart(report, paths["png"], title)
    return paths


def _chart(report: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["categories"])
    values = [report["categories"][n]["accuracy"] for n in names]
    low = [v - report["categories"][n]["ci"][0] for n, v in zip(names, values)]
    high = [report["categories"][n]["ci"][1] - v for n, v in zip(names, values)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(names)), 3.6))
    ax.bar(names, values, yerr=[low, high], capsize=4, color="#4878a8")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


