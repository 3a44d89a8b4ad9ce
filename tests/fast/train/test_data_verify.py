"""The data verifiers reject hand-made bad dialogues, each for its own reason, and pass a good one."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from agentspec.spec import load_spec
from agentspec.tools.retail import RetailStore
from agentspec.train.verify import (check_execution, check_outcome, check_policy, check_steps, near_duplicates,
                                    verify_dialogue)

DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"


@pytest.fixture(scope="module")
def base():
    if not DB.exists():
        pytest.fail(f"shared data not found at {DB}")
    store = RetailStore.from_json(DB)
    yield store
    store.close()


@pytest.fixture(scope="module")
def spec():
    return load_spec("retail")


@pytest.fixture(scope="module")
def tools(base):
    from agentspec.toolkit import ToolRegistry

    return ToolRegistry([base]).tools


@pytest.fixture(scope="module")
def good(base):
    """A correct cancel dialogue, observations taken from a sandbox run of its calls."""
    db = base.to_json()
    user = next(u for u in db["users"].values()
                if any(db["orders"][o]["status"] == "pending" for o in u["orders"]))
    order = next(o for o in user["orders"] if db["orders"][o]["status"] == "pending")
    lookup = ("find_user_id_by_email", {"email": user["email"]})
    cancel = ("cancel_pending_order", {"order_id": order, "reason": "no longer needed"})
    calls = [lookup, ("get_user_details", {"user_id": user["user_id"]}), ("get_order_details", {"order_id": order})]
    with base.copy() as sandbox:
        observed = [sandbox.invoke(n, a) for n, a in calls + [cancel]]

    def call(i, c):
        return {"kind": "call", "name": c[0], "arguments": c[1], "observation": observed[i]}

    events = [
        {"kind": "user", "text": f"Please cancel my order {order}, I no longer need it.", "act": "opening"},
        {"kind": "reply", "by": "model", "text": "Please provide your email address."},
        {"kind": "user", "text": f"My email is {user['email']}.", "act": "email"},
        call(0, calls[0]), call(1, calls[1]), call(2, calls[2]),
        {"kind": "reply", "by": "graph", "text": f"{base.describe(*cancel)} Shall I proceed? (yes/no)"},
        {"kind": "user", "text": "Yes, please go ahead.", "act": "confirm"},
        call(3, cancel),
        {"kind": "reply", "by": "model", "text": f"Your order {order} has been cancelled."},
    ]
    step_messages = [{"role": "user", "content": events[0]["text"]}, {"role": "assistant", "content": "{}"},
                     {"role": "user", "content": events[2]["text"]}]
    return {"id": "d000000", "category": "cancel", "forbidden": False, "termination": "user_stop",
            "events": events, "gold": [list(c) for c in calls + [cancel]], "communicate_info": [],
            "steps": [{"turn": 2, "messages": step_messages, "target": json.dumps({"calls": [
                {"name": lookup[0], "arguments": lookup[1]}]})}]}


def _reasons(dialogue, base, spec, tools):
    return [r.reason for r in verify_dialogue(dialogue, base, policy=spec.policy, tools=tools,
                                              describe=base.describe)]


def test_the_good_dialogue_passes_every_check(good, base, spec, tools):
    assert _reasons(good, base, spec, tools) == []


def test_failed_tool_call_is_rejected(good, base):
    bad = copy.deepcopy(good)
    bad["events"].insert(6, {"kind": "call", "name": "get_order_details", "arguments": {"order_id": "#W0000000"},
                             "observation": base.invoke("get_order_details", {"order_id": "#W0000000"})})
    assert [r.reason for r in check_execution(bad, base)] == ["tool_error"]
    bad["forbidden"] = True  # a refusal dialogue may contain the failing call it refuses
    assert check_execution(bad, base) == []


def test_tampered_observation_is_a_tool_error(good, base):
    bad = copy.deepcopy(good)
    bad["events"][5]["observation"] = '{"status": "delivered"}'
    assert [r.reason for r in check_execution(bad, base)] == ["tool_error"]


def test_wrong_final_state_is_rejected(good, base):
    bad = copy.deepcopy(good)
    del bad["events"][6:9]  # claimed done, never cancelled
    assert [r.reason for r in check_execution(bad, base)] == ["wrong_final_state"]


def test_read_before_auth_is_rejected(good, spec, base):
    bad = copy.deepcopy(good)
    details = bad["events"].pop(4)
    bad["events"].insert(1, details)
    assert [r.reason for r in check_policy(bad, spec.policy, base.describe)] == ["read_before_auth"]


def test_lookup_with_identity_the_user_never_gave_does_not_authenticate(good, spec, base):
    bad = copy.deepcopy(good)
    bad["events"][2]["text"] = "I'd rather not say."
    assert "read_before_auth" in [r.reason for r in check_policy(bad, spec.policy, base.describe)]


@pytest.mark.parametrize("tamper", ["no_yes", "yes_worded_other_act", "other_statement", "no_statement"])
def test_write_without_confirmation_is_rejected(good, spec, base, tamper):
    bad = copy.deepcopy(good)
    if tamper == "no_yes":
        bad["events"][7].update(text="Hmm, let me think.", act="unknown")
    elif tamper == "yes_worded_other_act":
        # What the user meant decides, not how it sounds: "yes, but ..." changing their mind is no yes.
        bad["events"][7].update(text="Yes, but make it the red one instead.", act="change_mind")
    elif tamper == "other_statement":
        bad["events"][6]["text"] = "I'm about to cancel order #W0000001 (reason: no longer needed). Shall I proceed?"
    else:
        del bad["events"][6:8]
    assert [r.reason for r in check_policy(bad, spec.policy, base.describe)] == ["write_without_confirmation"]


def test_a_confirm_act_confirms_in_any_wording(good, spec, base):
    worded = copy.deepcopy(good)
    worded["events"][7]["text"] = "Go for it."  # a wording family's yes: the act says what it is
    assert check_policy(worded, spec.policy, base.describe) == []


def test_target_with_an_id_the_prompt_does_not_show_is_malformed(good, spec, tools):
    bad = copy.deepcopy(good)
    bad["steps"].append({"turn": 2, "messages": bad["steps"][0]["messages"], "target": json.dumps(
        {"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W9999999"}}]})})
    reasons = check_steps(bad, tools, spec.policy, max_calls=1)
    assert [r.reason for r in reasons] == ["malformed_step"]
    assert "#W9999999" in reasons[0].detail or "get_order_details" in reasons[0].detail


def test_unfinished_and_missing_info_are_rejected(good):
    bad = copy.deepcopy(good)
    bad["termination"] = "max_turns"
    bad["communicate_info"] = ["123.45"]
    assert [r.reason for r in check_outcome(bad)] == ["unfinished", "missing_info"]


def test_near_duplicate_is_flagged_and_the_first_kept(good):
    twin = copy.deepcopy(good)
    twin["id"] = "d000001"
    twin["events"][0]["text"] = twin["events"][0]["text"].upper()  # normalisation ignores case
    other = copy.deepcopy(good)
    other["id"] = "d000002"
    other["category"] = "return"  # compared only within a category
    found = near_duplicates([good, twin, other])
    assert set(found) == {"d000001"} and found["d000001"][0] == "d000000"


@pytest.mark.parametrize("act", ["decline", "change_mind"])
def test_a_write_the_user_turned_down_must_not_run(good, spec, base, act):
    # The user said no (or asked for another variant) to exactly this call; stated again and "confirmed"
    # later, it still runs against what the user decided: only the changed call may run.
    bad = copy.deepcopy(good)
    statement = dict(bad["events"][6])
    bad["events"][7:7] = [{"kind": "user", "text": "no, leave it", "act": act}, statement]
    assert [r.reason for r in check_policy(bad, spec.policy, base.describe)] == ["write_without_confirmation"]
    assert "turned exactly that call down" in check_policy(bad, spec.policy, base.describe)[0].detail


def test_a_declined_write_that_never_ran_passes(good, base, spec, tools):
    declined = copy.deepcopy(good)
    del declined["events"][8:]  # stated, then declined: nothing ran
    declined["events"][7].update(text="nah leave it", act="decline")
    declined["gold"] = declined["gold"][:-1]  # the goal: the order as it was
    assert _reasons(declined, base, spec, tools) == []
