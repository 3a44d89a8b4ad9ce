"""Tier 2: the bundled SmolLM2-135M drives the retail agent graph for a few turns.

What the model says is not asserted (a 135M model is no customer-service agent); what is asserted is
structural: every step it decided was decoded under the grammar and parsed on the first attempt,
the graph never crashed, every turn ended with a reply, and the policy held (no user-only tool ran
before authentication, no write ran at all without a stated-and-confirmed action).
"""
from __future__ import annotations

import pytest

from agentspec.graph import AgentSession
from agentspec.spec import load_spec

TURNS = [
    "Hi, I want to cancel an order.",
    "My email is noah.brown7922@example.com",
    "The order is #W7678072, I ordered it by mistake.",
]


def one_thread(spec):
    return spec.model_copy(update={"model": spec.model.model_copy(update={"threads": 1})})


def short_leash(name: str):
    spec = one_thread(load_spec(name))
    # A short leash keeps the test quick on two cores; the grammar does not depend on it.
    limits = spec.limits.model_copy(update={"max_steps_per_turn": 3, "context_budget": 1700})
    return spec.model_copy(update={"limits": limits})


@pytest.mark.parametrize("spec_name", ["retail-base", "retail"])
def test_bundled_model_drives_the_graph_with_only_valid_steps(spec_name, llama_model, shared_data):
    # retail-base: the bare model with the full prompt (the shared session model); retail: the default
    # agent, its own model with the shipped adapter and the one-sentence expert prompt.
    real_spec = short_leash(spec_name)
    model = llama_model if spec_name == "retail-base" else None
    db = shared_data / "tau2-retail" / "db.json"
    with AgentSession(real_spec, model=model, data=db) as session:
        for text in TURNS:
            result = session.send(text)
            assert result.approval is None
            assert isinstance(result.reply, str) and result.reply.strip()
        trace = session.trace()
    decides = [e for e in trace if e["kind"] == "decide"]
    assert decides, "the model decided no step"
    for entry in decides:
        assert entry["constrained"] is True, entry
        assert entry["outcome"] in ("reply", "calls"), entry
        assert entry["attempts"] == 1 and entry["errors"] == [], entry
        # Compaction kept it in budget, or had nothing left to compact: every observation but the last
        # is a placeholder (then the prompt goes out as it is; graph.context's policy).
        observations = sum(1 for e in trace[: trace.index(entry)] if e["kind"] == "tool")
        assert (entry["prompt_tokens"] <= session.deps.prompt_budget + 64
                or entry["compacted"] >= observations - 1), (entry["prompt_tokens"], entry["compacted"], observations)
    needs_user = set(real_spec.policy.authentication.required_by)
    writes = set(real_spec.policy.confirmation.tools)
    authenticated = False
    for entry in trace:
        if entry["kind"] != "tool":
            continue
        name = entry["calls"][0]["name"]
        assert name not in writes  # no user message here says yes after a statement
        assert authenticated or name not in needs_user
        if name in real_spec.policy.authentication.tools and entry["outcome"] == "ok":
            authenticated = True


def test_packaged_retail_spec_runs_its_shipped_adapter_and_retail_base_does_not():
    from agentspec.spec import load_model

    specialized, base = load_spec("retail"), load_spec("retail-base")
    assert [a.name for a in specialized.adapters] == ["retail"] and base.adapters == []
    tuned, plain = load_model(one_thread(specialized)), load_model(one_thread(base))
    assert tuned.adapter_names == ["retail"] and tuned.active_adapter == "retail"
    assert plain.adapter_names == [] and plain.active_adapter is None
    # The adapter changes what the model computes (same prompt, same greedy settings).
    messages = [{"role": "user", "content": "Hi, I want to cancel an order."}]
    from agentspec.runtime.base import GenerationSettings

    settings = GenerationSettings(max_tokens=24, temperature=0.0)
    assert tuned.complete(messages, settings).text != plain.complete(messages, settings).text
