"""The retail toolkit's ``mentions`` hook: which seen ids a customer's words refer to."""
from __future__ import annotations

import pytest

from agentspec.tools.retail import RetailStore
from retail_fixture import tiny_db

ORDERS = ["#W1", "#W2", "#W3"]  # alice: #W1 T-Shirt + Mug, #W2 two T-Shirts + Mug, #W3 a Mug
METHODS = ["credit_card_1", "gift_card_1", "paypal_1"]  # alice: Visa ending in 1111, a gift card, PayPal


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


@pytest.mark.parametrize("texts, expected", [
    (["cancel #W2 please"], ["#W2"]),
    (["cancel order W3, I ordered it by mistake"], ["#W3"]),  # the "#" left out
    (["my email is alice@example.com", "and also #W1"], ["#W1"]),  # every message since the last write
    (["the order with the t-shirt and the mug"], ["#W1", "#W2"]),  # both products: both such orders
    (["cancel the order with the mugs"], ORDERS),  # a product every order has narrows nothing down
    (["cancel my last order"], []),  # nothing named: the choice stays open
    (["#W2 has the shirt"], ["#W2"]),  # an id beats product names
])
def test_orders_by_id_else_by_the_products_in_them(store, texts, expected):
    assert store.mentions("order", texts, ORDERS) == expected


@pytest.mark.parametrize("text, expected", [
    ("put it on my PayPal instead", ["paypal_1"]),
    ("use the gift card", ["gift_card_1"]),
    ("charge my Visa", ["credit_card_1"]),
    ("the credit card please", ["credit_card_1"]),
    ("the card ending in 1111", ["credit_card_1"]),  # the last four digits name one card
    ("from my gift-card to paypal", ["gift_card_1", "paypal_1"]),
    ("refund to the original payment method", []),
    ("my zip code is 10001", []),  # four digits inside a longer number are not a card's
])
def test_payment_methods_by_kind_brand_or_last_four(store, text, expected):
    assert store.mentions("payment_method", [text], METHODS) == expected


def test_items_by_product_name_and_unknown_kinds_are_left_to_the_graph(store):
    items = ["1001", "1004", "2001", "2002"]  # T-Shirt variants, Mug variants
    assert store.mentions("item", ["return the mug from #W2"], items) == ["2001", "2002"]
    assert store.mentions("item", ["exchange my T-Shirt for a black one"], items) == ["1001", "1004"]
    assert store.mentions("item", ["return everything"], items) == []
    # Options given for one named product: the other named product only described the order.
    assert store.mentions("item", ["return the white Mug from my order with the T-Shirt and Mug"], items) == [
        "2001", "2002"]
    assert store.mentions("item", ["exchange the blue T-Shirt and the white Mug"], items) == items
    # Two products described equally stay; one described less than half as well is dropped.
    assert store.mentions("item", ["the blue T-Shirt, from my order with the T-Shirt and the black Mug"],
                          items) == items
    assert store.mentions("user", ["alice_1"], ["alice_1"]) is None  # the graph's default: ids spelled out


def test_products_by_name(store):
    assert store.mentions("product", ["exchange my t-shirt for a red one"], ["P1", "P2"]) == ["P1"]
    assert store.mentions("product", ["exchange it"], ["P1", "P2"]) == []
