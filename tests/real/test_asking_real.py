"""Tier 2: the default agent (the shipped expert and reader) with customers who say what they want before
they say which items, and who ask about "it".

Juan Brown (juan_brown_8562) opens with a return and names no item: once verified he is asked which
items, with those of his delivered order #W4960069; his answer names two of them by product, he is
asked where the refund goes, and the return he confirms is the one in the store. Yara Li
(yara_li_8961) asks to cancel her processed order with the Laptop, is told why that cannot be done,
and then asks for "its" status: the order just talked about is read and summarised by the graph.
"""
from __future__ import annotations

import json

from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

DELIVERED = "#W4960069"
CHAIR, COFFEE_MAKER = "1793929609", "5952720925"
CARD = "credit_card_2288437"


def test_a_return_opened_without_its_items_is_asked_for_them_and_done_as_told(spec, shared_data):
    db = shared_data / "tau2-retail" / "db.json"
    with RetailStore.from_json(db) as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("Hello! I received some things recently and I'd like to send a couple of them back.")
            assert session.state["open_requests"] == ["return"]
            question = session.send("Sure, my email is juan.brown2055@example.com.").reply
            assert question.startswith(f"Which items would you like to return? Your delivered order {DELIVERED} "
                                       "holds: Office Chair"), question
            assert session.state["pending"] is None and session.state["user_id"] == "juan_brown_8562"
            payment = session.send("It's the office chair and the coffee maker. The chair is uncomfortable and the "
                                   "coffee maker is too small for my family.").reply
            assert payment.startswith("Which payment method should receive the refund"), payment
            stated = session.send("Please put the refund back on my credit card.").reply
            assert session.state["pending"]["calls"] == [{"name": "return_delivered_order_items", "arguments": {
                "order_id": DELIVERED, "item_ids": [CHAIR, COFFEE_MAKER], "payment_method_id": CARD}}], stated
            session.send("Yes, please go ahead.")
        order = json.loads(store.invoke("get_order_details", {"order_id": DELIVERED}))
    assert order["status"] == "return requested" and order["return_items"] == [CHAIR, COFFEE_MAKER]


def test_a_question_about_it_after_a_refused_cancel_is_answered_about_that_order(spec, shared_data):
    db = shared_data / "tau2-retail" / "db.json"
    with RetailStore.from_json(db) as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            refused = session.send("Hi there. My name is Yara Li and my zip code is 10126. I'd like to cancel my "
                                   "order with the laptop, I found a better deal elsewhere.").reply
            assert refused.startswith("I can't do that: Non-pending order cannot be cancelled"), refused
            status = session.send("Oh, I see. In that case, what's the status of it? Has it shipped?").reply
            assert status.startswith("Order #W3400144 is processed."), status
            assert "Laptop" in status and "Notebook" in status
        assert json.loads(store.invoke("get_order_details", {"order_id": "#W3400144"}))["status"] == "processed"
