"""Suites of chosen categories (`eval generate --categories`), among them the account's address."""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from click.testing import CliRunner
from tau_fixture import REAL_DB

from agentspec.evals.generate import CATEGORIES, GenerationError, generate_suite
from agentspec.evals.tasks import load_tasks
from agentspec.evals.wording import load_family
from agentspec.tools.retail import RetailStore

ASKED = ("account_address", "modify_address")


def _requests(task) -> list[str]:
    return [line[2:] for line in task.user_scenario.instructions.task_instructions.splitlines()
            if line.startswith("- ")]


@pytest.mark.parametrize("style", ["standard", "family:cedar"])
def test_the_accounts_address_is_a_category_asked_for_by_name(tmp_path, style):
    tasks = generate_suite(REAL_DB, tmp_path, 8, seed=0, style=style, categories=ASKED)
    assert Counter(t.category for t in tasks) == {"account_address": 4, "modify_address": 4}
    db = json.loads(REAL_DB.read_text())
    with RetailStore.from_json(REAL_DB) as base:
        for task in tasks:
            writes = [a for a in task.evaluation_criteria.actions if a.name in RetailStore.WRITE_TOOLS]
            expected = "modify_user_address" if task.category == "account_address" else "modify_pending_order_address"
            assert [w.name for w in writes] == [expected]
            with base.copy() as store:  # the gold runs, and only the account's address changes
                for action in task.evaluation_criteria.actions:
                    assert not store.invoke(action.name, action.arguments).startswith("Error:")
            if task.category == "account_address":
                user = db["users"][writes[0].arguments["user_id"]]
                assert writes[0].arguments["zip"] != user["address"]["zip"] or \
                    writes[0].arguments["address1"] != user["address"]["address1"]
                assert writes[0].arguments["zip"] in _requests(task)[0]  # the new address is said


def test_a_familys_account_address_is_said_in_its_own_sentences(tmp_path):
    tasks = generate_suite(REAL_DB, tmp_path, 6, seed=1, style="family:cedar", categories=("account_address",))
    shapes = [re.compile(".+".join(map(re.escape, template.split("{where}"))) + "$")
              for template in load_family("cedar")["user_address"]]
    for task in tasks:
        said = _requests(task)[0]
        assert any(shape.match(said) for shape in shapes), said
        assert task.evaluation_criteria.actions[-1].arguments["city"] in said


def test_suites_made_without_categories_stay_as_they_were(tmp_path):
    generate_suite(REAL_DB, tmp_path / "a", 18, seed=0)
    generate_suite(REAL_DB, tmp_path / "b", 18, seed=0, categories=CATEGORIES)
    assert (tmp_path / "a" / "tasks.json").read_bytes() == (tmp_path / "b" / "tasks.json").read_bytes()
    assert "account_address" not in {t.category for t in load_tasks(tmp_path / "a" / "tasks.json")}


def test_an_unknown_or_unworded_category_is_a_clear_error(tmp_path):
    with pytest.raises(GenerationError, match="unknown category 'refund'"):
        generate_suite(REAL_DB, tmp_path, 3, categories=("refund",))
    with pytest.raises(GenerationError, match="style 'hard' has no sentences for category 'account_address'"):
        generate_suite(REAL_DB, tmp_path, 3, style="hard", categories=("account_address",))
    from agentspec.cli import cli

    result = CliRunner().invoke(cli, ["eval", "generate", "--db", str(REAL_DB), "--out", str(tmp_path / "c"),
                                      "--n", "4", "--categories", "account_address, refund"])
    assert result.exit_code == 2 and "unknown category 'refund'" in result.output and "account_address" in result.output
    assert not (tmp_path / "c" / "tasks.json").exists()
