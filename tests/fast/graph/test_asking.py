"""What only the customer can say is asked for, never guessed: the retail spec's ``policy.targets.said``.

A return, an exchange or an item modification whose items the words name none of is not offered to
the model (``narrowing.hold_unsaid``); the graph asks in the toolkit's words (``writing``), once per
request, and the answer determines the write. The new version of an exchange the catalogue lacks is
asked for the same way, with the versions available.
"""
from __future__ import annotations

import dataclasses
import json

from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

from conftest import call, read_as, reply, tiny_shop
from fake_reader import KeywordReader

AUTH = call("find_user_id_by_email", email="alice@example.com")
ITEMS_QUESTION = "Which items would you like to return? Your delivered order #W0000001 holds: T-Shirt (blue, M)."


def _graph_steps(turn) -> list[str]:
    return [e["outcome"] for e in turn.entries if e["kind"] == "graph"]


def _offered(session) -> list[str]:
    return [e for e in session.trace() if e["kind"] == "decide"][-1]["tools_offered"]


def test_a_return_whose_items_are_not_said_is_asked_for_with_the_items_of_the_delivered_order(spec, scripted, shop_db):
    opening = "Hi, I'd like to send something back. alice@example.com"
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(opening, requests={"return": 0.95})) as s:
        turn = s.send(opening)
        assert turn.reply == ITEMS_QUESTION and _graph_steps(turn) == ["choose"]
        assert len(scripted.calls) == 1 and s.state["open_requests"] == ["return"]  # the model only looked her up
        answer = s.send("The T-Shirt, and put the money on my gift card please.")
        assert answer.reply.startswith("I'm about to request a return of T-Shirt (blue, M; item 1111111111) from "
                                       "order #W0000001, a refund of $20.00 to the gift card gift_card_1000002.")


def test_without_the_toolkits_question_the_model_is_not_offered_the_write_it_would_guess(spec, scripted, shop_db,
                                                                                           monkeypatch):
    monkeypatch.setattr(RetailStore, "ask", lambda self, name, arguments, argument, user=None, texts=(): None)
    opening = "Hi, I'd like to send something back. alice@example.com"
    scripted.enqueue(AUTH, reply("Which item would you like to return?"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(opening, requests={"return": 0.95})) as s:
        assert s.send(opening).reply == "Which item would you like to return?"
        assert "return_delivered_order_items" not in _offered(s) and "calculate" in _offered(s)


def test_asked_twice_words_the_toolkit_cannot_read_leave_the_write_to_the_model(spec, scripted, shop_db):
    # Asked twice: answers no verifier reads ("the blue top") do not strand the customer.
    opening = "Hi, I'd like to send something back. alice@example.com"
    scripted.enqueue(AUTH, reply("The T-Shirt from order #W0000001?"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=read_as(opening, requests={"return": 0.95})) as s:
        assert s.send(opening).reply == ITEMS_QUESTION
        assert s.send("the blue top I got last month").reply == ITEMS_QUESTION
        assert s.send("the blue top, I said").reply == "The T-Shirt from order #W0000001?"
        assert "return_delivered_order_items" in _offered(s)


def test_a_cancel_whose_order_is_not_said_is_asked_for_and_no_seen_order_is_refused(spec, scripted, shop_db):
    # Only the delivered #W0000001 has been shown: no model cancels it (and the customer never hears
    # its refusal); the graph asks, listing her pending order, and her answer names it.
    scripted.enqueue(AUTH, call("get_order_details", order_id="#W0000001"), reply("It is delivered."))
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        s.send("alice@example.com here. What is the status of order #W0000001?")
        turn = s.send("ok. please cancel my order, I ordered it by mistake")
        assert turn.reply == "Which order would you like to cancel? Your pending order #W0000002 holds: Mug (white)."
        answer = s.send("the one with the mug")
        assert answer.reply.startswith("I'm about to cancel order #W0000002 (reason: ordered by mistake).")


def test_an_exchange_for_a_version_the_catalogue_lacks_is_asked_with_the_versions_available(spec, scripted, shop_db):
    # No blue T-Shirt in size L exists: no write is stated, no model picks a variant; the red M is the one
    # available (the green L is not in stock, the blue M is hers already).
    text = "alice@example.com. Please exchange the T-Shirt from order #W0000001 for a blue one in size L."
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db) as s:
        turn = s.send(text)
        assert turn.reply == ("Which version of the T-Shirt would you like instead? Available now: color: red, "
                              "size: M ($22.50).")
        assert _graph_steps(turn)[-1] == "choose" and len(scripted.calls) == 1
        answer = s.send("ok, the red one then, paid with my gift card")
        assert answer.reply.startswith("I'm about to request an exchange in order #W0000001: T-Shirt (blue, M; item "
                                       "1111111111) for T-Shirt (red, M; item 2222222222)")


def _reader(**readings) -> "KeywordReader":
    """A keyword reader reading each text of ``readings`` ({text: requests}) with those request scores."""
    base = KeywordReader()
    return KeywordReader(readings={text: dataclasses.replace(base.read(text), requests={**base.read(text).requests,
                                                                                         **requests})
                                   for text, requests in readings.items()})


def test_an_answer_to_the_graphs_question_asks_no_question_and_opens_no_unsure_request(spec, scripted, shop_db):
    # "The T-Shirt" answers "which items?": read as a product question (0.9) and an item change (0.7), it
    # opens neither; the return goes on with what it needs next.
    opening = "Hi, I'd like to send something back. alice@example.com"
    reader = _reader(**{opening: {"return": 0.95}, "The T-Shirt.": {"product": 0.9, "modify_items": 0.7}})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        assert s.send(opening).reply == ITEMS_QUESTION
        turn = s.send("The T-Shirt.")
        assert s.state["open_requests"] == ["return"]
        assert [e["requests_kept"] for e in turn.entries if e.get("output") == "answers the question"] == [[]]
        assert turn.reply.startswith("Which payment method should receive the refund") and len(scripted.calls) == 1


def test_a_sure_request_beside_the_answer_opens(spec, scripted, shop_db):
    opening = "Hi, I'd like to send something back. alice@example.com"
    answer = "The T-Shirt. Also cancel my pending order please."
    reader = _reader(**{opening: {"return": 0.95}, answer: {"cancel": 0.99, "product": 0.9}})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send(opening)
        turn = s.send(answer)
        assert [e["requests_kept"] for e in turn.entries if e.get("output") == "answers the question"] == [["cancel"]]
        assert [e["requests"] for e in turn.entries if e["kind"] == "request"] == [["return", "cancel"]]


def test_the_item_to_exchange_comes_from_the_order_the_exchange_takes(spec, scripted, tmp_path):
    # Both of alice's orders hold a T-Shirt; only the delivered one can be exchanged: "the T-Shirt" is its
    # (the lookups read both orders first: what they were told the words name is not the exchange's).
    db = tiny_shop()
    shirt = dict(db["orders"]["#W0000001"]["items"][0], item_id="2222222222", options={"color": "red", "size": "M"})
    db["orders"]["#W0000009"] = {**db["orders"]["#W0000002"], "order_id": "#W0000009", "items": [shirt]}
    db["users"]["alice_smith_1001"]["orders"].append("#W0000009")
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(db))
    opening = "Hi, I'd like to exchange something I got. alice@example.com"
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=path, reader=read_as(opening, requests={"exchange": 0.95})) as s:
        assert s.send(opening).reply.startswith("Which items would you like to exchange? Your delivered order #W0000001")
        turn = s.send("the T-Shirt")
        assert turn.reply.startswith("Which version of the T-Shirt would you like instead?"), turn.reply
        assert s.send("the red one").reply.startswith("Which payment method")
        assert len(scripted.calls) == 1


def test_an_address_change_with_no_address_said_asks_for_the_order_then_the_address(spec, scripted, shop_db):
    # Read as the order's address and the profile's: neither write is offered to the model while no
    # address is said (policy.targets.said: dictated); the graph asks which order, then the address.
    opening = "alice@example.com. and since im here, address on my order needs changing pls"
    reader = read_as(opening, requests={"modify_address": 0.89, "account_address": 0.78})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        asked = s.send(opening)
        assert asked.reply == ("Which order's shipping address would you like to change? Your pending order "
                               "#W0000002 holds: Mug (white).") and _graph_steps(asked) == ["choose"]
        where = s.send("the one with the mug")
        assert where.reply == "What is the new shipping address of order #W0000002: street, city, state and zip code?"
        assert len(scripted.calls) == 1  # the model only looked her up
        stated = s.send("12 Oak Street, San Jose, CA 95120")
        assert stated.reply.startswith("I'm about to change the shipping address of order #W0000002 to 12 Oak Street, "
                                       "San Jose, CA 95120, USA.")


def test_a_new_requests_question_comes_before_an_older_requests_write(spec, scripted, shop_db):
    # "the address of an order" read as the order's and the profile's: once the order's is changed, the
    # same words still give the profile's address. A new request that waits for its items is asked
    # about first; the profile's address is not stated in answer to it.
    opening = "alice@example.com. I am writing to change the address of an order."
    new = "Is it possible to change something which was delivered for a different colour?"
    reader = KeywordReader(readings={
        opening: dataclasses.replace(KeywordReader().read(opening),
                                     requests={"modify_address": 0.9, "account_address": 0.8}),
        new: dataclasses.replace(KeywordReader().read(new), requests={"exchange": 0.9})})
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        assert s.send(opening).reply.startswith("Which order's shipping address would you like to change?")
        assert s.send("#W0000002. 12 Oak Street, San Jose, CA 95120").reply.startswith(
            "I'm about to change the shipping address of order #W0000002")
        assert s.send("yes").reply.startswith("The shipping address of order #W0000002 has been changed")
        assert s.state["open_requests"] == ["account_address"]
        turn = s.send(new)
        assert turn.reply == ("Which items would you like to exchange? Your delivered order #W0000001 holds: "
                              "T-Shirt (blue, M).") and s.state["pending"] is None
        # Its items and version said, the exchange waits for its payment method: asked, still before
        # the profile's address.
        turn = s.send("the T-Shirt, the red one please")
        assert turn.reply.startswith("Which payment method should pay or receive the price difference of the "
                                     "exchange") and s.state["pending"] is None
