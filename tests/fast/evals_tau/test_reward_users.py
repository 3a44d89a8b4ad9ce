"""The tau reward (db replay + communicated facts) and the user simulators' protocols."""
from __future__ import annotations

import pytest
from tau_fixture import REAL_DB, scenario

from agentspec.evals.generate import generate_suite
from agentspec.evals.harness import UserFactory
from agentspec.evals.reward import GoldReplayError, Rewarder, communicated
from agentspec.evals.tasks import Action, load_tasks
from agentspec.evals._llm_user import LLMUser
from agentspec.evals.users import STOP, ScriptedUser, parse_known_info
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.tools.retail import RetailStore


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    generate_suite(REAL_DB, out, 9, seed=3)
    return {t.category: t for t in load_tasks(out / "tasks.json")}


@pytest.fixture(scope="module")
def rewarder():
    with RetailStore.from_json(REAL_DB) as base:
        yield Rewarder(base)


def _replay(rewarder, actions):
    store = rewarder.base.copy()
    for action in actions:
        store.invoke(action.name, action.arguments)
    return store


def test_correct_replay_scores_one(tasks, rewarder):
    task = tasks["return"]
    refund = task.evaluation_criteria.communicate_info[0]
    with _replay(rewarder, task.evaluation_criteria.actions) as store:
        result = rewarder.score(task, store, ["Hello", f"Your refund of ${refund} is on its way."])
    assert (result.reward, result.db_match, result.communicate_ok, result.reasons) == (1.0, True, True, [])


def test_missing_write_scores_zero_and_names_the_order(tasks, rewarder):
    task = tasks["cancel"]
    reads = [a for a in task.evaluation_criteria.actions if a.name not in RetailStore.WRITE_TOOLS]
    with _replay(rewarder, reads) as store:
        result = rewarder.score(task, store, ["done"])
    order_id = task.evaluation_criteria.actions[-1].arguments["order_id"]
    assert result.reward == 0.0 and not result.db_match and result.communicate_ok
    assert f"orders {order_id}" in result.reasons[0]


def test_missing_communicate_info_scores_zero(tasks, rewarder):
    task = tasks["return"]
    with _replay(rewarder, task.evaluation_criteria.actions) as store:
        result = rewarder.score(task, store, ["Your return is requested."])
    assert result.reward == 0.0 and result.db_match and not result.communicate_ok
    assert result.missing_info == task.evaluation_criteria.communicate_info


def test_communicate_ignores_case_and_commas():
    assert communicated(["1047.84", "Delivered"], ["It was DELIVERED; you get $1,047.84 back"]) == []
    assert communicated(["1047.84"], ["you get 1047.8"]) == ["1047.84"]


# ---- scripted user ----------------------------------------------------------------------------------

def test_known_info_phrasing_parses():
    facts = parse_known_info("Your name is Ann Lee and your zip code is 02134. Your order ids are #W1 and #W22.")
    assert facts == {"first_name": "Ann", "last_name": "Lee", "zip": "02134", "order_ids": ["#W1", "#W22"]}
    assert parse_known_info("Your email is ann.lee7@example.com.")["email"] == "ann.lee7@example.com"


def test_scripted_user_full_protocol():
    user = ScriptedUser(scenario(
        reason="Hi. I want to cancel my order with the Lamp; I no longer need it. I also have another request.",
        known="Your name is Ann Lee and your zip code is 02134.",
        unknown="You do not remember your email address. You do not remember your order id.",
        requests=("I want to cancel my order with the Lamp; I no longer need it.",
                  "I want to return the Mug from my order #W9.")))
    assert user.reply(None).startswith("Hi. I want to cancel")
    # asked for an email it does not know: says so and gives name + zip instead
    answer = user.reply("Could you give me your email address?")
    assert "don't remember my email" in answer and "Ann Lee" in answer and "02134" in answer
    assert user.reply("What is your order id?") == "I'm sorry, I don't remember my order id."
    assert user.reply("I will cancel order #W1 (reason: no longer needed). Shall I proceed?") == "Yes, please go ahead."
    nxt = user.reply("Your order #W1 has been cancelled.")
    assert nxt == "Thanks! One more thing: I want to return the Mug from my order #W9." and not user.done
    assert user.reply("Which payment method?") == "To be clear: I want to return the Mug from my order #W9."
    last = user.reply("The return was requested successfully.")
    assert last.endswith(STOP) and user.done


def test_scripted_user_gives_email_when_known_and_stops_on_transfer_or_refusal():
    user = ScriptedUser(scenario())
    user.reply(None)
    assert user.reply("Please provide your email or name and zip code.") == "My email is ann@example.com."
    assert user.reply("What is the order id?") == "It's #W1."
    assert user.reply("YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON.").endswith(STOP)
    refused = ScriptedUser(scenario())
    refused.reply(None)
    assert refused.reply("I'm sorry, I cannot cancel a delivered order.").endswith(STOP)


def _protocol_walk(user: ScriptedUser) -> list[str]:
    return [user.reply(None), user.reply("Could you give me your email address?"),
            user.reply("I will cancel order #W1 (reason: no longer needed). Shall I proceed? (yes/no)"),
            user.reply("Which payment method?"), user.reply("Your order #W1 has been cancelled."),
            user.reply("The return was requested successfully.")]


def test_varied_user_words_each_episode_differently_and_keeps_the_facts():
    two = scenario(known="Your email is ann@example.com.",
                   requests=("I want to cancel my order #W1.", "I want to return the Mug from my order #W9."))
    varied = UserFactory("varied")  # what `eval tau --user varied` builds for each episode
    users = {seed: varied(two, seed=seed) for seed in range(12)}
    walks = {seed: _protocol_walk(user) for seed, user in users.items()}
    assert len({tuple(w) for w in walks.values()}) > 3  # seeds draw different wordings
    assert walks[3] == _protocol_walk(ScriptedUser(two, seed=3, varied=True))  # and the same seed the same
    plain = _protocol_walk(ScriptedUser(two, seed=3))
    assert plain[2] == "Yes, please go ahead." and plain[3].startswith("To be clear:")  # not varied: one wording
    for seed, walk in walks.items():
        assert walk[0] == plain[0]  # the opening is the scenario's own
        assert "ann@example.com" in walk[1]
        assert users[seed].acts[:3] == ["opening", "email", "confirm"]  # each reply says what it is
        assert walk[3].endswith("I want to cancel my order #W1.")  # restated, in its own words
        assert "Mug" in walk[4] and walk[5].endswith(STOP) and STOP not in walk[4]


def test_varied_user_avoids_the_training_data_wordings():
    from agentspec.train._mutate import _EMAIL, _NEXT, CONFIRMATIONS
    from agentspec.evals.users import _PHRASES

    trained = {p.split("{")[0] for p in (*_EMAIL, *_NEXT, *CONFIRMATIONS)}
    for what in ("confirm", "email", "next"):
        assert not any(p.split("{")[0] in trained for p in _PHRASES[what][1:]), what


def test_scripted_user_stops_after_max_turns():
    user = ScriptedUser(scenario(), max_turns=3)
    replies = [user.reply(None), user.reply("Hmm."), user.reply("Hmm.")]
    assert STOP not in replies[1] and replies[2].endswith(STOP) and user.done


def test_simulators_refuse_a_whole_task(tasks):
    # Only the scenario goes in: a Task (with its evaluation criteria) is rejected outright.
    with pytest.raises(TypeError, match="user_scenario"):
        ScriptedUser(tasks["cancel"])
    with pytest.raises(TypeError, match="user_scenario"):
        LLMUser(tasks["cancel"], ScriptedChatModel([]))
    user = ScriptedUser(tasks["cancel"].user_scenario)
    gold_ids = {str(v) for a in tasks["cancel"].evaluation_criteria.actions for v in a.arguments.values()}
    assert not any(g in repr(vars(user)) for g in gold_ids if g.startswith(("credit", "gift", "paypal")))


# ---- LLM user --------------------------------------------------------------------------------------

def test_llm_user_prompt_roles_and_stop():
    model = ScriptedChatModel(["Hi, I want to cancel order #W1.", "Yes please. ###TRANSFER###"])
    user = LLMUser(scenario(), model, seed=7)
    assert user.reply(None) == "Hi, I want to cancel order #W1."
    first = model.calls[0]["messages"]
    assert first[0]["role"] == "system" and "###STOP###" in first[0]["content"]
    assert "I want to cancel my order #W1" in first[0]["content"]  # the scenario is in the prompt
    assert first[1] == {"role": "user", "content": "Hi! How can I help you today?"}
    assert model.calls[0]["settings"].seed == 7
    reply = user.reply("Shall I cancel it?")
    assert reply == f"Yes please. {STOP}" and user.done
    second = model.calls[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[-1]["content"] == "Shall I cancel it?"


def test_llm_user_stops_after_max_turns_without_calling_the_model():
    model = ScriptedChatModel(["Hello."])
    user = LLMUser(scenario(), model, max_turns=1)
    user.reply(None)
    assert user.reply("Anything else?").endswith(STOP) and len(model.calls) == 1


def test_every_confirmation_the_users_give_licenses_one_write_in_the_monitor():
    # The monitor is the harness's own check of the policy: it must count as a yes every explicit yes the
    # scripted users give (it once missed "Correct, please go on." and flagged confirmed writes).
    from agentspec.evals._monitor import EpisodeMonitor
    from agentspec.evals.users import _PHRASES

    monitor = EpisodeMonitor(store=None)
    for phrase in _PHRASES["confirm"]:
        monitor.last_reply = "I'm about to cancel order #W0000002. Shall I proceed? (yes/no)"
        monitor.observe_user(phrase)
        assert monitor.confirmation_open, phrase
    for hedge in ("Hmm, what would that cost?", "No, keep it.", "Which order was that?"):
        monitor.observe_user(hedge)
        assert not monitor.confirmation_open, hedge


def test_the_monitor_takes_a_scripted_users_meaning_over_its_yes_words():
    # A family's yes need not hold a yes word ("sounds good, let's do it"); a scripted user records
    # what it meant (its act), and the harness gives that to the monitor. Without it, the words decide.
    from agentspec.evals._monitor import EpisodeMonitor
    from agentspec.evals.harness import _meant_yes

    monitor = EpisodeMonitor(store=None)
    monitor.last_reply = "I'm about to cancel order #W0000002. Shall I proceed? (yes/no)"
    monitor.observe_user("sounds good, let's do it", confirms=True)
    assert monitor.confirmation_open
    monitor.observe_user("yes, but which order was that?", confirms=False)
    assert not monitor.confirmation_open
    monitor.observe_user("Yes, please go ahead.")
    assert monitor.confirmation_open

    class Acting:
        acts = ["opening", "email", "confirm"]

    assert _meant_yes(Acting()) is True and _meant_yes(object()) is None
    Acting.acts = ["opening", "restate"]
    assert _meant_yes(Acting()) is False
