"""`eval generate --style hard|fresh`: gold that executes, wording the training data never uses, new shapes."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from tau_fixture import REAL_DB, scenario

from agentspec.evals._describe import describe_item
from agentspec.evals._hard import FRESH, HARD, describe_change
from agentspec.evals.generate import CATEGORIES, GenerationError, generate_suite
from agentspec.evals.tasks import load_tasks
from agentspec.evals.users import ScriptedUser
from agentspec.tools.retail import RetailStore

N = 45  # five of each category


@pytest.fixture(scope="module")
def suites(tmp_path_factory) -> dict[str, Path]:
    out = {style: tmp_path_factory.mktemp(style) for style in ("standard", "hard", "fresh")}
    for style, folder in out.items():
        generate_suite(REAL_DB, folder, N, seed=0, style=style)
    return out


def _requests(task) -> list[str]:
    return [line[2:] for line in task.user_scenario.instructions.task_instructions.splitlines()
            if line.startswith("- ")]


def _write(task):
    writes = [a for a in task.evaluation_criteria.actions if a.name in RetailStore.WRITE_TOOLS]
    return writes[0] if writes else None


@pytest.mark.parametrize("style", ["hard", "fresh"])
def test_hard_gold_executes_and_categories_stay_balanced(suites, style):
    tasks = load_tasks(suites[style] / "tasks.json")
    assert Counter(t.category for t in tasks) == {c: N // len(CATEGORIES) for c in CATEGORIES}
    with RetailStore.from_json(REAL_DB) as base:
        for task in tasks:
            with base.copy() as store:
                for action in task.evaluation_criteria.actions:
                    observation = store.invoke(action.name, action.arguments)
                    assert not observation.startswith("Error:"), (task.id, action.name, observation)


def test_hard_suite_is_reproducible_and_keeps_the_user_split(suites, tmp_path):
    generate_suite(REAL_DB, tmp_path, N, seed=0, style="hard")
    for name in ("tasks.json", "split_tasks.json", "user_split.json"):
        assert (tmp_path / name).read_bytes() == (suites["hard"] / name).read_bytes()
    # the same held-out users: an adapter trained on the standard suite's split never saw them
    assert (suites["hard"] / "user_split.json").read_bytes() == (suites["standard"] / "user_split.json").read_bytes()
    with pytest.raises(GenerationError, match="unknown suite style 'easy'"):
        generate_suite(REAL_DB, tmp_path / "x", 3, style="easy")


def test_hard_requests_are_worded_unlike_the_standard_ones(suites):
    def openings(style: str) -> set[str]:
        tasks = load_tasks(suites[style] / "tasks.json")
        return {" ".join(r.split()[:3]) for t in tasks for r in _requests(t)}

    standard, hard, fresh = openings("standard"), openings("hard"), openings("fresh")
    assert len(hard) >= 8 and not standard & hard
    assert len(fresh) >= 8 and not fresh & standard and not fresh & hard
    for style in ("hard", "fresh"):
        for task in load_tasks(suites[style] / "tasks.json"):
            assert not any("(" in r for r in _requests(task)), task.id  # no "(size large, color brown)" lists


def test_the_fresh_sentences_share_none_with_the_hard_ones():
    for field in ("not_needed", "by_mistake", "cancel", "address", "payment", "modify", "exchange", "returns",
                  "order_with", "transfers", "vague"):
        assert not set(getattr(HARD, field)) & set(getattr(FRESH, field)), field


def test_hard_shapes_two_item_swaps_longer_returns_vague_openings(suites):
    tasks = load_tasks(suites["hard"] / "tasks.json")
    swaps = [w for t in tasks if (w := _write(t)) and w.name in ("modify_pending_order_items",
                                                                "exchange_delivered_order_items")]
    assert {len(w.arguments["item_ids"]) for w in swaps} == {1, 2}
    assert all(len(w.arguments["item_ids"]) == len(w.arguments["new_item_ids"]) for w in swaps)
    returns = [w for t in tasks if (w := _write(t)) and w.name == "return_delivered_order_items"]
    assert max(len(w.arguments["item_ids"]) for w in returns) >= 2
    vague = [t for t in tasks if _requests(t)[0] not in t.user_scenario.instructions.reason_for_call]
    assert 0.25 * N < len(vague) < 0.75 * N


def test_items_are_named_by_what_tells_them_apart():
    bed = {"product_id": "p", "name": "Pet Bed"}
    brown = {**bed, "item_id": "1", "options": {"size": "large", "color": "brown"}}
    grey = {**bed, "item_id": "2", "options": {"size": "large", "color": "grey"}}
    lamp = {"product_id": "q", "name": "Desk Lamp", "item_id": "3", "options": {"color": "black"}}
    assert describe_item({"items": [brown, lamp]}, brown) == "the Pet Bed"
    assert describe_item({"items": [brown, grey, lamp]}, grey) == "the grey Pet Bed"
    waterproof = {"options": {"size": "M", "waterproof": "no", "color": "red"}}
    target = {"options": {"size": "L", "waterproof": "yes", "color": "red"}}
    said = {describe_change(waterproof, target, random.Random(seed), HARD) for seed in range(8)}
    # short values are said with their option's name: "in M" or "in yes" would name nothing
    assert said == {"in size L and waterproof yes", "with size L and waterproof yes"}


def test_scripted_user_states_a_request_its_vague_opening_left_out():
    request = "Could you cancel my order #W1? I bought it by accident."
    user = ScriptedUser(scenario(reason="Hi, I need some help with an order.", requests=(request,)))
    assert user.reply(None) == "Hi, I need some help with an order."
    assert user.reply("Sure. Could you please provide your email?") == "My email is ann@example.com."
    # "What would you like" must not read as a confirmation before the customer said what they want
    assert user.reply("Thanks, you're verified. What would you like me to do?") == request
    assert user.reply("Shall I cancel order #W1 (ordered by mistake)?") == "Yes, please go ahead."
    eager = ScriptedUser(scenario(reason="Hello, I have a question about my orders.", requests=(request,)))
    eager.reply(None)
    assert eager.reply("Of course! What can I help you with?") == request


def test_training_code_never_sees_the_hard_wording():
    train = Path(__file__).resolve().parents[3] / "agentspec" / "train"
    assert train.is_dir()
    assert not [p.name for p in train.glob("*.py") if "_hard" in p.read_text(encoding="utf-8")]
