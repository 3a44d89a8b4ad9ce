"""Training on a tiny random llama: a run killed after a checkpoint resumes to the same final adapter."""
from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from agentspec.errors import AgentSpecError
from agentspec.train.lora import LoraSettings, train_lora
from tiny_lora_fixtures import tiny_bundle, write_dialogues


class Killed(Exception):
    pass


def settings(data, out, **kw):
    base = dict(data=str(data), out=str(out), steps=6, batch=2, checkpoint_every=2, eval_every=3, lr=5e-3,
                max_len=512, seed=7, threads=1)
    return LoraSettings(**{**base, **kw})


def adapter(out):
    return load_file(str(out / "adapter" / "adapter_model.safetensors"))


def test_resume_after_kill_gives_the_same_adapter(tmp_path):
    data = write_dialogues(tmp_path / "data")
    full = train_lora(settings(data, tmp_path / "full"), base=tiny_bundle(), quiet=True)

    def kill_at_3(step, loss):
        if step == 3:
            raise Killed  # a kill between checkpoints: step 3 is lost, step 2 was saved

    with pytest.raises(Killed):
        train_lora(settings(data, tmp_path / "cut"), base=tiny_bundle(), on_step=kill_at_3, quiet=True)
    assert not (tmp_path / "cut" / "adapter").exists()
    resumed = train_lora(settings(data, tmp_path / "cut"), base=tiny_bundle(), quiet=True)

    a, b = adapter(tmp_path / "full"), adapter(tmp_path / "cut")
    assert a.keys() == b.keys() and len(a) == 2 * 2 * 4  # 2 layers x q/k/v/o x (A, B)
    assert all((a[k] == b[k]).all() for k in a), "resumed weights differ from the uninterrupted run"
    assert resumed["valid_loss"] == pytest.approx(full["valid_loss"], abs=0)
    log = json.loads((tmp_path / "cut" / "loss.json").read_text())
    assert [r["step"] for r in log["train"]] == [1, 2, 3, 4, 5, 6]


def test_training_lowers_the_loss_and_writes_reports(tmp_path):
    data = write_dialogues(tmp_path / "data")
    out = tmp_path / "run"
    summary = train_lora(settings(data, out, steps=20, checkpoint_every=10, eval_every=5, lr=3e-2, rank=4),
                         base=tiny_bundle(), quiet=True)
    log = json.loads((out / "loss.json").read_text())
    first, last = log["train"][0]["loss"], summary["train_loss_last"]
    assert last < first * 0.6, (first, last)
    assert len(log["valid"]) >= 3 and summary["valid_loss"] < log["valid"][0]["valid_loss"] + 1e-9
    assert (out / "loss.png").stat().st_size > 1000 and (out / "train.json").exists()
    assert summary["sequences"] == 24 and summary["skipped_over_max_len"] == 0  # 48 turns packed by dialogue


def test_resuming_with_other_settings_is_refused(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=4, n_valid=0)
    train_lora(settings(data, tmp_path / "run", steps=2), base=tiny_bundle(), quiet=True)
    with pytest.raises(AgentSpecError, match="rank"):
        train_lora(settings(data, tmp_path / "run", steps=4, rank=4), base=tiny_bundle(), quiet=True)
    # --restart starts over instead
    train_lora(settings(data, tmp_path / "run", steps=2, rank=4, restart=True), base=tiny_bundle(), quiet=True)


def test_layers_adapts_only_the_top_layers(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=4, n_valid=0)
    train_lora(settings(data, tmp_path / "top", steps=2, layers=1), base=tiny_bundle(), quiet=True)
    weights = adapter(tmp_path / "top")
    assert len(weights) == 1 * 4 * 2 and all(".layers.1." in k for k in weights)  # the top one of 2 layers
    with pytest.raises(AgentSpecError, match="decoder layers"):
        train_lora(settings(data, tmp_path / "bad", steps=2, layers=3), base=tiny_bundle(), quiet=True)


def test_an_explicit_steps_on_resume_extends_the_run(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=4, n_valid=0)
    train_lora(settings(data, tmp_path / "run", steps=2), base=tiny_bundle(), quiet=True)
    summary = train_lora(settings(data, tmp_path / "run", steps=4), base=tiny_bundle(), quiet=True)
    log = json.loads((tmp_path / "run" / "loss.json").read_text())
    assert summary["steps"] == 4 and [r["step"] for r in log["train"]] == [1, 2, 3, 4]
