"""`experiment data-ablation`: two arms differing only in `verify`, compared, reported, resumed.

Data generation, training, export and the tau runs are fakes (``exp_fakes``); the suite, specs,
evals report and paired comparison are real.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from click.testing import CliRunner
from exp_fakes import REAL_DB, make_suite, patch_ablation

from agentspec.cli import cli
from agentspec.experiments import AblationSettings, ExperimentInputError, run_ablation
from agentspec.spec import load_spec
from agentspec.train.pipeline import PipelineSettings


def settings(suite, out, **kw) -> AblationSettings:
    return AblationSettings(out=str(out), db=str(REAL_DB), suite=str(suite), dialogues=20, noise=0.3, steps=5,
                            tasks=6, threads=1, progress=False, **kw)


def _without(obj, *keys):
    return {k: v for k, v in asdict(obj).items() if k not in keys}


def test_the_arms_differ_only_in_verify_and_are_compared(tmp_path, monkeypatch):
    calls: list = []
    patch_ablation(monkeypatch, calls)
    suite = make_suite(tmp_path / "suite")
    report = run_ablation(settings(suite, tmp_path / "out", baseline=True))
    out = tmp_path / "out"

    # 1. Data: same seed, n, noise and user split; only `verify` (and the folder) differ.
    data = {c[1].verify: c[1] for c in calls if c[0] == "data"}
    assert set(data) == {True, False}
    assert _without(data[True], "verify", "out") == _without(data[False], "verify", "out")
    assert data[True].noise_rate == 0.3 and data[True].split_file == str(suite.resolve() / "user_split.json")
    # ... and the unverified arm starts from the verified arm's dialogues (it only filters them differently).
    reused = {c[1].verify: c[2] for c in calls if c[0] == "data"}
    assert reused[True] is None and json.loads(reused[False])["made_for"] == "verified"
    # 2. Training: identical settings (the pipeline's rank and lr, the same steps), different data.
    lora = [c[1] for c in calls if c[0] == "lora"]
    assert len(lora) == 2 and _without(lora[0], "data", "out") == _without(lora[1], "data", "out")
    assert lora[0].steps == 5 and lora[0].rank == PipelineSettings(db="", out="").rank and lora[0].threads == 1
    # ... and the held-out loss of both on the verified arm's valid set.
    for arm in ("verified", "unverified"):
        valid = out / "arms" / arm / "lora_data" / "valid.jsonl"
        assert json.loads(valid.read_text()) == {"arm": "verified"}
    # 3. Order: both datasets first, then each arm trained, exported, evaluated; then the baseline.
    assert [(c[0], getattr(c[1], "verify", c[1])) for c in calls] == [
        ("data", True), ("data", False), ("lora", lora[0]), ("export", "verified"), ("tau", "ablation-verified"),
        ("lora", lora[1]), ("export", "unverified"), ("tau", "ablation-unverified"), ("tau", "ablation-base")]
    # 4. The agent: retail plus the arm's exported adapter; the baseline without one. Every arm has the
    # same reader and request scope: the packaged retail spec's (nothing of it is trained per arm).
    spec = load_spec(out / "arms" / "unverified" / "spec.yaml")
    assert [a.path for a in spec.adapters] == [str(out / "arms" / "unverified" / "export" / "adapter.gguf")]
    assert load_spec(out / "arms" / "base" / "spec.yaml").adapters == []
    retail = load_spec("retail")
    for arm in ("verified", "unverified", "base"):
        arm_spec = load_spec(out / "arms" / arm / "spec.yaml")
        assert arm_spec.understanding.requests == retail.understanding.requests
        assert arm_spec.resolve_path(arm_spec.understanding.reader) == retail.resolve_path(retail.understanding.reader)
        assert arm_spec.policy == retail.policy

    # 5. The report: pass^1 per arm, paired difference verified - unverified, held-out loss, counts.
    arms = report["arms"]
    assert (arms["verified"]["pass1"], arms["unverified"]["pass1"], arms["base"]["pass1"]) == (1.0, pytest.approx(1 / 3), 0.0)
    cmp = report["comparison"]
    assert cmp["pass1"]["diff"] == pytest.approx(2 / 3) and 0 < cmp["pass1"]["p_value"] <= 1
    assert cmp["heldout_loss_diff"] == pytest.approx(-0.15)
    assert cmp["verified_vs_base"]["diff"] == 1.0
    assert arms["verified"]["data"]["kept"] == 17 and arms["unverified"]["data"]["kept"] == 20
    assert json.loads((out / "ablation.json").read_text())["comparison"] == cmp
    md = (out / "ablation.md").read_text()
    assert "| verified | True | 20 | 17 | 0 |" in md and "| unverified | False | 20 | 20 | 3 |" in md
    assert "+0.667" in md and "| goal_state | 2 |" in md and "| wrong_item | 3 | 3 |" in md
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_what_is_done_and_redoes_what_depends_on_a_rerun_step(tmp_path, monkeypatch):
    calls: list = []
    patch_ablation(monkeypatch, calls)
    suite = make_suite(tmp_path / "suite")
    first = run_ablation(settings(suite, tmp_path / "out"))

    calls.clear()
    assert run_ablation(settings(suite, tmp_path / "out"))["arms"] == first["arms"] and calls == []

    # As if killed while training the unverified arm: it is trained, exported and evaluated afresh.
    out = tmp_path / "out" / "arms" / "unverified"
    (out / "lora" / ".done").unlink()
    stale = (out / "tau" / "episodes.jsonl").read_text()  # episodes of the old adapter: must go
    run_ablation(settings(suite, tmp_path / "out"))
    assert [c[0] for c in calls] == ["lora", "export", "tau"] and not calls[0][1].restart
    assert calls[2] == ("tau", "ablation-unverified")
    assert len(stale.splitlines()) == 6 and len((out / "tau" / "episodes.jsonl").read_text().splitlines()) == 6

    # New data for the verified arm changes both arms' held-out set: both retrain from scratch.
    calls.clear()
    (tmp_path / "out" / "arms" / "verified" / "data" / ".done").unlink()
    run_ablation(settings(suite, tmp_path / "out"))
    assert [c[0] for c in calls] == ["data", "lora", "export", "tau", "lora", "export", "tau"]
    assert all(c[1].restart for c in calls if c[0] == "lora")


def test_missing_inputs_are_clear_errors(tmp_path, monkeypatch):
    calls: list = []
    patch_ablation(monkeypatch, calls)
    suite = make_suite(tmp_path / "suite")
    with pytest.raises(ExperimentInputError, match="task suite folder .* does not exist") as err:
        run_ablation(settings(tmp_path / "nope", tmp_path / "out"))
    assert "eval generate" in err.value.hint
    s = settings(suite, tmp_path / "out")
    s.db = str(tmp_path / "db.json")
    with pytest.raises(ExperimentInputError, match="retail db .* does not exist"):
        run_ablation(s)
    (suite / "user_split.json").unlink()
    with pytest.raises(ExperimentInputError, match="user_split.json missing"):
        run_ablation(settings(suite, tmp_path / "out"))
    assert calls == []


def test_cli(tmp_path, monkeypatch):
    calls: list = []
    patch_ablation(monkeypatch, calls)
    suite = make_suite(tmp_path / "suite")
    result = CliRunner().invoke(cli, ["experiment", "data-ablation", "--db", str(REAL_DB), "--suite", str(suite),
                                      "--out", str(tmp_path / "out"), "--dialogues", "8", "--noise", "0.5",
                                      "--steps", "3", "--tasks", "2", "--threads", "1", "--user", "varied",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "ablation.md" in result.output
    for arm in ("verified", "unverified"):  # the customer the headline report uses, in every arm
        run = json.loads((tmp_path / "out" / "arms" / arm / "tau" / "run.json").read_text())
        assert "kind='varied'" in run["user"]
    assert [c[1].noise_rate for c in calls if c[0] == "data"] == [0.5, 0.5]
    report = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert report["arms"]["verified"]["n_tasks"] == 2 and set(report["arms"]) == {"verified", "unverified"}


def test_dialogues_that_do_not_fit_the_second_arm_are_made_afresh(tmp_path, monkeypatch):
    import agentspec.train.data as data_module
    from agentspec.train.data import DataError

    calls: list = []
    patch_ablation(monkeypatch, calls)
    fake = data_module.generate_data

    def picky(settings):  # as if meta.json said another run: DataError, as generate_data raises it
        if not settings.verify and (tmp_path / "out" / "arms" / "unverified" / "data" / "dialogues.jsonl").exists():
            raise DataError("holds dialogues of a different run", hint="use another --out")
        return fake(settings)

    monkeypatch.setattr(data_module, "generate_data", picky)
    run_ablation(settings(make_suite(tmp_path / "suite"), tmp_path / "out"))
    made = [c for c in calls if c[0] == "data"]
    assert [(c[1].verify, c[2]) for c in made] == [(True, None), (False, None)]
