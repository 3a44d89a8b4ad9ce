"""``agentspec experiment rag-vs-finetune``: retrieval against the LoRA expert on the same document questions.

    run_rag(RagSettings(data="../shared/data/tau2-retail", out="rag", limit=40, threads=1))

The held-out (test split) questions of ``evals.docqa`` (prices, availability, policy and FAQ facts;
documents and wording unseen in development) are answered by four arms, all with the same QA prompt,
greedy, at most 48 tokens:

- ``base``: the base model of ``retail-base`` (SmolLM2-135M, no adapter), no retrieval (the floor);
- ``base+retrieval``: the same model with the top ``k_answer`` passages and their sources in the prompt;
- ``expert``: the ``retail`` spec's model with its LoRA adapter (trained on verified retail dialogues),
  no retrieval;
- ``expert+retrieval``: the expert with the passages.

Reported per arm: accuracy with its Wilson 95% interval, per kind, seconds and prompt tokens per
question; recall@k of the index on the same questions; paired bootstrap differences (retrieval on the
expert, retrieval vs fine-tuning, fine-tuning on the base). Output folder:

    experiment.json        what this folder measures (a rerun with other settings is refused)
    index/                 the document index (incremental: a rerun embeds nothing)
    answers.jsonl          one row per arm and question, appended as answered (the resume point)
    rag.json / .md / .png  the report, rewritten after every arm

Resumable: rerun the same command; answered questions are skipped, a larger ``--limit`` adds questions.

Not here: the questions and scoring (``evals.docqa``), answering (``evals._docqa_answer``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ._common import ExperimentInputError, claim_dir, pyplot, write_json

__all__ = ["RagSettings", "run_rag", "ARMS", "rag_markdown"]

# arm -> (which spec, with retrieval)
ARMS = {"base": ("base", False), "base+retrieval": ("base", True), "expert": ("expert", False),
        "expert+retrieval": ("expert", True)}
# (label, arm a, arm b): accuracy of b - a
COMPARISONS = (("retrieval on the expert", "expert", "expert+retrieval"),
               ("retrieval vs fine-tuning", "expert", "base+retrieval"),
               ("fine-tuning on the base", "base", "expert"),
               ("retrieval on the base", "base", "base+retrieval"))


@dataclass
class RagSettings:
    data: str
    out: str
    limit: int | None = None  # first N test questions, interleaved by kind (None: all)
    threads: int | None = None
    k: int = 5  # recall@k
    k_answer: int = 3  # passages in the prompt
    seed: int = 0
    base_spec: str = "retail-base"
    expert_spec: str = "retail"
    progress: bool = True


def _check_data(data: str) -> Path:
    folder = Path(data)
    missing = [n for n in ("policy.md", "db.json") if not (folder / n).is_file()]
    if missing:
        raise ExperimentInputError(f"{folder} lacks {', '.join(missing)}",
                                   hint="Pass --data pointing at the tau2 retail folder (e.g. ../shared/data/tau2-retail).")
    return folder.resolve()


def _adapter_digest(spec: str) -> list[str]:
    """sha256 prefixes of the spec's adapter files: a retrained expert is another experiment."""
    from agentspec.spec import load_spec

    s = load_spec(spec)
    return [hashlib.sha256(s.resolve_path(a.path).read_bytes()).hexdigest()[:16] for a in s.adapters]


def run_rag(s: RagSettings, console: Console | None = None) -> dict[str, Any]:
    """Answer every arm's questions not answered yet, then write the reports; returns rag.json's content."""
    from agentspec.evals._docqa_answer import load_answer_model, read_rows
    from agentspec.evals._docqa_run import build_index, check_gold_sources, run_arms
    from agentspec.evals.docqa import generate_questions, retrieval_recall, select

    console = console or Console()
    # 1. Inputs, checked before anything slow; the folder's identity (limit and threads are not part of it).
    data = _check_data(s.data)
    every = select(generate_questions(data, s.seed), "test")
    questions = every[:s.limit] if s.limit else every
    out = Path(s.out)
    claim_dir(out, {"experiment": "rag-vs-finetune", "data": str(data), "seed": s.seed, "k": s.k, "k_answer": s.k_answer,
                    "base_spec": s.base_spec, "expert_spec": s.expert_spec, "expert_adapters": _adapter_digest(s.expert_spec),
                    "questions": hashlib.sha256(repr([q.to_dict() for q in every]).encode()).hexdigest()[:16]})
    # 2. The index (incremental) and its recall on these questions.
    index, update = build_index(data, out / "index")
    results = out / "answers.jsonl"
    rows: dict[str, list[dict[str, Any]]] = {}
    with index:
        check_gold_sources(questions, index)
        recall = retrieval_recall(questions, index, k=s.k)
        stats = index.stats() | {"update": update}
        # 3. The arms, one model load per spec; an arm whose questions are all answered loads nothing.
        for which, spec in (("base", s.base_spec), ("expert", s.expert_spec)):
            arms = {arm: (index if retrieval else None) for arm, (w, retrieval) in ARMS.items() if w == which}
            done = {arm: {r["id"] for r in read_rows(results, arm)} for arm in arms}
            todo = {arm: i for arm, i in arms.items() if any(q.id not in done[arm] for q in questions)}
            if todo:
                console.rule(f"{spec}: {', '.join(todo)}")
                model = load_answer_model(spec, threads=s.threads)
                run_arms(model, todo, questions, results, s.k_answer, s.progress)
                del model
            wanted = {q.id for q in questions}
            for arm in arms:
                by_id = {r["id"]: r for r in read_rows(results, arm) if r["id"] in wanted}
                rows[arm] = [by_id[q.id] for q in questions if q.id in by_id]
            report = _report(s, rows, recall, stats, len(questions))
            write_rag_report(out, report)
    console.print(f"report -> {out}/rag.md, .json, .png", soft_wrap=True)
    return report


def _report(s: RagSettings, rows: dict[str, list[dict[str, Any]]], recall: dict[str, Any], index: dict[str, Any],
            n_questions: int) -> dict[str, Any]:
    from agentspec.evals._docqa_answer import paired_difference, summarize

    arms = {arm: summarize(r) | {"spec": s.base_spec if ARMS[arm][0] == "base" else s.expert_spec,
                                 "retrieval": ARMS[arm][1]} for arm, r in rows.items()}
    comparisons = [{"label": label, "a": a, "b": b, **paired_difference(rows[a], rows[b])}
                   for label, a, b in COMPARISONS if a in rows and b in rows]
    return {"experiment": "rag-vs-finetune", "settings": {k: v for k, v in asdict(s).items() if k != "progress"},
            "questions": n_questions, "threads": s.threads or os.cpu_count(),
            "recall": {k: v for k, v in recall.items() if k != "rows"}, "index": index, "arms": arms,
            "comparisons": comparisons, "pending": [a for a in ARMS if a not in rows]}


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


def rag_markdown(report: dict[str, Any]) -> str:
    s, r, arms = report["settings"], report["recall"], report["arms"]
    kinds = list(next(iter(arms.values()))["by_kind"]) if arms else []
    lines = ["# Retrieval vs fine-tuning on document questions", "",
             f"{report['questions']} held-out questions (test split: documents and wording unseen in development), "
             f"greedy answers of at most 48 tokens, {report['threads']} thread(s). Retrieval: the top {s['k_answer']} "
             f"passages of {report['index']['passages']} with their source in the prompt. "
             f"Base: `{s['base_spec']}`; expert: `{s['expert_spec']}` (its LoRA adapter).", "",
             f"Retrieval recall@{r['k']}: {r['value']:.3f} (95% CI {_ci(r['ci'])}); recall@1: {r['at_1']['value']:.3f}.", "",
             "| arm | n | accuracy | 95% CI | " + " | ".join(kinds) + " | s / question | prompt tokens |",
             "|---|---|---|---|" + "---|" * len(kinds) + "---|---|"]
    for name, a in arms.items():
        per_kind = " | ".join(f"{a['by_kind'][k]['accuracy']:.3f}" if k in a["by_kind"] else "-" for k in kinds)
        lines.append(f"| {name} | {a['n']} | {a['accuracy']:.3f} | {_ci(a['ci'])} | {per_kind} | "
                     f"{a['seconds_per_question']:.2f} | {a['prompt_tokens_per_question']:.0f} |")
    lines += ["", "Availability questions and some policy/FAQ facts are yes/no: a reply that commits to yes or "
                  "no at random scores about 0.5 on them; one that commits to neither scores 0.", "",
              "## Paired differences (b - a, bootstrap 95% CI over questions)", "", "| comparison | b - a | 95% CI |",
              "|---|---|---|"]
    for c in report["comparisons"]:
        lines.append(f"| {c['label']} ({c['b']} - {c['a']}) | {c['diff']:+.3f} | {c['ci'][0]:+.3f}..{c['ci'][1]:+.3f} |")
    if report["pending"]:
        lines += ["", f"Not measured yet: {', '.join(report['pending'])} (rerun the same command to resume)."]
    return "\n".join(lines) + "\n"


def _figure(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    arms = report["arms"]
    names = list(arms)
    colors = ["tab:gray", "tab:blue", "tab:orange", "tab:green"][:len(names)]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    # 1. accuracy per arm with its Wilson interval; 2. per kind; 3. latency.
    acc = [arms[n]["accuracy"] for n in names]
    err = [[v - arms[n]["ci"][0] for v, n in zip(acc, names)], [arms[n]["ci"][1] - v for v, n in zip(acc, names)]]
    bars = axes[0].bar(names, acc, yerr=err, capsize=5, color=colors)
    axes[0].bar_label(bars, labels=[f"{v:.2f}" for v in acc], padding=2, fontsize=8)
    axes[0].set(ylim=(0, 1.05), ylabel="accuracy (Wilson 95% CI)", title=f"{report['questions']} test questions")
    kinds = list(arms[names[0]]["by_kind"])
    width = 0.8 / len(names)
    for i, (n, c) in enumerate(zip(names, colors)):
        axes[1].bar([j + i * width for j in range(len(kinds))],
                    [arms[n]["by_kind"].get(k, {}).get("accuracy") or 0 for k in kinds], width, label=n, color=c)
    axes[1].set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(kinds))], kinds)
    axes[1].set(ylim=(0, 1.05), ylabel="accuracy", title="by kind")
    axes[1].legend(fontsize=7)
    bars = axes[2].bar(names, [arms[n]["seconds_per_question"] for n in names], color=colors)
    axes[2].bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    axes[2].set(ylabel="seconds per question", title=f"latency, {report['threads']} thread(s)")
    for ax in (axes[0], axes[2]):
        ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    fig.suptitle(f"retrieval vs fine-tuning (recall@{report['recall']['k']} {report['recall']['value']:.2f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def write_rag_report(out: Path, report: dict[str, Any]) -> None:
    """rag.json, rag.md and (with at least one arm) rag.png, each written atomically."""
    if report["arms"]:
        try:
            _figure(report, out / "rag.png.partial")
            os.replace(out / "rag.png.partial", out / "rag.png")
            report["figure"] = "rag.png"
        except ImportError as exc:
            report["figure_skipped"] = f"matplotlib is not installed ({exc})"
    write_json(out / "rag.json", report)
    (out / "rag.md.partial").write_text(rag_markdown(report), encoding="utf-8")
    os.replace(out / "rag.md.partial", out / "rag.md")
