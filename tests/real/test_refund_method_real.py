"""Tier 2: a return whose refund the customer first wants on a method that cannot take it.

Mia Garcia (mia_garcia_4516) asks to return two items without an order number, by name and zip. The
graph asks which items, then which method takes the refund (her order's Visa: she has no gift card);
she asks for PayPal, which the store refuses: she hears why and which method can take it, and the
return stays open, so "then the card is fine" states it on the Visa and her yes requests it. Before,
the refusal closed the return and the model claimed a refund it never made.
"""
from __future__ import annotations

import json

from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

ORDER, CARD = "#W5490111", "credit_card_3124723"
BOTTLE, BACKPACK = "4579334072", "4947717507"


def test_a_refund_refused_for_its_method_is_explained_and_the_return_completes_on_one_that_can(spec, shared_data):
    with RetailStore.from_json(shared_data / "tau2-retail" / "db.json") as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hello, I need to send back a couple of things I ordered")
            which = session.send("Mia Garcia, zip code 46229").reply
            assert which.startswith("Which items would you like to return?") and ORDER in which
            method = session.send("the water bottle and the backpack. no idea what the order number was").reply
            # (the reader also reads "what the order number was" as a question: the order's summary may come first)
            assert method.endswith(f"Which payment method should receive the refund: the Visa card ending in 7285 ({CARD})?")
            refused = session.send("can you put the refund on my paypal?").reply
            assert refused.startswith("A refund can only go to the order's original payment method or to a gift card")
            assert CARD in refused and session.state["open_requests"] == ["return"]
            stated = session.send("ok, the card it is then").reply
            pending = session.state["pending"]
            assert pending and pending["calls"][0]["arguments"] == {
                "order_id": ORDER, "item_ids": [BOTTLE, BACKPACK], "payment_method_id": CARD}, stated
            session.send("yes, go ahead")
        order = json.loads(store.invoke("get_order_details", {"order_id": ORDER}))
    assert order["status"] == "return requested" and order["return_payment_method_id"] == CARD
    assert sorted(order["return_items"]) == sorted([BOTTLE, BACKPACK])
