"""Long-term memory with the real parts: MiniLM recall of customers' own words, and a two-session task
of the memory suite with the real model: done with memory, not done without it."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.memory.store import Fact, MemoryStore

# As the retail toolkit's ``memories`` hook writes them (tools/retail/_memory.py).
FACTS = [Fact("Delivery address used last time: 296 Elm Street, Suite 262, Denver, CO 80298, USA", "address", "296 elm",
              "address"),
         Fact("Refund method used last time: PayPal (paypal_1234)", "refund_method", "paypal_1234", "payment_method"),
         Fact("Request last time: Asked to exchange T-Shirt (blue, M; item 1) for T-Shirt (red, M; item 2) in order "
              "#W1234567; the order is now exchange requested", "order:#W1234567", "exchange requested", "order"),
         Fact("Payment method chosen last time: the Visa card ending in 4421 (credit_card_99)", "payment_method",
              "credit_card_99", "payment_method")]


@pytest.mark.parametrize("query, expected", [
    ("send it to the same place as last time", "Delivery address"),
    ("refund it the usual way please", "Refund method"),
    ("did the exchange I asked for last week go through?", "Request last time"),
])
def test_minilm_recalls_the_memory_a_customer_means(tmp_path, query, expected):
    store = MemoryStore.open(tmp_path)
    store.remember("ann", FACTS, session="s1", turn=1)
    store.remember("bob", [Fact("Delivery address used last time: 1 Bob Road, Boston, MA 02101, USA", "address", "1 bob",
                                "address")],
                   session="s2", turn=1)
    found = store.recall("ann", query, k=3)
    assert found[0].text.startswith(expected) and all(m.user_id == "ann" for m in found)
    store.close()


def test_memory_search_command_with_the_real_encoder(tmp_path):
    store = MemoryStore.open(tmp_path)
    store.remember("ann", FACTS, session="s1", turn=1)
    store.close()
    result = CliRunner().invoke(cli, ["memory", "search", "where did my refund go", "--user", "ann", "--path",
                                      str(tmp_path), "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["memories"][0]["text"].startswith("Refund method")


def _both_arms(shared_data, tmp_path, kind: str, n: int) -> tuple[dict, dict]:
    """The first dev task of ``kind`` of an ``n``-task suite, run with and without memory: (records by arm,
    pass^1 summary)."""
    from agentspec.evals.memory_suite import generate_memory_suite, run_memory_suite, summarize_memory_runs
    from agentspec.spec import load_spec

    db = shared_data / "tau2-retail" / "db.json"
    task = next(t for t in generate_memory_suite(db, n, seed=0) if t.kind == kind and t.split == "dev")
    spec = load_spec("retail")
    spec = spec.model_copy(update={"model": spec.model.model_copy(update={"threads": 2})})
    records = run_memory_suite([task], db, spec, arms=("memory", "none"), out_dir=tmp_path, max_turns=8)
    return {r["arm"]: r for r in records}, summarize_memory_runs(records)


def test_a_second_session_needs_the_first_ones_fact(shared_data, tmp_path):
    by_arm, summary = _both_arms(shared_data, tmp_path, "address", 8)
    assert summary["memory"]["pass_hat_1"]["value"] == 1.0, by_arm["memory"]["reasons"]
    assert summary["none"]["pass_hat_1"]["value"] == 0.0
    remembered = by_arm["memory"]["memories"]
    assert [m["key"] for m in remembered] == ["address"] and remembered[0]["superseded_by"] is None


@pytest.mark.parametrize("text, kept", [
    ("By the way, from now on I'd like every refund to go to my PayPal.", True),
    ("please make my gift card the default for refunds going forward", True),
    ("I paid for that order with my PayPal.", False),
    ("Refund the lamp from order #W1234567 to my gift card.", False),
    ("Thanks, that's all for today!", False),
])
def test_the_packaged_reader_tells_a_lasting_preference_from_a_mention(text, kept):
    from agentspec.routing.reader import load_reader
    from agentspec.spec import load_spec

    spec = load_spec("retail")
    reader = load_reader(spec.resolve_path(spec.understanding.reader))
    assert (reader.read(text).chosen(spec.memory.remember_said, spec.memory.remember_threshold) is not None) == kept


def test_a_preference_said_in_one_session_refunds_the_next_sessions_return(shared_data, tmp_path):
    by_arm, summary = _both_arms(shared_data, tmp_path, "preference", 8)
    kept = [m for m in by_arm["memory"]["memories"] if m["key"] == "refund_method"]
    assert kept and kept[0]["value"].startswith("gift_card_")
    assert summary["memory"]["pass_hat_1"]["value"] == 1.0, by_arm["memory"]["reasons"]
    assert summary["none"]["pass_hat_1"]["value"] == 0.0
