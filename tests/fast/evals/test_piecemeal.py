"""Piecemeal suites (``eval generate --piecemeal``): the customer says what they want first and each
detail only when the agent asks for it; the gold is that of the same suite said at once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.evals.generate import GenerationError, generate_suite
from agentspec.evals.tasks import load_tasks
from agentspec.evals.users import STOP, ScriptedUser

DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"
PIECES = "Say only when the agent asks for it: "


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    out = tmp_path_factory.mktemp("piecemeal")
    whole = generate_suite(DB, out / "whole", 30, seed=3, style="family:cedar", multi=True)
    parts = generate_suite(DB, out / "parts", 30, seed=3, style="family:cedar", multi=True, piecemeal=True)
    return whole, parts, out


def test_the_gold_users_and_split_are_those_of_the_suite_said_at_once(suites):
    whole, parts, out = suites
    assert [t.evaluation_criteria for t in parts] == [t.evaluation_criteria for t in whole]
    assert [t.user_scenario.instructions.known_info for t in parts] == [
        t.user_scenario.instructions.known_info for t in whole]
    for name in ("user_split.json", "split_tasks.json"):
        assert json.loads((out / "parts" / name).read_text()) == json.loads((out / "whole" / name).read_text())
    assert not any(PIECES in t.user_scenario.instructions.task_instructions for t in whole)


def test_every_request_has_its_parts_and_opens_without_them(suites):
    _, parts, _ = suites
    for task in parts:
        lines = task.user_scenario.instructions.task_instructions.splitlines()
        requests = [i for i, line in enumerate(lines) if line.startswith("- ")]
        assert requests and all(lines[i + 1].startswith(f"  {PIECES}") for i in requests)
        for i in requests:
            given = dict(part.split(" = ", 1) for part in lines[i + 1].strip()[len(PIECES):].split(" | "))
            assert set(given) <= {"order", "items", "version", "reason", "payment", "address"} and given
            assert not any(value in lines[i] for value in given.values() if len(value) > 12)  # not in the request


def test_piecemeal_needs_a_wording_family(tmp_path):
    with pytest.raises(GenerationError, match="wording family"):
        generate_suite(DB, tmp_path, 4, style="hard", piecemeal=True)


def test_the_customer_gives_each_part_only_when_asked(suites, tmp_path):
    _, parts, out = suites
    def first_parts(task):
        lines = task.user_scenario.instructions.task_instructions.splitlines()
        return lines, next(i for i, line in enumerate(lines) if line.startswith("- "))

    def plain_cancel_first(task) -> bool:
        lines, i = first_parts(task)
        return "reason = " in lines[i + 1] and "When the agent asks you to confirm" not in lines[i]

    task = next(t for t in load_tasks(out / "parts" / "tasks.json") if plain_cancel_first(t))
    lines, first = first_parts(task)
    given = dict(part.split(" = ", 1) for part in lines[first + 1].strip()[len(PIECES):].split(" | "))
    user = ScriptedUser(task.user_scenario, seed=0)
    user.reply(None)
    user.reply("Could you give me your email address, or your name and zip code?")
    if not user.stated:  # an opening that asked for nothing: the request comes now, without its parts
        request = user.reply("You are verified. How can I help you today?")
        assert user.acts[-1] == "state" and not any(value in request for value in given.values())
    why = user.reply("Why would you like to cancel it: is it no longer needed, or was it ordered by mistake?")
    assert given["reason"] in why and given["order"] not in why
    which = user.reply("Which order would you like to cancel? Your pending orders: #W1: Lamp; #W2: Mug.")
    assert given["order"] in which
    # A statement to confirm is answered yes, not with a part; anything else hears the whole request.
    assert user.reply("I'm about to cancel order #W1 (reason: no longer needed). Shall I proceed? (yes/no)") and \
        user.acts[-1] == "confirm"
    again = user.reply("Let me look into that.")
    assert user.acts[-1] == "restate" and all(value in again for value in given.values())
    assert STOP not in again
