"""The retail toolkit's words for a write it cannot do as asked (``explain``) and its question for a payment
method the customer has not named (``ask``); and yes/no options said by their name alone."""
from __future__ import annotations

import json

import pytest

from agentspec.hooks import Explained
from agentspec.tools.retail import RetailStore
from agentspec.tools.retail._variants import changed_variants

from retail_fixture import REAL_DB

BOOTS_ORDER = "#W8488728"  # liam_thomas_7882: Hiking Boots size 11, leather, not waterproof (5676696062)
SIZE_12_LEATHER_DRY = "8118291112"  # in the catalogue, not available
SWAP = {"order_id": BOOTS_ORDER, "item_ids": ["5676696062"], "new_item_ids": [SIZE_12_LEATHER_DRY],
        "payment_method_id": "paypal_3650980"}


@pytest.fixture(scope="module")
def store():
    with RetailStore.from_json(REAL_DB) as s:
        yield s


def test_a_version_out_of_stock_is_explained_with_the_closest_available_ones(store):
    error = store.check("exchange_delivered_order_items", SWAP)
    assert error == f"Error: New item {SIZE_12_LEATHER_DRY} not found or available"
    explained = store.explain("exchange_delivered_order_items", SWAP, error)
    assert isinstance(explained, Explained) and explained.keeps_request
    # The two available size-12 versions share two options each with the one asked; the old item (size 11,
    # leather, not waterproof) shares two as well but is never offered; cheapest first.
    assert explained.text == (
        "That version of the Hiking Boots (size: 12, material: leather, waterproof: no) is not available right "
        "now. The closest versions available: size: 12, material: leather, waterproof: yes ($236.57); size: 12, "
        "material: synthetic, waterproof: no ($241.96). Would you like one of these instead?")


def test_a_refund_to_a_method_that_cannot_take_it_is_explained_with_those_that_can(store):
    # liam paid the boots with PayPal and has a Visa, no gift card: the Visa cannot take the refund.
    call = {"order_id": BOOTS_ORDER, "item_ids": ["5676696062"], "payment_method_id": "credit_card_3261838"}
    error = store.check("return_delivered_order_items", call)
    assert error == "Error: Payment method should be the original payment method"
    explained = store.explain("return_delivered_order_items", call, error)
    assert explained.keeps_request  # the customer's answer completes the return
    assert explained.text == ("A refund can only go to the order's original payment method or to a gift card. "
                              "Which payment method would you like instead: PayPal (paypal_3650980)?")
    assert explained.offer == "PayPal (paypal_3650980)"  # the one method that can: a yes says it


def test_a_payment_change_to_the_method_the_order_has_lists_the_others(store):
    call = {"order_id": "#W3043531", "payment_method_id": "paypal_6661566"}  # james_martin_1500 paid with PayPal
    error = store.check("modify_pending_order_payment", call)
    explained = store.explain("modify_pending_order_payment", call, error)
    assert explained.keeps_request and explained.text.startswith("The order is already paid that way. Which payment "
                                                                 "method would you like instead: the ")
    assert "credit_card_6932154" in explained.text and "credit_card_7083997" in explained.text
    assert "paypal_6661566" not in explained.text and explained.offer is None  # two others: no offer
    question = store.ask("modify_pending_order_payment", {"order_id": "#W3043531"}, "payment_method_id").text
    assert question.startswith("Which payment method should pay for the order: ") and "paypal" not in question


def test_other_refusals_and_other_tools_have_no_words_of_the_toolkit(store):
    assert store.explain("cancel_pending_order", {"order_id": BOOTS_ORDER, "reason": "no longer needed"},
                         "Error: Non-pending order cannot be cancelled") is None
    assert store.explain("exchange_delivered_order_items", SWAP, "Error: Payment method not found") is None


def test_a_product_with_no_other_version_available_settles_the_request():
    db = json.loads(REAL_DB.read_text(encoding="utf-8"))
    boots = next(p for p in db["products"].values() if p["name"] == "Hiking Boots")
    for item_id, variant in boots["variants"].items():
        variant["available"] = item_id == "5676696062"  # only the one the customer has
    with RetailStore.from_json(db) as store:
        explained = store.explain("exchange_delivered_order_items", SWAP, store.check("exchange_delivered_order_items",
                                                                                        SWAP))
    assert not explained.keeps_request and "No other version of it is available" in explained.text


def test_the_payment_question_lists_the_customers_methods_that_can_take_it(store):
    given = {k: v for k, v in SWAP.items() if k != "payment_method_id"}
    assert store.ask("exchange_delivered_order_items", given, "payment_method_id").text == (
        "Which payment method should pay or receive the price difference of the exchange: PayPal (paypal_3650980) "
        "or the Visa card ending in 3194 (credit_card_3261838)?")
    # A return's refund goes to the order's original method or a gift card only.
    order = json.loads(store.invoke("get_order_details", {"order_id": BOOTS_ORDER}))
    original = order["payment_history"][0]["payment_method_id"]
    asked = store.ask("return_delivered_order_items", {"order_id": BOOTS_ORDER, "item_ids": ["5676696062"]},
                      "payment_method_id")
    assert asked.text.startswith("Which payment method should receive the refund: ") and original in asked.text
    assert asked.text.count("(") == 1  # liam has no gift card: the original method alone
    assert asked.offer is not None and original in asked.offer
    assert store.ask("exchange_delivered_order_items", given, "reason") is None
    assert store.ask("cancel_pending_order", {"order_id": BOOTS_ORDER}, "payment_method_id") is None


@pytest.mark.parametrize("text, expected", [
    ("swap the boots i got for a size 12 waterproof pair", ["8277474082"]),  # yes by the option's name
    ("size 12 please. ok the leather waterproof ones then", ["8277474082"]),
    ("non-waterproof boots in size 12, synthetic", ["4582956489"]),  # no
    ("my boots (size 11, leather, not waterproof) for size 12, waterproof", ["8277474082"]),  # the last said wins
    ("the boots for a size 12 please", [SIZE_12_LEATHER_DRY]),  # not said: the old item's value stays
])
def test_a_yes_no_option_is_said_by_its_name_alone(store, text, expected):
    order = json.loads(store.invoke("get_order_details", {"order_id": BOOTS_ORDER}))
    assert changed_variants(store._db, text, order["items"]) == expected


@pytest.mark.parametrize("text, expected", [
    ("the Digital Camera for the one with 3x zoom", ["1804581713"]),  # a short value before its option's name
    ("the Digital Camera for the one with zoom 3x", ["1804581713"]),
    ("the Digital Camera, 3x please", ["1804581713"]),  # set off by a comma
    ("the Digital Camera with 3x", []),  # bare and unset: not read
])
def test_a_short_value_is_read_before_or_after_its_options_name(store, text, expected):
    order = json.loads(store.invoke("get_order_details", {"order_id": "#W4864669"}))  # 30MP, 10x, SD card
    camera = [item for item in order["items"] if item["name"] == "Digital Camera"]
    assert changed_variants(store._db, text, camera) == expected


def test_the_closest_versions_keep_what_the_customer_changed_first(store):
    # Ava's 2000-piece art puzzle "in the 1000-piece version": 1000 / art / beginner is out of stock. The
    # available versions with 1000 pieces come first, not the 500-piece one that shares theme and level.
    call = {"order_id": "#W6805991", "item_ids": ["9030221155"], "new_item_ids": ["1008948180"],
            "payment_method_id": "gift_card_2721181"}
    error = store.check("modify_pending_order_items", call)
    assert error == "Error: New item 1008948180 not found or available"
    explained = store.explain("modify_pending_order_items", call, error)
    listed = explained.text.partition("closest versions available: ")[2]
    assert listed.count("pieces: 1000") == 2 and "pieces: 500" not in listed
    assert explained.keeps_request and explained.offer is None  # two versions: the customer says which


def test_an_incomplete_address_is_asked_again_and_the_request_kept(store):
    call = {"order_id": "#W6805991", "address1": "Pine Lane", "address2": "463 Suite 570", "city": "San Antonio",
            "state": "TX", "country": "USA", "zip": "78228"}
    error = store.check("modify_pending_order_address", call)
    assert error.startswith("Error: not a complete address (address1 'Pine Lane' is not a number and street)")
    explained = store.explain("modify_pending_order_address", call, error)
    assert explained.keeps_request and explained.offer is None
    assert explained.text == ("I could not read a complete address there (address1 'Pine Lane' is not a number and "
                              "street). What is the full new address: street with its number, city, state and zip "
                              "code?")
    assert store.explain("modify_user_address", {**call, "user_id": "ava_silva_4632"}, error).keeps_request
