"""Generated function-calling cases (BFCL's format, per category), their training examples, and the
per-category BFCL report over a folder of category files."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.decoding.steps import parse_step
from agentspec.evals.bfcl import BfclCase, load_bfcl, score
from agentspec.evals.bfcl_runner import case_tools
from agentspec.evals.fc_suite import (CATEGORIES, FcPoolError, generate_cases, load_pool, training_examples,
                                      write_bfcl_set)
from agentspec.runtime.scripted import ScriptedChatModel


@pytest.fixture(scope="module")
def pools():
    return {name: load_pool(name) for name in ("train", "test")}


def _gold_predictions(cases):
    """What a perfect model answers: the first accepted value of every parameter that must be given."""
    out = []
    for case in cases:
        calls = [] if case.ground_truth is None else [
            {"name": name, "arguments": {k: v[0] for k, v in params.items() if v[0] != ""}}
            for entry in case.ground_truth for name, params in entry.items()]
        out.append({"calls": calls, "parse_error": None})
    return out


def test_the_packaged_pools_load_and_share_no_function(pools):
    train, test = pools["train"], pools["test"]
    assert test.heldout and not train.heldout
    assert not {f["name"] for f in train.functions} & {f["name"] for f in test.functions}
    assert len(test.functions) >= 12 and len(test.irrelevant) >= 30 and train.declines


@pytest.mark.parametrize("pool_name", ["train", "test"])
def test_every_category_is_well_formed_bfcl_that_its_own_answers_pass(pools, pool_name, tmp_path):
    paths = write_bfcl_set(pools[pool_name], tmp_path, 25, seed=3)
    assert set(paths) == set(CATEGORIES)
    assert not (tmp_path / "possible_answer" / "BFCL_v4_irrelevance.json").exists()
    for category, path in paths.items():
        answers = None if category == "irrelevance" else tmp_path / "possible_answer" / path.name
        cases = load_bfcl(path, answers)
        assert len(cases) == 25 and all(c.category == category for c in cases)
        report = score(cases, _gold_predictions(cases))
        assert report["accuracy"] == 1.0, (category, [r for r in report["per_case"] if not r["valid"]][:2])
        wrong = [{"calls": [], "parse_error": None} if c.ground_truth else
                 {"calls": [{"name": c.functions[0]["name"], "arguments": {}}], "parse_error": None} for c in cases]
        assert score(cases, wrong)["accuracy"] == 0.0  # the check can fail


def test_categories_have_their_shape_and_the_seed_decides(pools):
    pool = pools["train"]
    parallel = generate_cases(pool, "parallel", 20, seed=1)
    assert all(len(c.calls) >= 2 and len({n for n, _ in c.calls}) == 1 for c in parallel)
    both = generate_cases(pool, "parallel_multiple", 20, seed=1)
    assert all(len({n for n, _ in c.calls}) >= 2 and len(c.offered) > len(c.calls) for c in both)
    assert all(len(c.offered) >= 2 and len(c.calls) == 1 for c in generate_cases(pool, "multiple", 20, seed=1))
    assert all(not c.calls for c in generate_cases(pool, "irrelevance", 20, seed=1))
    assert generate_cases(pool, "simple", 10, seed=4) == generate_cases(pool, "simple", 10, seed=4)
    assert generate_cases(pool, "simple", 10, seed=4) != generate_cases(pool, "simple", 10, seed=5)


@pytest.mark.parametrize("broken, says", [
    ("    questions: ['Weather please.']", r"leaves out \['city'\]"),
    ("    questions: ['Weather in {city} {town}']", "unknown or repeated"),
    ("    questions: ['Weather in {city}, {metric}']", "boolean slot"),
])
def test_a_pool_that_breaks_a_rule_is_an_error_naming_it(tmp_path, broken, says):
    pool = tmp_path / "p.yaml"
    pool.write_text("\n".join([
        "name: p", "functions:", "  - name: weather", "    description: d", "    parameters:",
        "      city: {type: string, required: true, values: [Oslo, Rome]}",
        "      metric: {type: boolean, required: false, default: true}", broken,
        "irrelevant: ['a poem']", "joins: ['{a} and {b}']"]))
    with pytest.raises(FcPoolError, match=says) as caught:
        load_pool(pool)
    assert "weather" in caught.value.message


def test_training_examples_are_valid_steps_that_teach_parallel_calls_and_declines(pools):
    examples = training_examples(pools["train"], CATEGORIES, 6, seed=2)
    assert len(examples) == 6 * len(CATEGORIES)
    for ex in examples:
        system = ex["messages"][0]["content"]
        assert "Several independent calls" in system and '{"reply"' in system  # the free step's prompt
        functions = [json.loads(line) for line in system.splitlines() if line.startswith('{"name"')]
        tools = case_tools(BfclCase("x_0", [], [dict(f, parameters=f["parameters"]) for f in functions]))
        step = parse_step(ex["target"], tools)
        if ex["intent"] == "irrelevance":
            assert step.is_reply
        else:
            assert len(step.calls) >= (2 if ex["intent"].startswith("parallel") else 1)


def test_train_fc_data_refuses_the_held_out_pool(tmp_path):
    result = CliRunner().invoke(cli, ["train", "fc-data", "--out", str(tmp_path / "d"), "--n", "2", "--pool", "test"])
    assert result.exit_code != 0 and "held out" in result.output
    ok = CliRunner().invoke(cli, ["train", "fc-data", "--out", str(tmp_path / "d"), "--n", "4",
                                  "--categories", "parallel,irrelevance"])
    assert ok.exit_code == 0, ok.output
    rows = [json.loads(line) for line in (tmp_path / "d" / "train.jsonl").read_text().splitlines()]
    assert {r["intent"] for r in rows} <= {"parallel", "irrelevance"} and len(rows) == 8


def test_eval_bfcl_reports_every_category_of_a_folder(tmp_path, monkeypatch):
    import agentspec.runtime.registry as registry

    data = tmp_path / "set"
    CliRunner().invoke(cli, ["eval", "bfcl-generate", "--out", str(data), "--pool", "train", "--n", "3"])
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: ScriptedChatModel(
        default_reply='{"reply": "None of the functions fits."}'))
    result = CliRunner().invoke(cli, ["eval", "bfcl", str(data), "--steps", "free", "--model", "x", "--backend",
                                      "scripted", "--report", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report["categories"]) == set(CATEGORIES) and report["n"] == 15
    assert report["categories"]["irrelevance"]["accuracy"] == 1.0
    assert report["categories"]["parallel"]["accuracy"] == 0.0 and report["steps"] == "free"
    assert report["category_mean"] == pytest.approx(0.2)
    for name in ("report.json", "report.md", "report.png", "predictions/BFCL_v4_simple.jsonl"):
        assert (tmp_path / "r" / name).stat().st_size > 0
    assert "| parallel_multiple | 3 | 0.000 |" in (tmp_path / "r" / "report.md").read_text()


def test_eval_bfcl_names_a_file_without_its_answers(tmp_path, monkeypatch):
    import agentspec.runtime.registry as registry

    data = tmp_path / "set"
    CliRunner().invoke(cli, ["eval", "bfcl-generate", "--out", str(data), "--n", "2", "--categories", "simple"])
    (data / "possible_answer" / "BFCL_v4_simple.json").unlink()
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: ScriptedChatModel())
    result = CliRunner().invoke(cli, ["eval", "bfcl", str(data), "--model", "x", "--backend", "scripted"])
    assert result.exit_code == 2 and "BFCL_v4_simple.json" in result.output and "--answers" in result.output
