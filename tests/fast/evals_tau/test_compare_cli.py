"""Comparing two runs, and the `agentspec eval` commands through click's CliRunner."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from tau_fixture import REAL_DB, write_episodes

from agentspec.evals.agents import AgentUnavailableError, make_agent
from agentspec.evals.cli import eval_group
from agentspec.evals.report import compare_runs, comparison_markdown, print_comparison


@pytest.fixture
def two_runs(tmp_path):
    # Run B succeeds on 3 more of 4 tasks x 2 trials; the category "cancel" holds all of them.
    a = write_episodes(tmp_path / "a", {"0": [1.0, 0.0], "1": [0.0, 0.0], "2": [1.0, 1.0], "3": [0.0, 1.0]})
    b = write_episodes(tmp_path / "b", {"0": [1.0, 1.0], "1": [1.0, 0.0], "2": [1.0, 1.0], "3": [1.0, 1.0]})
    return a, b


def test_compare_side_by_side_with_differences(two_runs):
    a, b = two_runs
    table = compare_runs(a, b, n_boot=500)
    pass1 = table["passk"]["pass_hat_k"]["1"]
    assert (pass1["a"], pass1["b"]) == (0.5, 0.875) and pass1["diff"] == pytest.approx(0.375)
    assert 0 < pass1["p_value"] <= 1 and pass1["ci"][0] <= 0.375 <= pass1["ci"][1]
    pass2 = table["passk"]["pass_hat_k"]["2"]
    assert (pass2["a"], pass2["b"]) == (0.25, 0.75)
    assert table["categories"]["cancel"] == {"a": 0.5, "b": 0.875, "diff": pytest.approx(0.375)}
    assert table["metrics"]["valid_step_share"]["diff"] > 0
    md = comparison_markdown(table)
    assert "| pass^1 | 0.500 | 0.875 | +0.375 |" in md and "| success: cancel |" in md


def test_compare_same_run_is_no_difference(two_runs):
    a, _ = two_runs
    table = compare_runs(a, a, n_boot=200)
    assert all(row["diff"] == 0 and row["p_value"] == 1.0 for row in table["passk"]["pass_hat_k"].values())


def test_rich_rendering_and_cli_compare(two_runs):
    from rich.console import Console

    a, b = two_runs
    console = Console(record=True, width=140, file=io.StringIO())
    print_comparison(compare_runs(a, b, n_boot=200), console)
    text = console.export_text()
    assert "pass^1" in text and "0.875" in text and "+0.375" in text
    result = CliRunner().invoke(eval_group, ["compare", str(a), str(b), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| pass^2 | 0.250 | 0.750 | +0.500 |" in result.output


def test_cli_generate_then_tau_oracle_json(tmp_path):
    runner = CliRunner()
    suite = tmp_path / "suite"
    result = runner.invoke(eval_group, ["generate", "--db", str(REAL_DB), "--out", str(suite), "--n", "4",
                                        "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "Wrote 4 tasks" in result.output and (suite / "user_split.json").is_file()
    result = runner.invoke(eval_group, ["tau", str(suite / "tasks.json"), "--db", str(REAL_DB), "--agent",
                                        "oracle", "--trials", "2", "--limit", "3", "--out", str(tmp_path / "run"),
                                        "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pass_hat_k"] == {"1": 1.0, "2": 1.0} and report["pass_at_k"]["2"] == 1.0
    assert (report["n_tasks"], report["trials"]) == (3, 2)
    assert (tmp_path / "run" / "report.md").is_file()


def test_spec_agent_missing_is_a_clear_error(tmp_path):
    # The graph agent exists now (agentspec.evals.spec_agent): a spec that is not there is what fails.
    from agentspec.spec import SpecError

    with pytest.raises(SpecError, match="no spec file 'no-such.yaml'"):
        make_agent("spec", spec="no-such.yaml")
    with pytest.raises(AgentUnavailableError, match="needs an agent spec"):
        make_agent("spec")
    with pytest.raises(AgentUnavailableError, match="unknown agent kind"):
        make_agent("gpt")
    result = CliRunner().invoke(eval_group, ["tau", str(tmp_path / "none.json"), "--db", str(REAL_DB)])
    assert result.exit_code != 0  # the task file is missing: a TaskFileError before anything runs


def test_table_puts_several_runs_against_the_first(two_runs, tmp_path):
    from agentspec.evals.table import write_table

    a, b = two_runs
    c = write_episodes(tmp_path / "c", {"0": [0.0, 0.0], "1": [0.0, 0.0], "2": [1.0, 0.0], "3": [0.0, 0.0]})
    table = write_table([a, b, c], tmp_path / "t", ["base", "expert", "worse"], n_boot=300)
    rows = {r["label"]: r for r in table["runs"]}
    assert table["baseline"] == "base" and rows["base"]["vs_baseline"] is None
    assert rows["expert"]["pass_hat_k"]["1"] == 0.875 and rows["expert"]["vs_baseline"]["diff"] == pytest.approx(0.375)
    assert rows["worse"]["vs_baseline"]["diff"] == pytest.approx(-0.375)
    assert rows["expert"]["categories"] == {"cancel": 0.875}
    saved = json.loads((tmp_path / "t" / "table.json").read_text())
    assert [r["label"] for r in saved["runs"]] == ["base", "expert", "worse"]
    md = (tmp_path / "t" / "table.md").read_text()
    assert "| expert | 0.875 | 0.750 |" in md and "| cancel | 0.500 | 0.875 | 0.125 |" in md
    assert (tmp_path / "t" / "table.png").stat().st_size > 5000

    result = CliRunner().invoke(eval_group, ["table", str(a), str(b), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "pass^1 vs a" in result.output and (tmp_path / "cli" / "table.png").is_file()


def test_table_of_runs_with_different_trial_counts(two_runs, tmp_path):
    # A 1-trial ablation next to 2-trial runs: its pass^2 is "-" in the table and absent from the plot.
    from agentspec.evals.table import write_table

    a, b = two_runs
    one = write_episodes(tmp_path / "one", {"0": [1.0], "1": [0.0], "2": [1.0], "3": [0.0]})
    table = write_table([a, one, b], tmp_path / "t", ["base", "one trial", "expert"], n_boot=200)
    assert "2" not in table["runs"][1]["pass_hat_k"] and table["runs"][1]["pass_hat_k"]["1"] == 0.5
    assert "| one trial | 0.500 | - |" in (tmp_path / "t" / "table.md").read_text()
    assert (tmp_path / "t" / "table.png").stat().st_size > 5000


def test_table_refuses_one_run_mismatched_labels_or_another_suite(two_runs, tmp_path):
    from agentspec.evals.report import ReportError
    from agentspec.evals.table import build_table

    a, b = two_runs
    other = write_episodes(tmp_path / "other", {"9": [1.0, 0.0]})
    with pytest.raises(ReportError, match="at least two runs"):
        build_table([a])
    with pytest.raises(ReportError, match="1 labels for 2 runs"):
        build_table([a, b], ["only"])
    with pytest.raises(ReportError, match="shares no task"):
        build_table([a, other])


@pytest.mark.parametrize("style", ["hard", "fresh"])
def test_cli_generate_hard_suite_is_solvable(tmp_path, style):
    """Every hard task's gold is reachable: the oracle agent passes all nine categories."""
    runner = CliRunner()
    suite = tmp_path / style
    result = runner.invoke(eval_group, ["generate", "--db", str(REAL_DB), "--out", str(suite), "--n", "9",
                                        "--style", style])
    assert result.exit_code == 0, result.output
    result = runner.invoke(eval_group, ["tau", str(suite / "tasks.json"), "--db", str(REAL_DB), "--agent",
                                        "oracle", "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pass_hat_k"] == {"1": 1.0} and report["n_tasks"] == 9
    # --style also takes family:NAME: an unknown style is the generator's clear error, through `agentspec`.
    from agentspec.cli import cli

    result = runner.invoke(cli, ["eval", "generate", "--db", str(REAL_DB), "--out", str(suite), "--n", "9",
                                 "--style", "easy"])
    assert result.exit_code == 2 and "unknown suite style 'easy'" in result.output
    assert "standard, hard, fresh" in result.output and "family:NAME" in result.output
