"""Context compaction, the eval adapter, the agent REPL and `agentspec chat` with the default spec."""
from __future__ import annotations

import io
import json

from click.testing import CliRunner
from rich.console import Console

from agentspec.agent_repl import AgentRepl
from agentspec.cli import cli
from agentspec.evals.agents import AgentTurn, EvalAgent
from agentspec.graph import AgentSession
from agentspec.graph.context import build_prompt, observation_with_meta
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.tools.retail import RetailStore

from conftest import call, changed, reply


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def count(text: str) -> int:
    return len(text.split())


def test_build_prompt_compacts_old_observations_first():
    messages = [{"role": "user", "content": "hi"}]
    for i in range(6):
        c = {"name": "get_order_details", "arguments": {"order_id": f"#W000000{i}"}}
        messages += [{"role": "assistant", "content": "{}"}, observation_with_meta(c, words(200))]
    full = sum(count(m["content"]) + 4 for m in messages)
    prompt, compacted = build_prompt("system", messages, count, budget=700, keep=2, max_chars=5000)
    assert full > 700 and sum(count(m["content"]) + 4 for m in prompt) <= 700
    assert compacted == 4  # the four oldest; the last `keep` = 2 observations are whole
    assert prompt[3]["content"] == ("Tool result of get_order_details: [result for #W0000000 omitted to fit the "
                                    f"context: {len(words(200))} chars]")
    assert prompt[-1]["content"].endswith(words(200)) and prompt[-3]["content"].endswith(words(200))
    assert all(set(m) == {"role", "content"} for m in prompt)  # meta never reaches a model
    # Over-long observations are cut even when the budget is not an issue.
    cut, _ = build_prompt(None, messages[-1:], count, budget=10_000, max_chars=100)
    assert f"[cut: {len(words(200)) - 100} more chars]" in cut[0]["content"]


def test_compaction_keeps_the_prompt_prefix_for_several_steps():
    """Compacting in chunks: as observations arrive one per step, the prompt of a step mostly begins
    with the previous step's prompt (a prefix cache stays valid); every prompt fits the budget."""
    messages: list = [{"role": "user", "content": "hi"}]
    prompts = []
    for i in range(24):
        c = {"name": "get_order_details", "arguments": {"order_id": f"#W{i:07d}"}}
        messages += [{"role": "assistant", "content": "{}"}, observation_with_meta(c, words(150))]
        prompt, _ = build_prompt("system", messages, count, budget=1200, keep=2, max_chars=5000)
        assert sum(count(m["content"]) + 4 for m in prompt) <= 1200
        prompts.append(prompt)
    extended = sum(later[: len(earlier)] == earlier for earlier, later in zip(prompts, prompts[1:]))
    assert extended >= 0.6 * (len(prompts) - 1)


def test_agent_keeps_the_prompt_within_budget(spec, shop_db):
    from agentspec.graph.prompts import SystemPrompt
    from agentspec.toolkit import ToolRegistry

    with RetailStore.from_json(shop_db) as store:
        system = SystemPrompt(spec).render(ToolRegistry([store]).tools, "alice_smith_1001")
    # Room for the system prompt and about 250 words of conversation: five observations need more.
    budget = count(system) + 250
    small = changed(spec, limits={"context_budget": budget, "max_steps_per_turn": 12},
                    policy={"ask_for_request": False})
    steps = [call("find_user_id_by_email", email="alice@example.com")]
    steps += [call("get_user_details", user_id="alice_smith_1001")]
    steps += [call("get_order_details", order_id=o) for o in ("#W0000001", "#W0000002")]
    steps += [call("get_product_details", product_id=p) for p in ("8310926033", "4444444444")]
    steps += [reply("done")]
    model = ScriptedChatModel(steps, context_length=4096)
    with AgentSession(small, model=model, data=shop_db) as s:
        assert s.send("alice@example.com").reply == "done"
        decides = [e for e in s.trace() if e["kind"] == "decide"]
        assert max(e["prompt_tokens"] for e in decides) <= s.deps.prompt_budget
        assert any(e["compacted"] for e in decides)
        assert all(e["dropped_messages"] == 0 for e in decides)  # compaction, not truncation, kept it in


def test_eval_adapter_runs_on_the_harness_store(spec, shop_db):
    from agentspec.evals.spec_agent import make_eval_agent

    model = ScriptedChatModel([call("find_user_id_by_email", email="alice@example.com"),
                               call("get_order_details", order_id="#W0000009"),  # invented: retried
                               call("cancel_pending_order", order_id="#W0000002", reason="no longer needed")])
    # The model states the write (the graph's own write step is off): its invented id is what is counted.
    agent = make_eval_agent(changed(spec, policy={"confirmation": {"determine": False}}), model=model)
    assert isinstance(agent, EvalAgent)
    with RetailStore.from_json(shop_db) as store:
        session = agent.start(store, "task-1", seed=3)
        first = session.respond("cancel #W0000002 please, alice@example.com")
        assert isinstance(first, AgentTurn) and first.reply.endswith("Shall I proceed? (yes/no)")
        assert first.hallucinated_ids == ["#W0000009"] and first.invalid_steps == 1
        assert first.steps == 3 and first.valid_steps == 2 and first.prompt_tokens > 0
        second = session.respond("yes")
        assert [c.name for c in second.tool_calls] == ["cancel_pending_order"]
        assert second.reply.startswith("Order #W0000002 has been cancelled (reason: no longer needed)")
        session.close()
        # The write went to the harness's store, which stays open after the session closes.
        assert json.loads(store.invoke("get_order_details", {"order_id": "#W0000002"}))["status"] == "cancelled"


def test_eval_adapter_lists_policy_refusals_but_not_repeats(spec, shop_db):
    from agentspec.evals.spec_agent import make_eval_agent

    model = ScriptedChatModel([call("find_user_id_by_email", email="alice@example.com"),
                               call("get_order_details", order_id="#W0000003"),  # bob's order
                               call("get_order_details", order_id="#W0000002"),
                               call("get_order_details", order_id="#W0000002"),  # the same call again
                               reply("Done.")])
    # The model states the write (the graph's own write step is off): its invented id is what is counted.
    agent = make_eval_agent(changed(spec, policy={"confirmation": {"determine": False}}), model=model)
    with RetailStore.from_json(shop_db) as store:
        session = agent.start(store, "task-1", seed=0)
        turn = session.respond("alice@example.com here; what about #W0000002 and #W0000003?")
        session.close()
    assert turn.policy_violations == ["blocked: get_order_details: other_user"]


def test_eval_agent_temperature_overrides_the_specs_and_reaches_the_model(shop_db):
    from agentspec.evals.spec_agent import make_eval_agent

    model = ScriptedChatModel([reply("Hello.")])
    agent = make_eval_agent("retail", model=model, temperature=0.8)
    with RetailStore.from_json(shop_db) as store:
        session = agent.start(store, "task-1", seed=5)
        session.respond("hi")
        session.close()
    assert model.calls[0]["settings"].temperature == 0.8
    assert make_eval_agent("retail", model=model).spec.generation.temperature == 0.0  # the spec's own


def test_agent_repl_commands_and_turns(spec, shop_db):
    model = ScriptedChatModel([call("find_user_id_by_email", email="alice@example.com")])
    out = io.StringIO()
    feed = iter(["I'm alice@example.com", "/user", "/trace", "/sessions", "/stats", "/bogus", "/exit"])

    def read(prompt):
        return next(feed)

    with AgentSession(spec, name="repl", model=model, data=shop_db) as s:
        AgentRepl(s, console=Console(file=out, width=140), read_line=read).run()
    text = out.getvalue()
    # Verified with no request yet: the graph asks what they need (messages.request_question).
    assert f"agent> {spec.messages.request_question}" in text and "find_user_id_by_email" in text
    assert "alice_smith_1001" in text and "repl *" in text and "model steps" in text
    assert "unknown command /bogus" in text


def test_chat_without_arguments_runs_the_default_retail_agent(monkeypatch, shop_db):
    model = ScriptedChatModel([call("find_user_id_by_email", email="alice@example.com"),
                               call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake")])
    monkeypatch.setattr("agentspec.spec.load_model", lambda spec: model)
    monkeypatch.setenv("AGENTSPEC_RETAIL_DB", str(shop_db))
    result = CliRunner().invoke(cli, ["chat", "--session", "cli", "--approve"],
                                input="hello, alice@example.com\ncancel #W0000002\nI ordered it by mistake\nyes\nno\n")
    assert result.exit_code == 0, result.output
    assert "spec retail" in result.output and "agent> Thank you, you are verified. How can I help" in result.output
    assert "agent> I'm about to cancel order #W0000002 (reason: ordered by mistake)" in result.output
    # The operator's no: the graph tells the customer (messages.operator_refused), without another model step.
    said = " ".join(result.output.split())
    assert "approval needed:" in said and "that change was not approved, so I have not made it" in said
    assert "agent> Why would you like to cancel order #W0000002" in result.output  # the graph asks the reason
    assert len(model.calls) == 1  # the lookup: the graph stated the cancel the words then determined
    assert result.output.count("agentspec chat") == 1
    # Resuming in a new invocation shows where it stopped.
    again = CliRunner().invoke(cli, ["chat", "--session", "cli"], input="/exit\n")
    assert "resumed: 4 turns so far, user alice_smith_1001" in again.output
