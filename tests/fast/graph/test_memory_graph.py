"""The graph's recall step with a scripted model: what a write leaves is remembered for its customer,
recalled after authentication in a later conversation, checked against the store before the model
sees it (a stale memory is superseded by the live fact, never shown), and never recalled before
authentication."""
from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.graph import AgentSession
from agentspec.spec import load_spec
from agentspec.tools.retail import RetailStore

from conftest import call, changed, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
MOVE = dict(order_id="#W0000002", address1="5 Pine Ave", address2="", city="Dallas", state="TX", country="USA",
            zip="75201")
HEADER = "Remembered from this customer's earlier conversations"


@pytest.fixture
def spec():
    """The retail spec recalling whatever the customer has (the fast tier's hashing encoder knows no
    synonyms: similarity is the real tier's to test), without the request scope."""
    return changed(load_spec("retail"), understanding={"requests": {}}, policy={"ask_for_request": False},
                   memory={"min_score": -1.0})


def _recalls(entries):
    return [e for e in entries if e["kind"] == "recall"]


def _first_conversation(spec, scripted, store):
    scripted.enqueue(AUTH, call("modify_pending_order_address", **MOVE))
    with AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
        s.send("alice@example.com, please ship order #W0000002 to 5 Pine Ave, Dallas, TX 75201, USA")
        done = s.send("yes")
        assert [c["name"] for c in done.tool_calls] == ["modify_pending_order_address"]
        return s.deps.memory.memories("alice_smith_1001")


def test_a_write_is_remembered_and_recalled_in_the_next_conversation_after_authentication(spec, scripted, shop_db):
    with RetailStore.from_json(shop_db) as store:
        remembered = _first_conversation(spec, scripted, store)
        assert [m.text for m in remembered] == ["Delivery address used last time: 5 Pine Ave, Dallas, TX 75201, USA"]
        assert (remembered[0].key, remembered[0].turn) == ("address", 2)
        # The next conversation, on the same shop (the address is live): recalled once the customer is known.
        scripted.enqueue(reply("Hello!"), AUTH, reply("Sure."))
        with AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
            before = s.send("hi, ship my other order to the same place as last time")
            assert all(not e["memories"] for e in _recalls(before.entries))
            assert not any(HEADER in m["content"] for c in scripted.calls for m in c["messages"])
            after = s.send("alice@example.com: ship it to the same place as last time")
            recalled = [m for e in _recalls(after.entries) for m in e["memories"]]
            assert [m["text"] for m in recalled] == ["Delivery address used last time: 5 Pine Ave, Dallas, TX 75201, USA"]
            prompt = scripted.calls[-1]["messages"]
            context = [m["content"] for m in prompt if m["role"] == "system" and HEADER in m["content"]]
            assert context and "5 Pine Ave" in context[0] and "session ephemeral-" in context[0]
            # Just before the latest user message: the prompt's prefix stays the same turn to turn.
            assert prompt[-1]["role"] == "user" and HEADER in prompt[-2]["content"]


def test_a_stale_memory_is_superseded_by_live_data_and_never_shown(spec, scripted, shop_db):
    with RetailStore.from_json(shop_db) as store:
        _first_conversation(spec, scripted, store)
    # A fresh shop: neither the profile nor any order ships to 5 Pine Ave any more.
    with RetailStore.from_json(shop_db) as fresh:
        scripted.enqueue(AUTH, reply("Sure."))
        with AgentSession(spec, model=scripted, toolkits={"retail": fresh}) as s:
            turn = s.send("alice@example.com: send it to the same place as last time")
            (entry,) = [e for e in _recalls(turn.entries) if e["user"]]
            # Dropped, and the live fact that replaces it shown instead.
            assert [d["why"] for d in entry["dropped"]] == ["stale"] and "1 Main St" in entry["dropped"][0]["live"]
            assert [m["text"] for m in entry["memories"]] == ["Delivery address on the account now: 1 Main St, Springfield, IL 10001, USA"]
            prompt = " ".join(m["content"] for m in scripted.calls[-1]["messages"])
            assert "5 Pine Ave" not in prompt and "Delivery address on the account now: 1 Main St" in prompt
            memories = {m.text: m for m in s.deps.memory.memories("alice_smith_1001")}
            old = memories["Delivery address used last time: 5 Pine Ave, Dallas, TX 75201, USA"]
            assert old.superseded_by and old.reason.startswith("stale")
            assert memories["Delivery address on the account now: 1 Main St, Springfield, IL 10001, USA"].live


def test_another_customers_memories_never_reach_the_prompt(spec, scripted, shop_db):
    with RetailStore.from_json(shop_db) as store:
        _first_conversation(spec, scripted, store)
        scripted.enqueue(call("find_user_id_by_email", email="bob@example.com"), reply("Sure."))
        with AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
            turn = s.send("bob@example.com here. What address did alice_smith_1001 ship to last time? 5 Pine Ave?")
            assert all(not e["memories"] and not e["dropped"] for e in _recalls(turn.entries))
            assert not any(HEADER in m["content"] for m in scripted.calls[-1]["messages"])


def test_without_a_memory_block_nothing_is_remembered(spec, scripted, shop_db, tmp_path):
    bare = spec.model_copy(update={"memory": None, "retrieval": None})
    with RetailStore.from_json(shop_db) as store:
        scripted.enqueue(AUTH, call("modify_pending_order_address", **MOVE))
        with AgentSession(bare, model=scripted, toolkits={"retail": store}) as s:
            s.send("alice@example.com, please ship order #W0000002 to 5 Pine Ave, Dallas, TX 75201, USA")
            s.send("yes")
            assert s.deps.memory is None and not _recalls(s.trace())
    assert not (tmp_path / "home" / "memory").exists()


def test_the_repl_shows_what_the_last_turn_recalled_and_dropped(spec, scripted, shop_db):
    import io

    from rich.console import Console

    from agentspec.agent_repl import AgentRepl

    with RetailStore.from_json(shop_db) as store:
        _first_conversation(spec, scripted, store)
    scripted.enqueue(AUTH, reply("Sure."))
    out = io.StringIO()
    feed = iter(["/memory", "alice@example.com: send it to the same place as last time", "/memory", "/exit"])
    with RetailStore.from_json(shop_db) as fresh, AgentSession(spec, model=scripted, toolkits={"retail": fresh}) as s:
        AgentRepl(s, console=Console(file=out, width=200), read_line=lambda prompt: next(feed)).run()
    text = out.getvalue()
    assert "nothing recalled yet" in text
    assert "5 Pine Ave" in text and "dropped: stale" in text and "on the account now: 1 Main St" in text


def test_words_that_leave_the_address_open_take_the_remembered_one_and_said_values_win(scripted, shop_db):
    scoped = changed(load_spec("retail"), policy={"ask_for_request": False}, memory={"min_score": -1.0})
    profile = {k: v for k, v in MOVE.items() if k != "order_id"}
    with RetailStore.from_json(shop_db) as store:
        scripted.enqueue(AUTH, call("modify_user_address", user_id="alice_smith_1001", **profile))
        with AgentSession(scoped, model=scripted, toolkits={"retail": store}) as s:
            s.send("alice@example.com, please change my account address to 5 Pine Ave, Dallas, TX 75201, USA")
            assert [c["name"] for c in s.send("yes").tool_calls] == ["modify_user_address"]
        scripted.enqueue(AUTH, reply("Which address?"))
        with AgentSession(scoped, model=scripted, toolkits={"retail": store}) as s:
            s.send("alice@example.com: please change the address of order #W0000002 to the same place as last time")
            assert s.state["pending"]["calls"] == [{"name": "modify_pending_order_address", "arguments": MOVE}]
        scripted.enqueue(AUTH, reply("Which address?"))
        with AgentSession(scoped, model=scripted, toolkits={"retail": store}) as s:
            s.send("alice@example.com: please change the address of order #W0000002 to 7 Birch Rd, Austin, TX 78701, USA")
            assert s.state["pending"]["calls"][0]["arguments"]["address1"] == "7 Birch Rd"


def test_a_question_gets_passages_with_their_source_and_a_task_does_not(scripted, shop_db):
    spec = changed(load_spec("retail"), policy={"ask_for_request": False}, retrieval={"min_score": -1.0})
    header = spec.retrieval.header
    scripted.enqueue(reply("Not once it is processed [faq.md]."), AUTH, reply("Which order?"))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        asked = s.send("can I change an order after it ships?")
        (entry,) = [e for e in asked.entries if e["kind"] == "recall"]
        assert entry["user"] is None and entry["memories"] == [] and len(entry["passages"]) == 2
        # A question the documents answer needs nobody's data: the reply stands before authentication.
        assert asked.reply == "Not once it is processed [faq.md]."
        assert all(p["source"].split("#")[0] in ("faq.md", "catalog.md") for p in entry["passages"])
        prompt = scripted.calls[-1]["messages"]
        assert prompt[-2]["role"] == "system" and prompt[-2]["content"].startswith(header)
        assert "[faq.md#" in prompt[-2]["content"] or "[catalog.md#" in prompt[-2]["content"]
        task = s.send("alice@example.com: cancel order #W0000002, I ordered it by mistake")
        assert all(not e["passages"] for e in task.entries if e["kind"] == "recall")
    scripted.enqueue(reply("Sure, visit the website."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:  # a task before authentication: identity first
        assert s.send("I want to cancel an order").reply == spec.messages.identity_request
        # The catalogue passages are this store's products.
        assert {p.source for p in s.deps.documents.passages()} >= {"catalog.md#T-Shirt", "catalog.md#Mug"}

