"""``agentspec eval docqa``: recall@k of the document index and a model's accuracy with and without it.

``run_docqa(DocqaSettings(data=..., out=...)) -> dict`` (resumable in ``out``):

1. the questions of ``split`` (``docqa.generate_questions``; ``all``: both splits);
2. the index of the retail documents in ``out/index`` (``build_index``: incremental, so a rerun embeds
   nothing), checked to hold every gold source;
3. recall@k of every question of the split, with its Wilson 95% interval, overall and per kind;
4. with a ``spec``: its model answers the first ``limit`` questions (interleaved by kind) without
   retrieval (arm ``no-retrieval``) and/or with the top ``k_answer`` passages (arm ``retrieval``);
   answers go to ``out/answers.jsonl`` as they come (``_docqa_answer.answer_arm``), accuracy with
   Wilson intervals and the paired difference retrieval - no-retrieval;
5. ``out/docqa.json`` (everything, per-question rows included) and ``out/docqa.md``.

Not here: the questions (``docqa``), the rag-vs-finetune experiment (``agentspec.experiments.rag``).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.memory.documents import DocumentIndex

from ._docqa_answer import answer_arm, load_answer_model, paired_difference, summarize
from .docqa import Question, generate_questions, retrieval_recall, select

__all__ = ["DocqaSettings", "run_docqa", "build_index", "check_gold_sources", "docqa_markdown", "write_text"]


@dataclass
class DocqaSettings:
    data: str
    out: str
    split: str = "test"  # dev | test | all
    spec: str | None = None
    retrieval: bool | None = None  # None: both arms; True: with retrieval only; False: without only
    limit: int | None = None  # questions answered by the model (recall uses the whole split)
    k: int = 5  # recall@k
    k_answer: int = 3  # passages in the prompt
    threads: int | None = None
    seed: int = 0
    progress: bool = True


def build_index(data: str | Path, folder: Path) -> tuple[DocumentIndex, dict[str, list[str]]]:
    """The retail documents of ``data`` indexed (incrementally) in ``folder``."""
    from agentspec.tools.retail._documents import retail_documents

    index = DocumentIndex.open(folder)
    return index, index.update(retail_documents(data))


def check_gold_sources(questions: list[Question], index: DocumentIndex) -> None:
    """Every question's primary gold source is a passage source of the index (else the documents changed)."""
    known = {p.source for p in index.passages()}
    missing = sorted({q.sources[0] for q in questions if q.sources[0] not in known})
    if missing:
        raise AgentSpecError(f"gold sources not in the index: {', '.join(missing[:5])}",
                             hint="The documents no longer have these sections (e.g. a FAQ heading was edited): "
                                  "update evals/_docqa_facts.py to the new headings.", code="docqa_sources")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".partial").write_text(text, encoding="utf-8")
    os.replace(path.with_name(path.name + ".partial"), path)


def _progress(total: int, label: str, enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
                   TimeRemainingColumn(), disable=not enabled)
    return bar, bar.add_task(label, total=total, acc="")


def run_arms(model: Any, arms: dict[str, DocumentIndex | None], questions: list[Question], results: Path,
             k_answer: int, progress: bool) -> dict[str, list[dict[str, Any]]]:
    """Each arm (name -> index or None) over ``questions``, with a progress bar per arm."""
    out = {}
    for arm, index in arms.items():
        bar, task = _progress(len(questions), arm, progress)
        right = [0, 0]

        def tick(row: dict[str, Any]) -> None:
            right[0] += bool(row["correct"])
            right[1] += 1
            bar.update(task, advance=1, acc=f"accuracy {right[0]}/{right[1]}")

        with bar:
            out[arm] = answer_arm(model, arm, questions, results, index=index, k=k_answer, on_answer=tick)
    return out


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


def docqa_markdown(report: dict[str, Any]) -> str:
    r = report["recall"]
    lines = [f"# Document QA ({report['settings']['split']} split)", "",
             f"{r['n']} questions; index: {report['index']['documents']} documents, {report['index']['passages']} passages.", "",
             f"## Retrieval recall@{r['k']}", "", "| kind | n | recall | 95% CI |", "|---|---|---|---|",
             f"| all | {r['n']} | {_f(r['value'])} | {_ci(r['ci'])} |"]
    at_1 = r["at_1"]
    lines += [f"| {kind} | {row['n']} | {_f(row['value'])} | {_ci(row['ci'])} |" for kind, row in r["by_kind"].items()]
    lines += ["", f"recall@1: {_f(at_1['value'])} (95% CI {_ci(at_1['ci'])})."]
    arms = report.get("arms") or {}
    if arms:
        lines += ["", f"## Answer accuracy of `{report['settings']['spec']}` "
                      f"(first {next(iter(arms.values()))['n']} questions, top {report['settings']['k_answer']} passages)", "",
                  "| arm | n | accuracy | 95% CI | s / question | prompt tokens | " + " | ".join(
                      next(iter(arms.values()))["by_kind"]) + " |",
                  "|---|---|---|---|---|---|" + "---|" * len(next(iter(arms.values()))["by_kind"])]
        for name, a in arms.items():
            kinds = " | ".join(_f(v["accuracy"]) for v in a["by_kind"].values())
            lines.append(f"| {name} | {a['n']} | {_f(a['accuracy'])} | {_ci(a['ci'])} | {_f(a['seconds_per_question'])} | "
                         f"{_f(a['prompt_tokens_per_question'])} | {kinds} |")
        if report.get("difference"):
            d = report["difference"]
            lines += ["", f"Retrieval - no retrieval: {d['diff']:+.3f} (paired bootstrap 95% CI "
                          f"{d['ci'][0]:+.3f}..{d['ci'][1]:+.3f}, n={d['n']})."]
    return "\n".join(lines) + "\n"


def run_docqa(s: DocqaSettings) -> dict[str, Any]:
    """Recall and (with a spec) accuracy; writes ``out/docqa.json`` and ``.md``; see the module docstring."""
    out = Path(s.out)
    questions = select(generate_questions(s.data, s.seed), None if s.split == "all" else s.split)
    index, update = build_index(s.data, out / "index")
    with index:
        check_gold_sources(questions, index)
        recall = retrieval_recall(questions, index, k=s.k)
        report: dict[str, Any] = {"settings": asdict(s), "index": index.stats() | {"update": update}, "recall": recall}
        if s.spec:
            asked = questions[:s.limit] if s.limit else questions
            arms: dict[str, DocumentIndex | None] = {}
            if s.retrieval in (None, False):
                arms["no-retrieval"] = None
            if s.retrieval in (None, True):
                arms["retrieval"] = index
            model = load_answer_model(s.spec, threads=s.threads)
            rows = run_arms(model, arms, asked, out / "answers.jsonl", s.k_answer, s.progress)
            report["arms"] = {name: summarize(r) for name, r in rows.items()}
            if len(rows) == 2:
                report["difference"] = paired_difference(rows["no-retrieval"], rows["retrieval"])
            report["answers"] = rows
    write_text(out / "docqa.json", json.dumps(report, indent=1))
    write_text(out / "docqa.md", docqa_markdown(report))
    return report
