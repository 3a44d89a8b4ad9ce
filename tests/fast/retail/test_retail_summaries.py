"""The answer to a question about an order or a product (``RetailStore.summary``): what the store holds, nothing guessed."""
from __future__ import annotations

import json

from agentspec.tools.retail import RetailStore

from retail_fixture import REAL_DB, tiny_db


def test_an_order_summary_states_status_items_total_payment_and_address():
    store = RetailStore.from_json(tiny_db())
    text = store.summary("get_order_details", {"order_id": "#W2"})
    assert text.startswith("Order #W2 is delivered. It holds 3 items: T-Shirt (")
    assert "Total $26.75; $26.75 paid with PayPal (paypal_1)." in text
    assert "It ships to 1 Main St, Springfield, IL 10001, USA." in text
    assert "tracking" not in text  # this order has no shipment: no number is made up


def test_a_refund_is_stated_beside_the_payment():
    text = RetailStore.from_json(tiny_db()).summary("get_order_details", {"order_id": "#W4"})
    assert "Order #W4 is cancelled." in text
    assert "$6.75 paid with the gift card gift_card_1; $6.75 refunded with the gift card gift_card_1" in text


def test_a_shipped_order_states_its_tracking_number_and_amounts_without_thousands_separators():
    db = json.loads(REAL_DB.read_text(encoding="utf-8"))
    order = next(o for o in db["orders"].values()
                 if o["fulfillments"] and sum(i["price"] for i in o["items"]) >= 1000)
    text = RetailStore.from_json(db).summary("get_order_details", {"order_id": order["order_id"]})
    for number in order["fulfillments"][0]["tracking_id"]:
        assert f"tracking number {number}" in text or number in text
    total = round(sum(i["price"] for i in order["items"]), 2)
    assert f"Total ${total:.2f}" in text and "," not in text.split("Total ")[1].split(";")[0]
    for item in order["items"]:
        assert item["name"] in text


def test_no_summary_for_an_unknown_order_or_another_tool():
    store = RetailStore.from_json(tiny_db())
    assert store.summary("get_order_details", {"order_id": "#W999"}) is None
    assert store.summary("get_user_details", {"user_id": "alice_1"}) is None
    assert store.summary("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}) is None


def test_a_product_summary_states_the_available_versions_their_options_and_prices():
    text = RetailStore.from_json(tiny_db()).summary("get_product_details", {"product_id": "P1"})
    assert text.startswith("T-Shirt: 6 versions, 5 available now (color blue, red, black, white, grey; size M, L, S).")
    assert "Available versions cost $10.00 to $30.00." in text
    assert "(color: red, size: M; $12.50)" in text
    assert "green" not in text and "9.99" not in text  # the sold-out version is not offered


def test_a_product_with_many_versions_gives_its_options_and_price_range_only():
    db = tiny_db()
    db["products"]["P1"]["variants"] = {str(i): {"item_id": str(i), "options": {"size": str(i)}, "available": True,
                                                 "price": 10.0 + i} for i in range(12)}
    text = RetailStore.from_json(db).summary("get_product_details", {"product_id": "P1"})
    assert "12 versions, 12 available now (size 0, 1, 2" in text and "$10.00 to $21.00" in text
    assert "Available:" not in text


def test_a_sold_out_product_says_so():
    db = tiny_db()
    for variant in db["products"]["P2"]["variants"].values():
        variant["available"] = False
    text = RetailStore.from_json(db).summary("get_product_details", {"product_id": "P2"})
    assert text.startswith("Mug: none of its 2 versions is available at the moment.")
    assert RetailStore.from_json(db).summary("get_product_details", {"product_id": "P9"}) is None
