"""The multi-session memory suite's tasks: split by user and by wording, gold calls that replay, stale checks."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from agentspec.evals._memory_tasks import PREFER, SAME_ADDRESS, SAME_PREFERRED, SAME_REFUND
from agentspec.evals.memory_suite import (_stale_uses, generate_memory_suite, load_memory_suite, save_memory_suite,
                                          summarize_memory_runs)
from agentspec.tools.retail import RetailStore


DB = Path(__file__).resolve().parents[4] / "shared" / "data" / "tau2-retail" / "db.json"


@pytest.fixture(scope="module")
def suite():
    assert DB.is_file(), f"shared data not found at {DB}"
    return DB, generate_memory_suite(DB, 16, seed=0)


def test_tasks_split_by_user_and_by_wording(suite):
    _, tasks = suite
    dev = [t for t in tasks if t.split == "dev"]
    test = [t for t in tasks if t.split == "test"]
    assert len(dev) == len(test) == 8 and {t.kind for t in test} == {"address", "address_stale", "refund", "preference"}
    assert not {t.user_id for t in dev} & {t.user_id for t in test}
    def wording(t, split):
        opening = t.second.user_scenario.instructions.reason_for_call
        lists = SAME_ADDRESS if t.kind.startswith("address") else SAME_PREFERRED if t.kind == "preference" else SAME_REFUND
        return [w for w in lists[split] if w.split("{")[0].strip() and w.split("{")[0] in opening]
    assert all(wording(t, "test") and not wording(t, "dev") for t in test)
    assert all(wording(t, "dev") and not wording(t, "test") for t in dev)


def test_every_task_replays_and_the_customer_forgets_the_fact(suite):
    db, tasks = suite
    with RetailStore.from_json(db) as base:
        for task in tasks:
            with base.copy() as store:
                for action in task.combined().evaluation_criteria.actions:
                    assert not store.invoke(action.name, action.arguments).startswith("Error"), (task.id, action)
            assert "You do not remember" in task.second.user_scenario.instructions.unknown_info
            assert bool(task.between) == bool(task.forbidden) == (task.kind == "address_stale")


def test_a_preference_task_states_it_without_a_write_and_needs_it_for_a_refund_off_the_original(suite):
    db, tasks = suite
    import json

    orders = json.loads(Path(db).read_text())["orders"]
    preferences = [t for t in tasks if t.kind == "preference"]
    assert preferences
    for task in preferences:
        opening = task.first.user_scenario.instructions.reason_for_call
        assert any(w.split("{")[0] in opening for w in PREFER[task.split])
        assert [a.name for a in task.first.evaluation_criteria.actions][1:] == ["get_user_details"]  # no write
        (ret,) = [a for a in task.second.evaluation_criteria.actions if a.name == "return_delivered_order_items"]
        paid = orders[ret.arguments["order_id"]]["payment_history"][0]["payment_method_id"]
        assert ret.arguments["payment_method_id"].startswith("gift_card_") and paid != ret.arguments["payment_method_id"]


def test_generation_is_deterministic_and_round_trips(suite, tmp_path):
    db, tasks = suite
    assert [t.model_dump() for t in generate_memory_suite(db, 16, seed=0)] == [t.model_dump() for t in tasks]
    save_memory_suite(tasks, tmp_path / "s.json")
    assert [t.id for t in load_memory_suite(tmp_path / "s.json", "test")] == [t.id for t in tasks if t.split == "test"]


def test_a_write_with_the_stale_address_counts_as_a_stale_use(suite):
    _, tasks = suite
    stale = next(t for t in tasks if t.kind == "address_stale")
    bad = dict(stale.forbidden[0], order_id="#W1")
    call = lambda args, outcome="ok": SimpleNamespace(name="modify_pending_order_address", arguments=args, outcome=outcome)
    turns = [SimpleNamespace(tool_calls=[call(bad), call(bad, "error"), call({"address1": "elsewhere"})])]
    assert _stale_uses(stale, turns) == 1


def test_summary_gives_pass1_per_arm_and_kind():
    records = [{"arm": arm, "task_id": f"m{i}", "kind": "address" if i % 2 else "refund", "reward": float(arm == "memory"),
                "stale_uses": 0, "turn_seconds": [1.0, 2.0]} for arm in ("memory", "none") for i in range(4)]
    summary = summarize_memory_runs(records)
    assert summary["memory"]["pass_hat_1"]["value"] == 1.0 and summary["none"]["pass_hat_1"]["value"] == 0.0
    assert set(summary["memory"]["kinds"]) == {"address", "refund"} and summary["memory"]["stale_uses"] == 0


def test_a_run_folder_refuses_another_suite_db_or_spec_but_takes_more_tasks(suite, tmp_path):
    from agentspec.evals.harness import RunDirMismatchError
    from agentspec.evals.memory_suite import _check_identity
    from agentspec.spec import load_spec

    db, tasks = suite
    spec = load_spec("retail")
    options = {"max_turns": 16, "varied": True, "seed": 0}
    _check_identity(tmp_path, tasks[:4], db, spec, **options)
    _check_identity(tmp_path, tasks[:8], db, spec, **options)  # more tasks join the same run
    edited = [tasks[0].model_copy(update={"kind": "refund"}), *tasks[1:4]]
    with pytest.raises(RunDirMismatchError) as err:
        _check_identity(tmp_path, edited, db, spec, **options)
    assert "task m0" in err.value.message and "run.json" in err.value.hint
    with pytest.raises(RunDirMismatchError):
        _check_identity(tmp_path, tasks[:4], db, load_spec("retail-base"), **options)
    with pytest.raises(RunDirMismatchError):
        _check_identity(tmp_path, tasks[:4], db, spec, **{**options, "varied": False})
