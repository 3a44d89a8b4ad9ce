"""What a verified customer's words ask to keep (``memory.remember_said``), with a scripted model (the
fast tier's keyword reader reads "from now on" and the like as a lasting preference, and "refund" as a
return request, which the sentences here avoid where no request is meant): a
lasting preference is resolved against the store and remembered with its source, also when it was
said before authentication; it is acknowledged with the spec's sentence, recalled in the next
conversation and gives the write there what the words leave open. Words naming none of the customer's
methods, a method only mentioned, and another customer keep nothing."""
from __future__ import annotations

import pytest

from agentspec.graph import AgentSession
from agentspec.spec import load_spec
from agentspec.tools.retail import RetailStore

from conftest import call, changed, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
KEPT = "Refund method the customer asked for from now on: the gift card gift_card_1000002"


@pytest.fixture
def spec():
    return changed(load_spec("retail"), memory={"min_score": -1.0})


def _kept(session, user="alice_smith_1001"):
    return [m.text for m in session.deps.memory.memories(user)]


def test_a_preference_said_before_authentication_is_kept_once_the_customer_is_known(spec, scripted, shop_db):
    spec = changed(spec, retrieval={"min_score": -1.0})  # any passage would be near enough
    scripted.enqueue(reply("Sure, who am I speaking with?"))
    with RetailStore.from_json(shop_db) as store, AgentSession(spec, model=scripted, data=shop_db,
                                                               toolkits={"retail": store}) as s:
        first = s.send("Hi! From now on please put money you owe me on my gift card.")
        assert not _kept(s) and not [e for e in first.entries if e["kind"] == "remember"]
        # Words for the customer's memory, not a question for the documents: the identity is asked for.
        assert first.reply == spec.messages.identity_request
        assert all(not e["passages"] for e in first.entries if e["kind"] == "recall")
        scripted.enqueue(AUTH)
        turn = s.send("alice@example.com")
        assert _kept(s) == [KEPT]
        (memory,) = s.deps.memory.memories("alice_smith_1001")
        assert (memory.key, memory.value, memory.turn) == ("refund_method", "gift_card_1000002", 2)
        (entry,) = [e for e in turn.entries if e["kind"] == "remember"]
        assert entry["user"] == "alice_smith_1001" and entry["read"][0]["label"] == "payment_method"
        assert turn.reply == spec.messages.remembered.format(memory=KEPT)
        # Read once: the next turns do not keep it again.
        scripted.enqueue(reply("Goodbye!"))
        later = s.send("thanks, bye")
        assert not [e for e in later.entries if e["kind"] == "remember"] and later.reply == "Goodbye!"


def test_the_kept_preference_refunds_a_return_in_the_next_conversation(spec, scripted, shop_db):
    with RetailStore.from_json(shop_db) as store:
        scripted.enqueue(AUTH)
        with AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
            s.send("alice@example.com - going forward, money back goes to my gift card please")
            assert _kept(s) == [KEPT]
        scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000001"))
        with AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
            turn = s.send("alice@example.com: I want to return the T-Shirt from order #W0000001, refunded to "
                          "my preferred method")
            assert s.state["pending"] is not None, turn.reply
            assert "gift_card_1000002" in turn.reply and "T-Shirt" in turn.reply
            done = s.send("yes")
            (ran,) = [c for c in done.tool_calls if c["name"] == "return_delivered_order_items"]
            assert ran["arguments"]["payment_method_id"] == "gift_card_1000002"


@pytest.mark.parametrize("text", ["alice@example.com. From now on, money back to my PayPal please",  # not hers
                                  "alice@example.com, from now on pay me back the usual way",  # names no method
                                  "alice@example.com, I paid with my Visa ending in 1111 last time"])  # no preference
def test_words_that_name_no_method_of_theirs_or_no_preference_keep_nothing(spec, scripted, shop_db, text):
    scripted.enqueue(AUTH, reply("Noted."))
    with RetailStore.from_json(shop_db) as store, AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
        turn = s.send(text)
        assert not _kept(s)
        assert all(not e["read"][0]["kept"] for e in turn.entries if e["kind"] == "remember")
        assert turn.reply != spec.messages.remembered.format(memory=KEPT)


def test_a_preference_is_kept_for_its_own_customer_only(spec, scripted, shop_db):
    scripted.enqueue(call("find_user_id_by_email", email="bob@example.com"))
    with RetailStore.from_json(shop_db) as store, AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
        s.send("bob@example.com. From now on money back to my PayPal, and alice's too")
        assert _kept(s, "bob_jones_2002") == ["Refund method the customer asked for from now on: PayPal (paypal_2000001)"]
        assert not _kept(s)


def test_without_remember_said_words_keep_nothing(spec, scripted, shop_db):
    plain = changed(spec, memory={"remember_said": None})
    scripted.enqueue(AUTH, reply("Sure."))
    with RetailStore.from_json(shop_db) as store, AgentSession(plain, model=scripted, toolkits={"retail": store}) as s:
        turn = s.send("alice@example.com - from now on, money back to my gift card")
        assert not _kept(s) and not [e for e in turn.entries if e["kind"] == "remember"]


def test_the_repl_shows_what_the_turn_kept_from_the_customers_words(spec, scripted, shop_db):
    import io

    from rich.console import Console

    from agentspec.agent_repl import AgentRepl

    scripted.enqueue(AUTH)
    out = io.StringIO()
    feed = iter(["alice@example.com - going forward, money back goes to my gift card please", "/memory", "/exit"])
    with RetailStore.from_json(shop_db) as store, AgentSession(spec, model=scripted, toolkits={"retail": store}) as s:
        AgentRepl(s, console=Console(file=out, width=250), read_line=lambda prompt: next(feed)).run()
    text = out.getvalue()
    assert "kept from the customer's words (payment_method" in text and "gift_card_1000002" in text


MOVE = dict(order_id="#W0000002", address1="5 Pine Ave", address2="", city="Dallas", state="TX", country="USA",
            zip="75201")


@pytest.mark.parametrize("shared", [True, False])
def test_on_a_shared_shop_the_last_conversations_write_stays_true_for_the_next(spec, scripted, shop_db, tmp_path,
                                                                               shared):
    config = {"db": str(shop_db), **({"store": str(tmp_path / "shop.sqlite")} if shared else {})}
    on_shop = changed(spec, toolkits=[{"name": "retail", "config": config}])
    scripted.enqueue(AUTH, call("modify_pending_order_address", **MOVE))
    with AgentSession(on_shop, model=scripted, name="first") as s:
        s.send("alice@example.com, please ship order #W0000002 to 5 Pine Ave, Dallas, TX 75201, USA")
        s.send("yes")
    scripted.enqueue(AUTH, reply("Sure."))
    with AgentSession(on_shop, model=scripted, name="second") as s:
        turn = s.send("alice@example.com: where did my last order go?")
        (entry,) = [e for e in turn.entries if e["kind"] == "recall" and e["user"]]
        texts = [m["text"] for m in entry["memories"]]
        if shared:  # the same live shop: the remembered address is still true
            assert "Delivery address used last time: 5 Pine Ave, Dallas, TX 75201, USA" in texts and not entry["dropped"]
        else:  # a copy of the db.json per conversation: that write is not in this one, the memory is stale
            assert [d["why"] for d in entry["dropped"]] == ["stale"]


def test_with_no_open_request_memories_are_recalled_for_the_customers_words_not_a_tool_result():
    from agentspec.graph.recall import _query

    observation = {"role": "user", "content": '{"order_id": "#W1", "status": "delivered"}',
                   "meta": {"tool": "get_order_details", "arguments": {}, "chars": 40}}
    state = {"messages": [{"role": "user", "content": "where do my refunds usually go"},
                          {"role": "assistant", "content": "", "tool_calls": []}, observation]}
    assert _query(state) == "where do my refunds usually go"
    assert _query({**state, "said": ["cancel #W1", "and return #W2"]}) == "cancel #W1 and return #W2"
    assert _query({"messages": [observation]}) == ""
