"""Small shared helpers for training reports: atomic JSON files and PNG charts (matplotlib, Agg).

Every report a user would rather look at than read is written twice: ``name.json`` and ``name.png``.
Files are written to ``<name>.partial`` and renamed, so an interrupted job never leaves half a report.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["write_json", "line_chart", "bar_chart"]


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display here, and never open windows from a training job
    import matplotlib.pyplot as plt

    return plt


def line_chart(path: Path, series: dict[str, tuple[Sequence[float], Sequence[float]]], *, title: str,
               xlabel: str, ylabel: str, logy: bool = False, hline: float | None = None) -> Path:
    """One line per series name -> (xs, ys)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=name, marker="o" if len(xs) < 30 else None, linewidth=1.2)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle="--", linewidth=0.8)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend(fontsize=7, ncol=2 if len(series) > 8 else 1)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def bar_chart(path: Path, labels: Sequence[str], values: Sequence[float], *, title: str, ylabel: str,
              hline: float | None = None) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(labels) + 2), 4), dpi=110)
    ax.bar(list(labels), list(values), color="#4477aa")
    if hline is not None:
        ax.axhline(hline, color="#cc3311", linestyle="--", linewidth=1, label=f"alarm at {hline:g}")
        ax.legend(fontsize=8)
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", rotation=30)
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    """Write the figure atomically: a half-written PNG never takes the final name."""
    fig.tight_layout()
    partial = path.with_name(path.stem + ".partial.png")
    fig.savefig(partial)
    plt.close(fig)
    os.replace(partial, path)
    return path
