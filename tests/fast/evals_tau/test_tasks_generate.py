"""The task format (load/save/splits, errors that name file, task and field) and the suite generator."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tau_fixture import REAL_DB

from agentspec.evals.generate import CATEGORIES, GenerationError, generate_suite
from agentspec.evals.tasks import TaskFileError, load_splits, load_tasks, save_tasks
from agentspec.tools.retail import RetailStore


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite")
    generate_suite(REAL_DB, out, 27, seed=0)
    return out


def test_every_category_is_present_and_balanced(suite):
    tasks = load_tasks(suite / "tasks.json")
    assert [t.id for t in tasks] == [str(i) for i in range(27)]
    assert Counter(t.category for t in tasks) == {c: 3 for c in CATEGORIES}


def test_gold_actions_all_succeed_on_a_fresh_store(suite):
    base = RetailStore.from_json(REAL_DB)
    for task in load_tasks(suite / "tasks.json"):
        actions = task.evaluation_criteria.actions
        writes = [a for a in actions if a.name in RetailStore.WRITE_TOOLS]
        with base.copy() as store:
            for action in actions:
                observation = store.invoke(action.name, action.arguments)
                assert not observation.startswith("Error:"), (task.id, action.name, observation)
        # tau2 shape: identity lookup first, then the user's details.
        assert actions[0].name in RetailStore.AUTH_TOOLS and actions[1].name == "get_user_details"
        if task.category == "forbidden":
            assert writes == []
        elif task.category == "transfer":
            assert actions[-1].name == "transfer_to_human_agents" and writes == []
        elif task.category == "multi_intent":
            assert len(writes) == 2
        else:
            assert len(writes) == 1
        if task.category == "return":
            assert len(task.evaluation_criteria.communicate_info) == 1
    base.close()


def test_users_split_disjoint_and_tasks_follow_their_user(suite):
    users = json.loads((suite / "user_split.json").read_text())
    train, evals = set(users["train_users"]), set(users["eval_users"])
    db = json.loads(REAL_DB.read_text())
    assert not train & evals and train | evals == set(db["users"])
    assert len(evals) == round(0.3 * len(db["users"]))
    splits = load_splits(suite / "split_tasks.json")
    assert splits["test"] and splits["train"]
    for task in load_tasks(suite / "tasks.json"):
        user_id = task.evaluation_criteria.actions[1].arguments["user_id"]
        assert (task.id in splits["test"]) == (user_id in evals)
    test_tasks = load_tasks(suite / "tasks.json", split="test")
    assert [t.id for t in test_tasks] == splits["test"]


def test_same_seed_same_files_other_seed_other_suite(suite, tmp_path):
    generate_suite(REAL_DB, tmp_path / "again", 27, seed=0)
    for name in ("tasks.json", "split_tasks.json", "user_split.json"):
        assert (tmp_path / "again" / name).read_bytes() == (suite / name).read_bytes()
    generate_suite(REAL_DB, tmp_path / "other", 3, seed=1)
    assert (tmp_path / "other" / "tasks.json").read_text() != (suite / "tasks.json").read_text()


def test_scenario_phrasing_is_what_the_scripted_user_parses(suite):
    for task in load_tasks(suite / "tasks.json"):
        inst = task.user_scenario.instructions
        assert inst.known_info.startswith(("Your email is ", "Your name is "))
        if inst.known_info.startswith("Your name is "):
            assert "zip code is" in inst.known_info and "email address" in inst.unknown_info
        requests = [line for line in inst.task_instructions.splitlines() if line.startswith("- ")]
        assert len(requests) == (2 if task.category == "multi_intent" else 1)
        assert requests[0][2:] in inst.reason_for_call


def test_generator_errors_name_the_problem(tmp_path):
    with pytest.raises(GenerationError, match="does not exist"):
        generate_suite(tmp_path / "nope.json", tmp_path / "out", 3)
    with pytest.raises(GenerationError, match="at least one task"):
        generate_suite(REAL_DB, tmp_path / "out", 0)


def test_round_trip_and_tau2_extra_fields(suite, tmp_path):
    tasks = load_tasks(suite / "tasks.json")
    raw = json.loads((suite / "tasks.json").read_text())
    raw[0]["initial_state"] = None  # tau2 writes fields we do not use; they must load and survive
    raw[0]["id"] = 0
    (tmp_path / "t.json").write_text(json.dumps(raw))
    loaded = load_tasks(tmp_path / "t.json")
    assert loaded[0].id == "0" and loaded[0].model_extra == {"initial_state": None}
    save_tasks(tasks, tmp_path / "copy" / "tasks.json", {"train": ["0"], "test": ["1"]})
    assert load_tasks(tmp_path / "copy" / "tasks.json") == tasks
    assert [t.id for t in load_tasks(tmp_path / "copy" / "tasks.json", split="test")] == ["1"]


def test_malformed_files_name_file_task_and_field(suite, tmp_path):
    raw = json.loads((suite / "tasks.json").read_text())
    del raw[2]["user_scenario"]["instructions"]["reason_for_call"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(TaskFileError) as err:
        load_tasks(bad)
    assert str(bad) in err.value.message and "task '2'" in err.value.message
    assert "user_scenario.instructions" in err.value.message and "reason_for_call" in err.value.message

    raw = json.loads((suite / "tasks.json").read_text())
    raw[1]["evaluation_criteria"]["comunicate_info"] = []  # a typo must not pass silently
    bad.write_text(json.dumps(raw))
    with pytest.raises(TaskFileError, match="comunicate_info"):
        load_tasks(bad)

    raw[1] = dict(raw[0])
    bad.write_text(json.dumps(raw))
    with pytest.raises(TaskFileError, match="duplicate task id"):
        load_tasks(bad)

    bad.write_text("{not json")
    with pytest.raises(TaskFileError, match="not valid JSON"):
        load_tasks(bad)
    with pytest.raises(TaskFileError, match="does not exist"):
        load_tasks(tmp_path / "missing.json")
    with pytest.raises(TaskFileError, match="no split 'dev'") as err:
        load_tasks(suite / "tasks.json", split="dev")
    assert "test" in err.value.hint and "train" in err.value.hint
    (tmp_path / "split.json").write_text(json.dumps({"test": ["999"]}))
    with pytest.raises(TaskFileError, match="999"):
        load_tasks(suite / "tasks.json", split_file=tmp_path / "split.json", split="test")
