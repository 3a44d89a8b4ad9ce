"""The reliability benchmark's reply measure (``measure_answers``) on a toy reply set and a toy yes reading."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "reliability.py"


def _reliability():
    spec = importlib.util.spec_from_file_location("reliability_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replies_are_counted_by_kind_and_again_without_those_in_training(tmp_path):
    path = tmp_path / "replies.yaml"
    path.write_text(yaml.safe_dump({"not_yes": {"questions": ["yes?", "is it sure"], "plain_no": ["No thanks"]},
                                    "clear_yes": {"plain": ["yes", "yep go"], "formal": ["I approve."]}}))
    says_yes = lambda text: text.startswith(("yes", "is"))  # one false yes ("is it sure"), two missed
    out = _reliability().measure_answers(path, says_yes, "set", trained=frozenset({"no thanks", "yep go"}))
    assert (out["set_not_yes"], out["set_false_yes"], out["set_clear_yes"], out["set_yes_missed"]) == (3, 2, 3, 2)
    assert out["set_accuracy"] == round(1 - 4 / 6, 4)
    assert out["set_false_yes_by_kind"] == {"questions": 2} and out["set_yes_missed_by_kind"] == {"plain": 1, "formal": 1}
    assert out["set_in_training"] == 2
    assert (out["set_unseen_not_yes"], out["set_unseen_false_yes"], out["set_unseen_yes_missed"]) == (2, 2, 1)


def test_the_training_sentences_are_the_training_families_casefolded():
    trained = _reliability().trained_sentences()
    from agentspec.evals.wording import load_family

    some = load_family("alder")["no"][0]
    assert some.casefold().strip() in trained
    assert all(t == t.casefold().strip() for t in list(trained)[:200])


def test_per_kind_reads_only_the_first_replies_of_each_kind(tmp_path):
    path = tmp_path / "replies.yaml"
    path.write_text(yaml.safe_dump({"not_yes": {"questions": ["yes?", "is it sure", "why"], "plain_no": ["no"]},
                                    "clear_yes": ["yes", "yep", "sure"]}))
    read: list[str] = []
    out = _reliability().measure_answers(path, lambda text: read.append(text) or False, "set", per_kind=2)
    assert sorted(read) == sorted(["yes?", "is it sure", "no", "yes", "yep"])  # "why" and "sure" are left
    assert (out["set_not_yes"], out["set_clear_yes"], out["set_yes_missed"]) == (3, 2, 2)
