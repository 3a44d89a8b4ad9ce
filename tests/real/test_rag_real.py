"""The rag-vs-finetune experiment on the real bundled model, its LoRA expert and MiniLM: 3 questions, 1 thread.

About a minute on this 2-core machine: indexing the retail documents (~90 passages) and 4 arms x 3
greedy answers of at most 48 tokens. Checks structure and invariants, not accuracy: every arm answers
every question once, the report's numbers agree with the per-question rows, the figure is written,
and a rerun answers nothing again.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.evals.docqa import wilson
from agentspec.experiments.rag import ARMS, RagSettings, run_rag

RETAIL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tau2-retail"


@pytest.mark.timeout(240)
def test_rag_vs_finetune_on_three_questions(tmp_path, real_home_session):
    if not (RETAIL / "db.json").is_file():
        pytest.fail(f"the retail data is not at {RETAIL}; tests read it from ../shared/data")
    settings = RagSettings(data=str(RETAIL), out=str(tmp_path / "rag"), limit=3, threads=1, progress=False)
    report = run_rag(settings)
    out = tmp_path / "rag"
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["id"]) for r in rows) == sorted({(r["arm"], r["id"]) for r in rows})  # once each
    assert set(report["arms"]) == set(ARMS) and report["pending"] == []
    for arm, (_, retrieval) in ARMS.items():
        mine = [r for r in rows if r["arm"] == arm]
        assert len(mine) == 3 and all(r["answer"] for r in mine)
        assert all(bool(r["retrieved"]) == retrieval for r in mine)  # passages only in the retrieval arms
        correct = sum(r["correct"] for r in mine)
        assert report["arms"][arm]["correct"] == correct and report["arms"][arm]["ci"] == wilson(correct, 3)
    with_passages = [r["prompt_tokens"] for r in rows if r["arm"] == "base+retrieval"]
    without = [r["prompt_tokens"] for r in rows if r["arm"] == "base"]
    assert min(with_passages) > max(without)
    assert report["recall"]["n"] == 3 and (out / "rag.png").stat().st_size > 1000
    assert "| expert+retrieval | 3 |" in (out / "rag.md").read_text()
    # Resumable: a rerun loads no model and answers nothing again.
    again = run_rag(settings)
    assert len((out / "answers.jsonl").read_text().splitlines()) == len(rows)
    assert again["arms"] == report["arms"]
