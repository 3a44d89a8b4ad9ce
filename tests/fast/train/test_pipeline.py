"""``train pipeline``: steps in order, the suite's user split feeds the data, finished steps are skipped."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import agentspec.evals.generate as generate_module
import agentspec.train.answer_tuning as answer_tuning_module
import agentspec.train.data as data_module
import agentspec.train.export as export_module
import agentspec.train.lora as lora_module
import agentspec.train.pipeline as pipeline
import agentspec.train.reader as reader_module
import agentspec.train.reader_data as reader_data_module
import agentspec.train.requests_tuning as requests_tuning_module
from agentspec.train.pipeline import PipelineSettings, run_pipeline


def fake_steps(monkeypatch, calls):
    def suite(db, out, n, seed=0):
        out.mkdir(parents=True, exist_ok=True)
        (out / "user_split.json").write_text("{}")
        calls.append(("suite", n))
        return [object()] * n

    def data(settings):
        calls.append(("data", settings.split_file, settings.n))
        return SimpleNamespace(kept=9, rejected=1, train_examples=50, valid_examples=5)

    def lora(settings):
        calls.append(("lora", settings.data, settings.rank))
        return {"steps": 3, "train_loss_last": 0.5, "valid_loss": 0.6, "seconds": 1.0}

    def export(adapter_dir, out):
        calls.append(("export", adapter_dir.name))
        (out / "adapter.gguf").write_bytes(b"GGUF-adapter")
        return out / "adapter.gguf"

    monkeypatch.setattr(generate_module, "generate_suite", suite)
    monkeypatch.setattr(data_module, "generate_data", data)
    monkeypatch.setattr(lora_module, "train_lora", lora)
    def reader_data(db, out, n, seed=0):
        calls.append(("reader-data", Path(out).name, n))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "reader.jsonl").write_text("")
        return {"n": n}

    def reader(settings):
        calls.append(("reader", Path(settings.data).name))
        out = Path(settings.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("reader.json", "reader.npz", "reader_report.json"):
            (out / name).write_text(name)
        return {"evaluations": {"training wording, held-out texts": {
            "requests_exact": 0.9, "answer_accuracy": 0.99, "false_yes": 0, "choice_accuracy": 0.95}}}

    monkeypatch.setattr(export_module, "export_adapter", export)
    monkeypatch.setattr(reader_data_module, "write_reader_data", reader_data)
    monkeypatch.setattr(reader_module, "train_reader", reader)

    def tune(settings):
        calls.append(("reader-answer", Path(settings.base).name, Path(settings.out).name, settings.seed,
                      sorted(Path(p).name for p in settings.replies)))
        return {"member": "answer_tuned", "trained_on": {}, "seconds": 1.0}

    monkeypatch.setattr(answer_tuning_module, "tune_answer", tune)

    def tune_requests(settings):
        calls.append(("reader-requests", Path(settings.data).name, Path(settings.base).name, Path(settings.out).name))
        return {"classes": [], "trained_on": {}, "seconds": 1.0}

    monkeypatch.setattr(requests_tuning_module, "tune_requests", tune_requests)


def test_steps_run_in_order_then_resume_skips_what_is_done(tmp_path, monkeypatch):
    calls: list[tuple] = []
    fake_steps(monkeypatch, calls)
    installed = tmp_path / "installed"
    monkeypatch.setattr(pipeline, "installed_adapter_dir", lambda: installed)
    settings = PipelineSettings(db="db.json", out=str(tmp_path / "run"), tasks=12, dialogues=7, reader_messages=3,
                                requests_messages=5, install=True)
    summary = run_pipeline(settings)
    assert [c[0] for c in calls] == ["suite", "data", "lora", "export", "reader-data", "reader", "reader-answer",
                                     "reader-answer", "reader-data", "reader-requests"]
    assert calls[4:6] == [("reader-data", "reader-data", 3), ("reader", "reader-data")]  # fitted on its own data
    replies = ["train_a.yaml", "train_b.yaml", "train_c.yaml", "train_d.yaml"]  # the packaged ones, two members
    assert calls[6:8] == [("reader-answer", "reader", "reader", 0, replies),
                          ("reader-answer", "reader", "reader", 1, replies)]
    # the requests head tuned in place on its own, larger data
    assert calls[8:] == [("reader-data", "requests-data", 5), ("reader-requests", "requests-data", "reader", "reader")]
    assert calls[1] == ("data", str(tmp_path / "run" / "suite" / "user_split.json"), 7)  # held-out users stay out
    assert (installed / "retail.gguf").read_bytes() == b"GGUF-adapter"
    assert json.loads((installed / "retail.json").read_text())["lora"]["valid_loss"] == 0.6
    assert {p.name: p.read_text() for p in (installed / "reader").iterdir()} == {
        name: name for name in ("reader.json", "reader.npz", "reader_report.json")}
    assert summary["data"]["kept"] == 9 and summary["export"]["adapter"] == "retail.gguf"
    assert summary["reader"] == {"requests_exact": 0.9, "answer_accuracy": 0.99, "false_yes": 0,
                                 "choice_accuracy": 0.95}

    calls.clear()
    (tmp_path / "run" / "lora" / ".done").unlink()  # as if killed during training
    run_pipeline(settings)
    assert [c[0] for c in calls] == ["lora", "export", "reader-data", "reader", "reader-answer", "reader-answer",
                                     "reader-data", "reader-requests"]
