"""`experiment compression`: every variant measured, aggregated into JSON/MD/PNG, resumed, inputs checked.

The heavy steps are fakes (``exp_fakes``); the suite, corpus, specs, evals report and paired
comparison are the real ones.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from exp_fakes import REAL_DB, SIZES, make_adapter, make_suite, patch_compression

from agentspec.cli import cli
from agentspec.experiments import CompressionSettings, ExperimentDirMismatchError, ExperimentInputError, run_compression
from agentspec.spec import load_spec


@pytest.fixture
def inputs(tmp_path):
    return {"adapter": make_adapter(tmp_path / "lora", prompt="retail_compact.j2"),
            "suite": make_suite(tmp_path / "suite")}


def settings(inputs, out, **kw) -> CompressionSettings:
    return CompressionSettings(out=str(out), db=str(REAL_DB), adapter_dir=str(inputs["adapter"]),
                               suite=str(inputs["suite"]), tasks=4, ppl_docs=3, progress=False, threads=1, **kw)


def test_every_variant_is_measured_and_reported(inputs, tmp_path, monkeypatch):
    calls: list = []
    patch_compression(monkeypatch, calls)
    report = run_compression(settings(inputs, tmp_path / "out"))
    out = tmp_path / "out"

    # 1. One merge, then each type quantized from F16; every variant benchmarked, scored, run.
    assert [c for c in calls if c[0] in ("export", "quantize")] == [
        ("export", "adapter", ()), ("quantize", "Q8_0"), ("quantize", "Q4_K_M"), ("quantize", "Q3_K_M")]
    assert [c[1] for c in calls if c[0] == "bench"] == [f"merged.{q}.gguf" for q in SIZES if q != "Q5_K_M"]
    assert [c[1] for c in calls if c[0] == "tau"] == ["retail-merged-f16", "retail-merged-q8_0",
                                                       "retail-merged-q4_k_m", "retail-merged-q3_k_m"]
    # 2. The agent is retail with the merged file as its model, no adapter, the training prompt, and
    # retail's reader and request scope (the reader is trained on wording families, not per adapter).
    spec = load_spec(out / "variants" / "Q4_K_M" / "spec.yaml")
    assert spec.model.name == str(out / "models" / "merged.Q4_K_M.gguf") and spec.adapters == []
    assert spec.prompts.system == "retail_compact.j2" and spec.model.threads == 1
    retail = load_spec("retail")
    assert spec.policy == retail.policy and spec.understanding.requests == retail.understanding.requests
    assert spec.resolve_path(spec.understanding.reader) == retail.resolve_path(retail.understanding.reader)
    assert "request_classifier" not in report
    # 3. The held-out corpus has the test users' text.
    assert (out / "corpus.txt").read_text().count("\n\n") == 2  # 3 documents

    # 4. The report: sizes, speeds, perplexity, pass^1, each against F16.
    rows = {r["quant"]: r for r in report["variants"]}
    assert list(rows) == ["F16", "Q8_0", "Q4_K_M", "Q3_K_M"] and report["pending"] == []
    assert rows["F16"]["size_vs_f16"] == 1.0 and rows["Q4_K_M"]["size_vs_f16"] < rows["Q8_0"]["size_vs_f16"] < 1
    assert rows["Q8_0"]["pass1"] == 1.0 and rows["Q3_K_M"]["pass1"] == 0.5
    assert rows["Q3_K_M"]["vs_f16"]["diff"] == pytest.approx(-0.5) and rows["F16"]["vs_f16"] is None
    assert rows["Q3_K_M"]["perplexity_vs_f16"] == 1.15 and rows["Q3_K_M"]["ppl_tokens"] == 300
    assert rows["Q3_K_M"]["decode_tokens_per_s"] > rows["F16"]["decode_tokens_per_s"]
    assert json.loads((out / "compression.json").read_text())["variants"] == report["variants"]
    md = (out / "compression.md").read_text()
    assert "| Q3_K_M | 0.1 |" in md and "-0.500" in md and md.count("\n| Q") == 6  # 3 rows x 2 tables
    assert (out / "compression.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "variants" / "Q8_0" / "tau" / "report.json").is_file()  # the evals report of each run


def test_a_rerun_skips_finished_variants_and_an_interrupted_one_resumes(inputs, tmp_path, monkeypatch):
    calls: list = []
    patch_compression(monkeypatch, calls, fail_on="q4_k_m")
    with pytest.raises(KeyboardInterrupt):
        run_compression(settings(inputs, tmp_path / "out"))
    out = tmp_path / "out"
    partial = json.loads((out / "compression.json").read_text())
    assert [r["quant"] for r in partial["variants"]] == ["F16", "Q8_0"]
    assert partial["pending"] == ["Q4_K_M", "Q3_K_M"]
    assert (out / "variants" / "Q4_K_M" / "bench.json").is_file()  # its finished steps were saved

    calls.clear()
    patch_compression(monkeypatch, calls)
    report = run_compression(settings(inputs, tmp_path / "out"))
    assert [c for c in calls if c[0] != "scorer"] == [
        ("tau", "retail-merged-q4_k_m"), ("quantize", "Q3_K_M"), ("bench", "merged.Q3_K_M.gguf"),
        ("tau", "retail-merged-q3_k_m")]  # Q4_K_M: only its tau run was left
    assert [c[1] for c in calls if c[0] == "scorer"] == ["merged.Q3_K_M.gguf"]
    assert len(report["variants"]) == 4 and report["pending"] == []

    calls.clear()
    again = run_compression(settings(inputs, tmp_path / "out"))
    assert calls == [] and again["variants"] == report["variants"]

    # A type added later is measured alone; the others are kept.
    run_compression(settings(inputs, tmp_path / "out", quants=("Q8_0", "Q4_K_M", "Q3_K_M", "Q5_K_M")))
    assert [c[0] for c in calls] == ["quantize", "bench", "scorer", "tau"]


def test_other_settings_in_the_same_folder_are_refused(inputs, tmp_path, monkeypatch):
    patch_compression(monkeypatch, [])
    run_compression(settings(inputs, tmp_path / "out", quants=("F16",)))
    with pytest.raises(ExperimentDirMismatchError, match="trials") as err:
        run_compression(settings(inputs, tmp_path / "out", trials=2))
    assert "--out" in err.value.hint
    (inputs["adapter"] / "adapter" / "adapter_model.safetensors").write_bytes(b"\1" * 16)  # retrained in place
    with pytest.raises(ExperimentDirMismatchError, match="adapter_sha256"):
        run_compression(settings(inputs, tmp_path / "out", quants=("F16",)))


def test_pipeline_run_folder_supplies_adapter_and_suite(tmp_path, monkeypatch):
    calls: list = []
    patch_compression(monkeypatch, calls)
    make_adapter(tmp_path / "run" / "lora")
    make_suite(tmp_path / "run" / "suite")
    report = run_compression(CompressionSettings(out=str(tmp_path / "out"), db=str(REAL_DB), run=str(tmp_path / "run"),
                                                 quants=("Q8_0",), tasks=2, ppl_docs=2, progress=False))
    assert [r["quant"] for r in report["variants"]] == ["F16", "Q8_0"]  # F16, the reference, always
    assert report["adapter"] == str((tmp_path / "run" / "lora" / "adapter").resolve())
    assert load_spec(tmp_path / "out" / "variants" / "F16" / "spec.yaml").prompts.system == "retail_expert.j2"


@pytest.mark.parametrize("broken, message", [
    ("adapter", "adapter folder .* does not exist"),
    ("suite", "task suite folder .* does not exist"),
    ("split", "is not a task suite: split_tasks.json missing"),
    ("db", "retail db .* does not exist"),
    ("quant", "unknown quantization type"),
])
def test_missing_inputs_are_clear_errors(inputs, tmp_path, monkeypatch, broken, message):
    calls: list = []
    patch_compression(monkeypatch, calls)
    s = settings(inputs, tmp_path / "out")
    if broken == "adapter":
        s.adapter_dir = str(tmp_path / "nope")
    elif broken == "suite":
        s.suite = str(tmp_path / "nope")
    elif broken == "split":
        (inputs["suite"] / "split_tasks.json").unlink()
    elif broken == "db":
        s.db = str(tmp_path / "db.json")
    else:
        s.quants = ("Q8_0", "Q7_X")
    with pytest.raises(ExperimentInputError, match=message) as err:
        run_compression(s)
    assert err.value.hint and calls == [] and not (tmp_path / "out").exists()


def test_cli_runs_and_prints_errors_with_hints(inputs, tmp_path, monkeypatch):
    patch_compression(monkeypatch, [])
    runner = CliRunner()
    args = ["experiment", "compression", "--adapter-dir", str(inputs["adapter"]), "--suite", str(inputs["suite"]),
            "--db", str(REAL_DB), "--out", str(tmp_path / "out"), "--quants", "F16,Q4_K_M", "--tasks", "2",
            "--ppl-docs", "2", "--threads", "1", "--no-progress"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "compression.md" in result.output
    assert [r["quant"] for r in json.loads((tmp_path / "out" / "compression.json").read_text())["variants"]] == ["F16", "Q4_K_M"]

    result = runner.invoke(cli, ["experiment", "compression", "--db", str(REAL_DB), "--out", str(tmp_path / "o2"),
                                 "--suite", str(inputs["suite"]), "--adapter-dir", str(tmp_path / "missing")])
    text = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2
    assert "missing does not exist" in text and "Hint:" in text and "train lora" in text
