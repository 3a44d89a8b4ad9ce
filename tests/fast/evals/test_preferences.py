"""``agentspec eval memory preferences``: the reader's keep-for-later head on a set of messages, counts
only (the fast tier's keyword reader reads "from now on" and the like as a lasting preference)."""
from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from agentspec.cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, ["eval", "memory", "preferences", *args])


def test_counts_kept_preferences_and_false_keeps_by_kind(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({
        "remember": ["From now on refunds to my PayPal", "always my Visa please", "put it on my gift card"],
        "not_remember": [{"kind": "past", "text": "I paid with PayPal"},
                         {"kind": "negated", "text": "don't use PayPal from now on"},
                         {"kind": "chatter", "text": "thanks!"}]}))
    result = _run("--set", str(path))
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert (out["preferences"], out["kept"], out["not_preferences"], out["false_keeps"]) == (3, 2, 3, 1)
    assert out["false_keeps_by_kind"] == {"chatter": 0, "negated": 1, "past": 0}
    assert out["accuracy"] == round(4 / 6, 4) and 0 < out["recall_ci"][0] < 2 / 3 < out["recall_ci"][1]
    assert "PayPal" not in result.output  # counts only: the set's texts are never printed


def test_a_malformed_set_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("remember: [a]\n")
    result = _run("--set", str(path))
    assert result.exit_code != 0 and "not a preference set" in result.output and "not_remember" in result.output
    assert "Traceback" not in result.output


def test_the_packaged_blind_sets_load(tmp_path):
    from agentspec.evals.preferences import HOLDOUT

    for path in (HOLDOUT, HOLDOUT.with_name("preferences_holdout2.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["heldout"] is True and len(data["remember"]) >= 120 and len(data["not_remember"]) >= 200
