"""tau2's task semantics: reference calls that fail, reward bases, and the retail store's tau2 behaviour.

The expected values are worked out by hand from tau2's documented environment (its retail tools): a
reference call that raises changes nothing and the replay goes on; ``modify_pending_order_items`` sums
the price difference in floats, records it unrounded, rounds a gift card's balance after paying it,
and gives every modified item the price and options of the call's last new variant.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tau_fixture import REAL_DB, scenario

from agentspec.cli import cli
from agentspec.evals.agents import AgentFactory
from agentspec.evals.harness import UserFactory, run_suite
from agentspec.evals.reward import GoldReplayError, Rewarder
from agentspec.evals.tasks import Action, EvaluationCriteria, Task, save_tasks
from agentspec.tools.retail import RetailStore

# ethan_lopez_6291's pending order, paid with gift_card_7219486 (balance 49.0): a Dumbbell Set
# (7896397433, 457.81) and an Espresso Machine (3379843752, 3203.76).
USER, EMAIL, ORDER, GIFT_CARD = "ethan_lopez_6291", "ethan.lopez8943@example.com", "#W6779827", "gift_card_7219486"
DUMBBELL, NEW_DUMBBELL = "7896397433", "2444431651"  # new variant: 534.84
ESPRESSO, NEW_ESPRESSO = "3379843752", "3709608322"  # new variant: 2744.7
NEW_ESPRESSO_OPTIONS = {"pressure": "9 bar", "capacity": "2L", "type": "automatic"}
NEW_DUMBBELL_OPTIONS = {"weight range": "55-75 lbs", "material": "iron", "set type": "fixed"}
MODIFY_BOTH = {"order_id": ORDER, "item_ids": [DUMBBELL, ESPRESSO], "new_item_ids": [NEW_DUMBBELL, NEW_ESPRESSO],
               "payment_method_id": GIFT_CARD}


def _action(i: int, name: str, **arguments) -> Action:
    return Action(action_id=f"t_{i}", name=name, arguments=arguments)


# A reference trajectory with the four kinds of failing call tau2's own tasks hold, then the write.
FAILING_THEN_WRITE = [
    _action(0, "find_user_id_by_email", email="ethan.lopez8934@example.com"),  # mistyped email
    _action(1, "find_user_id_by_email", email=EMAIL),
    _action(2, "get_order_details", order_id="#6779827"),  # order id without its letter
    _action(3, "get_order_details", order_id=ORDER),
    _action(4, "exchange_delivered_order_items", order_id=ORDER, item_ids=[DUMBBELL],
            new_item_ids=[NEW_DUMBBELL], payment_method_id=GIFT_CARD),  # an exchange on a pending order
    _action(5, "modify_pending_order_items", order_id=ORDER, item_ids=[DUMBBELL], new_item_ids=[NEW_DUMBBELL],
            payment_method_id=GIFT_CARD),  # +77.03 on a gift card holding 49.0: too small
    _action(6, "modify_pending_order_items", **MODIFY_BOTH),
]


def _task(actions, tid="t", info=(), basis=None, category=None) -> Task:
    return Task(id=tid, user_scenario=scenario(
        reason=f"I want to change the items of my order {ORDER}.",
        known=f"Your email is {EMAIL}. Your order id is {ORDER}."),
        evaluation_criteria=EvaluationCriteria(actions=list(actions), communicate_info=list(info),
                                               reward_basis=basis), category=category)


@pytest.fixture(scope="module")
def bases():
    with RetailStore.from_json(REAL_DB) as corrected, RetailStore.from_json(REAL_DB, behaviour="tau2") as tau2:
        yield {"corrected": corrected, "tau2": tau2}


def _after(base: RetailStore, calls) -> dict:
    with base.copy() as store:
        for name, arguments in calls:
            store.invoke(name, arguments)
        return store.to_json()


# ---- the store's two behaviours --------------------------------------------------------------------

def _modified_both(base: RetailStore):
    """(the order, its gift card, its items by id) after MODIFY_BOTH on a copy of ``base``."""
    state = _after(base, [("modify_pending_order_items", MODIFY_BOTH)])
    order = state["orders"][ORDER]
    return order, state["users"][USER]["payment_methods"][GIFT_CARD], {i["item_id"]: i for i in order["items"]}


def test_tau2_behaviour_gives_every_item_the_last_variant_and_keeps_float_noise(bases):
    order, card, items = _modified_both(bases["tau2"])
    assert items[NEW_DUMBBELL]["price"] == 2744.7 and items[NEW_DUMBBELL]["options"] == NEW_ESPRESSO_OPTIONS
    assert items[NEW_ESPRESSO]["price"] == 2744.7 and items[NEW_ESPRESSO]["options"] == NEW_ESPRESSO_OPTIONS
    # (534.84 - 457.81) + (2744.7 - 3203.76) in Python floats, recorded as abs() without rounding.
    assert order["payment_history"][-1] == {"transaction_type": "refund", "amount": 382.03000000000037,
                                            "payment_method_id": GIFT_CARD}
    assert card["balance"] == 431.03  # round(49.0 + 382.03000000000037, 2)
    assert order["status"] == "pending (item modified)"


def test_corrected_behaviour_gives_each_item_its_own_variant_in_exact_cents(bases):
    order, card, items = _modified_both(bases["corrected"])
    assert items[NEW_DUMBBELL]["price"] == 534.84 and items[NEW_DUMBBELL]["options"] == NEW_DUMBBELL_OPTIONS
    assert items[NEW_ESPRESSO]["price"] == 2744.7 and items[NEW_ESPRESSO]["options"] == NEW_ESPRESSO_OPTIONS
    assert order["payment_history"][-1]["amount"] == 382.03
    assert card["balance"] == 431.03


def _cents(value):
    """``value`` with every float rounded to 2 decimals (tau2's float noise taken out)."""
    if isinstance(value, dict):
        return {k: _cents(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cents(v) for v in value]
    return round(value, 2) if isinstance(value, float) else value


def test_the_two_behaviours_agree_up_to_float_noise_wherever_tau2_has_no_bug(bases):
    one_item = {"order_id": ORDER, "item_ids": [ESPRESSO], "new_item_ids": [NEW_ESPRESSO],
                "payment_method_id": GIFT_CARD}
    calls = [("modify_pending_order_items", one_item), ("cancel_pending_order",
                                                         {"order_id": "#W2974929", "reason": "no longer needed"})]
    tau2, corrected = _after(bases["tau2"], calls), _after(bases["corrected"], calls)
    assert tau2 != corrected  # 2744.7 - 3203.76 is -459.0600000000004 in floats
    assert _cents(tau2) == _cents(corrected)


def test_the_behaviour_survives_copies_and_reopening(bases, tmp_path):
    with bases["tau2"].copy(tmp_path / "a.sqlite") as copy:
        assert copy.behaviour == "tau2"
    with RetailStore.open(tmp_path / "a.sqlite") as reopened:
        assert reopened.behaviour == "tau2"
    assert bases["corrected"].behaviour == "corrected"
    with pytest.raises(ValueError, match="tau2"):
        RetailStore.from_json(REAL_DB, behaviour="tau3")


# ---- reference calls that fail ---------------------------------------------------------------------

@pytest.mark.parametrize("behaviour", ["corrected", "tau2"])
def test_failing_reference_calls_are_observations_that_change_nothing(bases, behaviour):
    base = bases[behaviour]
    rewarder = Rewarder(base)
    task = _task(FAILING_THEN_WRITE)
    with base.copy() as agent:
        agent.invoke("modify_pending_order_items", MODIFY_BOTH)  # the agent did only the write that works
        result = rewarder.score(task, agent, ["done"])
    assert result.reward == 1.0 and result.db_match, result.reasons
    failed = [(f["action_id"], f["mutating"]) for f in result.gold_failures]
    assert failed == [("t_0", False), ("t_2", False), ("t_4", True), ("t_5", True)]
    assert "Insufficient gift card balance" in result.gold_failures[3]["error"]


def test_an_agent_that_skips_the_write_still_fails(bases):
    rewarder = Rewarder(bases["tau2"])
    with bases["tau2"].copy() as agent:
        result = rewarder.score(_task(FAILING_THEN_WRITE), agent, ["done"])
    assert result.reward == 0.0 and f"orders {ORDER}" in result.reasons[0]


@pytest.mark.parametrize("action, says", [
    (_action(9, "refund_everything", order_id=ORDER), "'refund_everything'"),
    (_action(9, "get_order_details", order=ORDER), "unknown argument"),
    (_action(9, "cancel_pending_order", order_id=ORDER), "missing required argument"),
])
def test_a_call_the_toolkit_cannot_run_is_an_error_naming_task_and_call(bases, action, says):
    task = _task([*FAILING_THEN_WRITE[:2], action], tid="broken-7")
    with pytest.raises(GoldReplayError, match="broken-7") as caught:
        Rewarder(bases["tau2"]).check([task])
    assert "t_9" in caught.value.message and says in caught.value.message


def test_a_task_whose_reference_calls_all_fail_does_not_fit_the_db(bases):
    task = _task([_action(0, "find_user_id_by_email", email="nobody@example.com"),
                  _action(1, "get_order_details", order_id="#W0000000")], tid="other-db")
    with pytest.raises(GoldReplayError, match="other-db") as caught:
        Rewarder(bases["corrected"]).check([task])
    assert "does not match this db.json" in caught.value.hint


# ---- reward basis ----------------------------------------------------------------------------------

def test_the_reward_basis_says_which_parts_count(bases):
    rewarder = Rewarder(bases["corrected"])
    write = [_action(0, "modify_pending_order_items", **MODIFY_BOTH)]
    with bases["corrected"].copy() as untouched:
        db_only = rewarder.score(_task(write, info=["382.03"], basis=["DB"]), untouched, ["hello"])
        talk_only = rewarder.score(_task(write, info=["382.03"], basis=["COMMUNICATE"]), untouched,
                                   ["you get 382.03 back"])
        with_nl = rewarder.score(_task([], basis=["DB", "NL_ASSERTION"]), untouched, [])
    assert db_only.reward == 0.0 and not db_only.db_match
    assert talk_only.reward == 1.0 and not talk_only.db_match
    assert with_nl.reward == 1.0 and with_nl.unscored == ["NL_ASSERTION"]


# ---- a tau2-format file, end to end ----------------------------------------------------------------

def test_the_oracle_passes_a_tau2_file_with_failing_reference_calls(tmp_path):
    tasks = [_task(FAILING_THEN_WRITE, tid="0")]
    run = run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), 1, tmp_path / "run", progress=False,
                    behaviour="tau2")
    assert run.summary()["pass_hat_k"] == {"1": 1.0}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["behaviour"] == "tau2"


def test_eval_tau_picks_tau2_for_a_file_agentspec_did_not_write(tmp_path):
    path = tmp_path / "tasks.json"
    save_tasks([_task(FAILING_THEN_WRITE, tid="0")], path)
    result = CliRunner().invoke(cli, ["eval", "tau", str(path), "--db", str(REAL_DB), "--agent", "oracle",
                                       "--out", str(tmp_path / "run"), "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["pass_hat_k"] == {"1": 1.0}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["behaviour"] == "tau2"
    ours = tmp_path / "ours.json"
    save_tasks([_task(FAILING_THEN_WRITE, tid="0", category="modify_items")], ours)
    result = CliRunner().invoke(cli, ["eval", "tau", str(ours), "--db", str(REAL_DB), "--agent", "oracle",
                                       "--out", str(tmp_path / "run2"), "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["behaviour"] == "corrected"


def test_eval_tau_names_a_task_that_does_not_fit_before_running_anything(tmp_path):
    path = tmp_path / "tasks.json"
    save_tasks([_task([_action(0, "refund_everything")], tid="42")], path)
    result = CliRunner().invoke(cli, ["eval", "tau", str(path), "--db", str(REAL_DB), "--agent", "oracle",
                                       "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code != 0 and "task '42'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_the_oracle_passes_a_generated_suite_under_either_behaviour(tmp_path):
    from agentspec.evals.generate import generate_suite
    from agentspec.evals.tasks import load_tasks

    generate_suite(REAL_DB, tmp_path / "suite", 12, seed=5, multi=True)
    tasks = load_tasks(tmp_path / "suite" / "tasks.json")
    for behaviour in ("corrected", "tau2"):
        run = run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), 1, tmp_path / behaviour,
                        progress=False, behaviour=behaviour)
        assert run.summary()["pass_hat_k"] == {"1": 1.0}, [e["reasons"] for e in run.episodes if e["reward"] < 1]


def test_a_task_with_an_initial_state_is_refused_not_measured_from_the_wrong_state(tmp_path):
    task = _task(FAILING_THEN_WRITE, tid="9").model_copy(update={"initial_state": {
        "initialization_actions": [{"env_type": "assistant", "func_name": "cancel_pending_order"}]}})
    with pytest.raises(Exception, match="task '9' has an initial_state") as caught:
        run_suite([task], REAL_DB, AgentFactory("oracle"), UserFactory(), 1, tmp_path / "run", progress=False)
    assert "--db" in caught.value.hint
    null_state = _task(FAILING_THEN_WRITE, tid="8").model_copy(update={"initial_state": None})
    assert run_suite([null_state], REAL_DB, AgentFactory("oracle"), UserFactory(), 1, tmp_path / "ok",
                     progress=False, behaviour="tau2").summary()["pass_hat_k"] == {"1": 1.0}
