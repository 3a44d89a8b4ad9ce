"""The BFCL runner with a scripted model: flags per category, prompts, scoring, resume, the CLI."""
from __future__ import annotations

import json

from click.testing import CliRunner

from agentspec.evals import cli as eval_cli
from agentspec.evals.bfcl import BfclCase
from agentspec.evals.bfcl_runner import case_flags, case_messages, case_tools, run_bfcl
from agentspec.runtime.scripted import ScriptedChatModel

FN = {"name": "get_weather", "description": "Weather for a city.",
      "parameters": {"type": "dict", "required": ["city"],
                     "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1}}}}
SIMPLE = BfclCase("live_simple_0-0-0", [{"role": "user", "content": "Weather in Paris?"}], [FN],
                  [{"get_weather": {"city": ["Paris"], "days": ["", 1]}}])
SIMPLE2 = BfclCase("live_simple_1-1-0", [{"role": "user", "content": "Weather in Rome for 3 days?"}], [FN],
                   [{"get_weather": {"city": ["Rome"], "days": [3]}}])
IRRELEVANT = BfclCase("live_irrelevance_0-0-0", [{"role": "user", "content": "Tell me a joke"}], [FN], None)


def call(city: str, **extra) -> str:
    return json.dumps({"calls": [{"name": "get_weather", "arguments": {"city": city, **extra}}]})


def test_flags_and_prompt_follow_the_category():
    assert case_flags(SIMPLE) == {"allow_reply": False, "require_tool": True, "parallel": False}
    assert case_flags(IRRELEVANT)["allow_reply"] is True
    tools = case_tools(SIMPLE)
    assert tools[0].parameters["type"] == "object"  # BFCL "dict" converted
    msgs = case_messages(SIMPLE, tools, case_flags(SIMPLE))
    assert msgs[0]["role"] == "system" and "get_weather" in msgs[0]["content"] and msgs[1:] == SIMPLE.messages
    assert '{"reply"' not in msgs[0]["content"]


def test_run_scores_retries_and_resumes(tmp_path):
    model = ScriptedChatModel(["Sure, Paris!", call("Paris"), call("Milan", days=3), '{"reply": "no tool fits"}'])
    out = tmp_path / "preds.jsonl"
    report = run_bfcl([SIMPLE, SIMPLE2, IRRELEVANT], model, out=out)
    assert report["n"] == 3 and report["mode"] == "validate" and report["constrained"] is False
    assert abs(report["accuracy"] - 2 / 3) < 1e-9 and report["valid_rate"] == 1.0
    assert report["errors"]["value_error"] == 1 and report["retried"] == 1
    assert report["malformed_attempts"] == {"not_json": 1}
    # Resume: every case is in the file, so nothing is decoded again (the model has no replies left).
    again = run_bfcl([SIMPLE, SIMPLE2, IRRELEVANT], ScriptedChatModel(), out=out)
    assert again["accuracy"] == report["accuracy"]


def test_persistently_malformed_is_a_parse_error():
    report = run_bfcl([SIMPLE], ScriptedChatModel(default_reply="I don't know"), max_attempts=2)
    assert report["errors"]["parse_error"] == 1 and report["valid_rate"] == 0.0


def test_cli_json_is_the_last_line(tmp_path, monkeypatch):
    q, a = tmp_path / "q.json", tmp_path / "a.json"
    q.write_text(json.dumps({"id": SIMPLE.id, "question": [SIMPLE.messages], "function": [FN]}) + "\n")
    a.write_text(json.dumps({"id": SIMPLE.id, "ground_truth": SIMPLE.ground_truth}) + "\n")
    import agentspec.runtime.registry as registry

    monkeypatch.setattr(registry, "load_model", lambda *args, **kw: ScriptedChatModel([call("Paris")]))
    result = CliRunner().invoke(eval_cli.eval_group, ["bfcl", str(q), "--answers", str(a), "--json", "--model", "x",
                                                      "--backend", "scripted"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["n"] == 1 and summary["accuracy"] == 1.0 and summary["valid_rate"] == 1.0
    assert set(summary["errors"]) >= {"parse_error", "value_error"}


def test_a_case_that_cannot_be_decoded_is_skipped_and_reported(tmp_path):
    broken = BfclCase("live_simple_2-2-0", [{"role": "user", "content": "?"}],
                      [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "quaternion"}}}}],
                      [{"f": {"x": [1]}}])
    report = run_bfcl([broken, SIMPLE], ScriptedChatModel([call("Paris")]), out=tmp_path / "p.jsonl")
    assert report["n"] == 2 and report["accuracy"] == 0.5 and report["errors"]["malformed_case"] == 1
    assert report["malformed_cases"][0]["id"] == broken.id and "quaternion" in report["malformed_cases"][0]["reason"]


def test_cli_goes_on_past_a_malformed_line(tmp_path, monkeypatch):
    q, a = tmp_path / "q.json", tmp_path / "a.json"
    q.write_text("{broken\n" + json.dumps({"id": SIMPLE.id, "question": [SIMPLE.messages], "function": [FN]}) + "\n")
    a.write_text(json.dumps({"id": SIMPLE.id, "ground_truth": SIMPLE.ground_truth}) + "\n")
    import agentspec.runtime.registry as registry

    monkeypatch.setattr(registry, "load_model", lambda *args, **kw: ScriptedChatModel([call("Paris")]))
    result = CliRunner().invoke(eval_cli.eval_group, ["bfcl", str(q), "--answers", str(a), "--json", "--model", "x",
                                                      "--backend", "scripted"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["n"] == 2 and summary["accuracy"] == 0.5 and summary["errors"]["malformed_case"] == 1
    assert summary["malformed_cases"][0]["reason"].startswith(f"{q}:1: not valid JSON")


def test_an_irrelevance_file_runs_without_answers_and_other_categories_ask_for_them(tmp_path, monkeypatch):
    import agentspec.runtime.registry as registry

    q = tmp_path / "irrelevance.json"
    q.write_text("".join(json.dumps({"id": f"irrelevance_{i}", "question": [[{"role": "user", "content": text}]],
                                     "function": [FN]}) + "\n" for i, text in enumerate(["Tell me a joke", "Hi"])))
    monkeypatch.setattr(registry, "load_model", lambda *args, **kw: ScriptedChatModel(
        ['{"reply": "No tool fits."}', call("Paris")]))
    result = CliRunner().invoke(eval_cli.eval_group, ["bfcl", str(q), "--json", "--model", "x", "--backend", "scripted"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["n"] == 2 and summary["accuracy"] == 0.5 and summary["errors"]["irrelevance_call"] == 1
    simple = tmp_path / "simple.json"
    simple.write_text(json.dumps({"id": SIMPLE.id, "question": [SIMPLE.messages], "function": [FN]}) + "\n")
    refused = CliRunner().invoke(eval_cli.eval_group, ["bfcl", str(simple), "--model", "x", "--backend", "scripted"])
    assert refused.exit_code == 2 and "pass --answers" in refused.output and "live_simple" in refused.output
