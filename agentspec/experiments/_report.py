"""The experiments' reports: ``<name>.json`` (everything), ``<name>.md`` (tables), ``<name>.png`` (figure).

``write_compression_report(out, report)`` and ``write_ablation_report(out, report)`` take the dicts
that ``compression._report`` and ``ablation._report`` build and write the three files atomically. The
PNG is drawn with matplotlib's Agg backend; without matplotlib it is skipped and the JSON says so in
``figure_skipped``. Variants or arms without a result yet are left out of the tables and figure;
the compression report is rewritten after each variant, its figure only when all are done.

Not here: measuring anything.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._common import pyplot, write_json

__all__ = ["write_compression_report", "write_ablation_report", "compression_markdown", "ablation_markdown"]


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


def _diff(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    return f"{row['diff']:+.3f} ({row['ci'][0]:+.3f}..{row['ci'][1]:+.3f}, p={row['p_value']:.3f})"


def _write(out: Path, name: str, report: dict[str, Any], markdown: str, draw: Any) -> None:
    try:
        if draw is not None:
            draw(out / f"{name}.png.partial")
            os.replace(out / f"{name}.png.partial", out / f"{name}.png")
            report["figure"] = f"{name}.png"
    except ImportError as exc:
        report["figure_skipped"] = f"matplotlib is not installed ({exc})"
    write_json(out / f"{name}.json", report)
    (out / f"{name}.md.partial").write_text(markdown, encoding="utf-8")
    os.replace(out / f"{name}.md.partial", out / f"{name}.md")


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")


# ---- compression ------------------------------------------------------------------------------------

def compression_markdown(report: dict[str, Any]) -> str:
    s, rows = report["settings"], report["variants"]
    first = rows[0] if rows else {}
    lines = ["# Compression of the specialized model", "",
             f"Adapter `{report['adapter']}` merged into its base, then quantized by llama.cpp. "
             f"pass^1 on {first.get('n_tasks', '?')} held-out tasks x {s['trials']} trial(s) of `{report['suite']}` "
             f"({s.get('user', 'scripted')} user); perplexity on the test-split users' text; speed: {s['bench_prompt']}-token prompt, "
             f"{s['bench_decode']} decoded tokens, {first.get('threads', '?')} thread(s), median of {s['bench_repeats']}.", "",
             "| type | size MB | x F16 | prompt tok/s | decode tok/s | perplexity | x F16 | pass^1 | 95% CI | pass^1 - F16 (95% CI, p) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['quant']} | {r['size_mb']:.1f} | {_f(r.get('size_vs_f16'), 3)} | "
                     f"{r['prompt_tokens_per_s']:.0f} | {r['decode_tokens_per_s']:.1f} | {r['perplexity']:.3f} | "
                     f"{_f(r.get('perplexity_vs_f16'), 4)} | {r['pass1']:.3f} | {_ci(r.get('pass1_ci'))} | "
                     f"{_diff(r.get('vs_f16'))} |")
    if report.get("pending"):
        lines += ["", f"Not measured yet: {', '.join(report['pending'])} (rerun the same command to resume)."]
    lines += ["", "## Agent diagnostics", "", "| type | valid steps | hallucinated ids / ep. | policy violations / ep. | s / episode |",
              "|---|---|---|---|---|"]
    for r in rows:
        m = r.get("metrics", {})
        lines.append(f"| {r['quant']} | {_f(m.get('valid_step_share'))} | {_f(m.get('hallucinated_ids_per_episode'))} | "
                     f"{_f(m.get('policy_violations_per_episode'))} | {_f(m.get('seconds_per_episode'), 1)} |")
    return "\n".join(lines) + "\n"


def _compression_figure(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    rows = report["variants"]
    size = [r["size_mb"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    # 1. pass^1 with its bootstrap interval, 2. perplexity, 3. speed: each against the file size.
    p1 = [r["pass1"] for r in rows]
    err = [[v - r["pass1_ci"][0] for v, r in zip(p1, rows)], [r["pass1_ci"][1] - v for v, r in zip(p1, rows)]]
    axes[0].errorbar(size, p1, yerr=err, fmt="o", capsize=4)
    axes[0].set(ylim=(-0.02, 1.1), ylabel="pass^1 (95% CI)", title="task success")
    axes[1].plot(size, [r["perplexity"] for r in rows], "s-")
    axes[1].set(ylabel="perplexity (held-out text)", title="drift")
    axes[2].plot(size, [r["prompt_tokens_per_s"] for r in rows], "o-", label="prompt")
    axes[2].plot(size, [r["decode_tokens_per_s"] for r in rows], "s-", label="decode")
    axes[2].set(yscale="log", ylabel="tokens/s", title="speed")
    axes[2].legend()
    for ax, key in zip(axes, ("pass1", "perplexity", "decode_tokens_per_s")):
        ax.set_xlabel("file size (MB)")
        for r in rows:
            ax.annotate(r["quant"], (r["size_mb"], r[key]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    fig.suptitle("specialized model: quantization type vs quality and speed", fontsize=10)
    _save(fig, path)
    plt.close(fig)


def write_compression_report(out: Path, report: dict[str, Any], *, figure: bool = True) -> None:
    """The three files; ``figure=False`` rewrites only JSON and Markdown (after each variant)."""
    draw = (lambda p: _compression_figure(report, p)) if figure and report["variants"] else None
    _write(out, "compression", report, compression_markdown(report), draw)


# ---- data ablation ------------------------------------------------------------------------------------

def ablation_markdown(report: dict[str, Any]) -> str:
    s, arms, cmp = report["settings"], report["arms"], report["comparison"]
    first = next(iter(arms.values()))
    lines = ["# Data ablation: verification filters on vs off", "",
             f"{s['dialogues']} synthetic dialogues (seed {s['seed']}, noise rate {s['noise']}); LoRA r={s['rank']}, "
             f"lr {s['lr']}, {s['steps']} step(s) of {s['batch']} sequence(s) on `{s['base']}` in both arms. pass^1 on "
             f"{first['n_tasks']} held-out tasks x {first['trials']} trial(s) of `{report['suite']}` ({s.get('user', 'scripted')} user). "
             "Held-out loss: both adapters on the verified arm's valid.jsonl (dialogues neither arm trained on).", "",
             "| arm | verify | dialogues | trained on | failed the filters, kept | train examples | held-out loss | pass^1 | 95% CI |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in arms.items():
        d = r.get("data") or {}
        flagged = "-" if not d else (0 if r["verify"] else d["rejected"])
        lines.append(f"| {name} | {_f(r['verify'])} | {_f(d.get('dialogues'))} | {_f(d.get('kept'))} | {flagged} | "
                     f"{_f(d.get('train_examples'))} | {_f(r.get('heldout_loss'), 4)} | {r['pass1']:.3f} | "
                     f"{_ci(r.get('pass1_ci'))} |")
    lines += ["", "## Verified - unverified", "",
              f"- pass^1: {_diff(cmp['pass1'])} (paired bootstrap over tasks)",
              f"- held-out loss: {_f(cmp['heldout_loss_diff'], 4)} (negative: the verified adapter fits clean dialogues better)"]
    for key, label in (("verified_vs_base", "verified - no adapter"), ("unverified_vs_base", "unverified - no adapter")):
        if key in cmp:
            lines.append(f"- pass^1 {label}: {_diff(cmp[key])}")
    data = arms["verified"].get("data") or {}
    if data.get("rejections"):
        lines += ["", "## Rejections by reason (the same dialogues in both arms)", "", "| reason | dialogues |", "|---|---|"]
        lines += [f"| {reason} | {count} |" for reason, count in data["rejections"].items()]
    if data.get("noise"):
        lines += ["", "## Injected teacher mistakes caught by the filters", "", "| mistake | dialogues | caught |", "|---|---|---|"]
        lines += [f"| {kind} | {row['dialogues']} | {row['caught']} |" for kind, row in data["noise"].items()]
    return "\n".join(lines) + "\n"


def _ablation_figure(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    arms = report["arms"]
    names = list(arms)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    # 1. pass^1 per arm with its bootstrap interval.
    p1 = [arms[n]["pass1"] for n in names]
    err = [[v - arms[n]["pass1_ci"][0] for v, n in zip(p1, names)], [arms[n]["pass1_ci"][1] - v for v, n in zip(p1, names)]]
    bars = axes[0].bar(names, p1, yerr=err, capsize=5, color=["tab:green", "tab:red", "tab:gray"][:len(names)])
    axes[0].bar_label(bars, labels=[f"{v:.3f}" for v in p1], padding=2, fontsize=8)
    axes[0].set(ylim=(0, 1.1), ylabel="pass^1 (95% CI)",
                title=f"held-out tasks, p={report['comparison']['pass1']['p_value']:.3f}")
    # 2. held-out loss (trained arms only).
    trained = [n for n in names if arms[n].get("heldout_loss") is not None]
    if trained:
        bars = axes[1].bar(trained, [arms[n]["heldout_loss"] for n in trained], color=["tab:green", "tab:red"][:len(trained)])
        axes[1].bar_label(bars, fmt="%.4f", padding=2, fontsize=8)
    else:
        axes[1].text(0.5, 0.5, "no held-out dialogues\n(valid.jsonl is empty)", ha="center", va="center",
                     transform=axes[1].transAxes)
        axes[1].set_xticks([])
    axes[1].set(ylabel="loss (target tokens)", title="held-out loss, clean dialogues")
    # 3. what each arm trained on: dialogues that passed the filters, and those that failed but were kept.
    data = {n: arms[n]["data"] for n in names if arms[n].get("data")}
    clean = [d["dialogues"] - d["rejected"] for d in data.values()]
    kept_bad = [0 if arms[n]["verify"] else data[n]["rejected"] for n in data]
    axes[2].bar(list(data), clean, label="passed the filters", color="tab:blue")
    axes[2].bar(list(data), kept_bad, bottom=clean, label="failed, kept", color="tab:orange")
    axes[2].set(ylabel="training dialogues", title="training data")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"data ablation: noise {report['settings']['noise']}, {report['settings']['steps']} LoRA step(s) per arm",
                 fontsize=10)
    _save(fig, path)
    plt.close(fig)


def write_ablation_report(out: Path, report: dict[str, Any]) -> None:
    _write(out, "ablation", report, ablation_markdown(report), lambda p: _ablation_figure(report, p))
