"""Tier 2: the default agent (the shipped expert and reader) with a customer who asks for a version that
is out of stock and names no payment method.

Liam Thomas (liam_thomas_7882) has Hiking Boots (size 11, leather, not waterproof) in delivered order
#W8488728; size 12 in leather, not waterproof, is not available. Asserted: the graph says so with
the closest available versions (no write, the request kept open), asks which of his payment methods
to use once he picks one, and the exchange he then confirms is the one in the store.
"""
from __future__ import annotations

import json

from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

ORDER = "#W8488728"
SYNTHETIC_12 = "4582956489"  # size 12, synthetic, not waterproof: available
CARD = "credit_card_3261838"


def test_an_out_of_stock_size_is_answered_with_the_closest_ones_then_the_payment_is_asked(spec, shared_data):
    db = shared_data / "tau2-retail" / "db.json"
    with RetailStore.from_json(db) as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hi, Liam Thomas here, zip 85049")
            refused = session.send("I'd like to exchange my hiking boots for a size 12 pair").reply
            assert refused.startswith("That version of the Hiking Boots (size: 12, material: leather, waterproof: "
                                      "no) is not available right now.")
            assert "size: 12, material: leather, waterproof: yes" in refused
            assert "size: 12, material: synthetic, waterproof: no" in refused
            assert session.state["open_requests"] == ["exchange"] and session.state["pending"] is None
            question = session.send("the synthetic ones are fine").reply
            assert question.startswith("Which payment method should pay or receive the price difference")
            assert "PayPal" in question and "Visa card ending in 3194" in question
            stated = session.send("the credit card").reply
            assert session.state["pending"]["calls"] == [{"name": "exchange_delivered_order_items", "arguments": {
                "order_id": ORDER, "item_ids": ["5676696062"], "new_item_ids": [SYNTHETIC_12],
                "payment_method_id": CARD}}], stated
            session.send("yes")
        order = json.loads(store.invoke("get_order_details", {"order_id": ORDER}))
    assert order["status"] == "exchange requested"
    assert order["exchange_new_items"] == [SYNTHETIC_12] and order["exchange_payment_method_id"] == CARD
