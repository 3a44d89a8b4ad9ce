"""The expert router: above-chance held-out accuracy, utilisation report, collapse alarm, save/load."""
from __future__ import annotations

import json

import pytest

from agentspec.errors import AgentSpecError
from agentspec.routing.router import Router
from agentspec.train.router import fit_router, train_router
from tiny_lora_fixtures import write_dialogues

EXPERTS = ["returns=return*", "orders=cancel*"]


def test_router_beats_chance_on_held_out_turns(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=40, n_valid=20, seed=3)
    report = train_router(data, EXPERTS, tmp_path / "router")
    assert report["held_out"] and report["eval_turns"] == 40
    assert report["accuracy"] > report["chance"] + 0.2, report
    assert report["collapse"] is False and sum(report["utilisation"].values()) == pytest.approx(1.0)
    assert (tmp_path / "router" / "utilisation.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "router" / "router_report.json").read_text())
    assert saved["accuracy"] == report["accuracy"]

    router = Router.load(tmp_path / "router")
    name, probs = router.route([{"role": "user", "content": "please take back my kettle, it is broken"}])
    assert name == "returns" and probs["returns"] > 0.5
    assert router.route([{"role": "user", "content": "cancel my order with the mug"}])[0] == "orders"


def test_collapse_alarm_fires_when_one_expert_takes_nearly_all_turns(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=40, n_valid=20, seed=3)
    # 'rest=*' catches everything the first expert does not, then a threshold no split can meet.
    report = train_router(data, ["returns=return*", "rest=*"], tmp_path / "r", collapse_at=0.4)
    assert report["collapse"] is True


def test_unmatched_experts_are_a_clear_error(tmp_path):
    data = write_dialogues(tmp_path / "data", n_train=4, n_valid=2)
    with pytest.raises(AgentSpecError, match="match 1 expert"):
        train_router(data, ["returns=return*", "shipping=ship*"], tmp_path / "r")
    with pytest.raises(AgentSpecError, match="two distinct"):
        train_router(data, ["returns"], tmp_path / "r")


def test_router_command(tmp_path):
    from click.testing import CliRunner

    from agentspec.train.cli import train_group

    data = write_dialogues(tmp_path / "data", n_train=20, n_valid=10, seed=5)
    result = CliRunner().invoke(train_group, ["router", "--data", str(data), "--experts", ",".join(EXPERTS),
                                              "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and (tmp_path / "r" / "router.json").exists()


def test_the_vocabulary_does_not_depend_on_the_hash_seed(tmp_path):
    # Features tied in frequency once kept set() order, which PYTHONHASHSEED changes between processes:
    # the same data gave a different router on each run.
    import os
    import subprocess
    import sys

    texts = [f"please {w} my order {i}" for i, w in enumerate(["cancel", "return", "swap", "ship"] * 3)]
    code = ("import json, sys; from agentspec.train.router import fit_router; "
            f"r = fit_router({texts!r}, [0, 1] * 6, ['a', 'b'], max_features=6, epochs=1); print(json.dumps(r.vocab))")
    vocabs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(vocabs) == 1 and len(json.loads(vocabs.pop())) == 6
