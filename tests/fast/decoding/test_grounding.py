"""Grounding: identifiers extracted from tau2-like JSON observations and free text."""
from __future__ import annotations

import json

from agentspec.decoding import Grounding
from agentspec.tools.retail import RETAIL_SHAPES

USER = {
    "user_id": "noah_brown_6181",
    "name": {"first_name": "Noah", "last_name": "Brown"},
    "address": {"address1": "986 Sunset Drive", "city": "Denver", "zip": "80279"},
    "email": "noah.brown7922@example.com",
    "payment_methods": {
        "paypal_5727330": {"source": "paypal", "id": "paypal_5727330"},
        "credit_card_7815826": {"source": "credit_card", "id": "credit_card_7815826", "last_four": "9212"},
    },
    "orders": ["#W7678072", "#W2611340"],
}

ORDER = {
    "order_id": "#W2611340",
    "user_id": "james_li_5688",
    "items": [
        {"name": "Water Bottle", "product_id": "8310926033", "item_id": "6469567736", "price": 47.84},
        {"name": "Office Chair", "product_id": "4794339885", "item_id": "8426249116", "price": 488.81},
    ],
    "status": "processed",
    "fulfillments": [{"tracking_id": ["357962501027"], "item_ids": ["6469567736", "8426249116"]}],
    "payment_history": [{"transaction_type": "payment", "amount": 536.65, "payment_method_id": "gift_card_1725971"}],
}

PRODUCT = {
    "name": "T-Shirt",
    "product_id": "9523456873",
    "variants": {
        "9612497925": {"item_id": "9612497925", "options": {"color": "blue", "size": "M"}, "available": True},
        "8124970213": {"item_id": "8124970213", "options": {"color": "purple", "size": "XL"}, "available": True},
    },
}


def test_user_json_gives_user_payment_methods_and_orders():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text(json.dumps(USER))
    assert g.values("user") == ("noah_brown_6181",)
    assert g.values("payment_method") == ("credit_card_7815826", "paypal_5727330")
    assert g.values("order") == ("#W2611340", "#W7678072")
    # Addresses, names and emails are not identifiers of any kind.
    assert not any("Denver" in vals for _, vals in g.snapshot())
    assert ("order", "#W7678072") in g and ("order", "#W0000000") not in g


def test_order_json_gives_items_products_and_payment_method():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    new = g.observe_text(json.dumps(ORDER, indent=2))
    assert g.values("order") == ("#W2611340",)
    assert g.values("user") == ("james_li_5688",)
    assert g.values("item") == ("6469567736", "8426249116")
    assert g.values("product") == ("4794339885", "8310926033")
    assert g.values("payment_method") == ("gift_card_1725971",)
    assert ("item", "6469567736") in new


def test_product_json_variant_keys_are_items():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text(json.dumps(PRODUCT))
    assert g.values("product") == ("9523456873",)
    assert g.values("item") == ("8124970213", "9612497925")
    assert g.values("option") == ()  # option dicts are not keyed by ids


def test_generic_rules_alone_find_entity_ids():
    g = Grounding(key_kinds={}, patterns={})
    g.observe_json(USER)
    g.observe_json(PRODUCT)
    # "id" inside an entity of a map keyed by id takes the container's (singular) kind.
    assert g.values("payment_method") == ("credit_card_7815826", "paypal_5727330")
    assert g.values("item") == ("8124970213", "9612497925")
    assert g.kinds() == ["item", "order", "payment_method", "product", "user"]


def test_dict_keyed_by_ids_without_inner_id_needs_an_explicit_key_kind():
    data = {"stock": {"SKU-1": {"qty": 3}, "SKU-2": {"qty": 0}}}
    assert Grounding.from_shapes(RETAIL_SHAPES).observe_json(data) == set()
    g = Grounding(key_kinds={"stock": "sku"}, patterns={})
    g.observe_json(data)
    assert g.values("sku") == ("SKU-1", "SKU-2")


def test_plain_id_observations_and_json_string():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("sara_doe_496")
    g.observe_text('"yusuf_rossi_9620"')
    assert g.values("user") == ("sara_doe_496", "yusuf_rossi_9620")
    assert g.values("payment_method") == ()


def test_free_user_text_is_matched_by_kind_patterns():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    new = g.observe_text(
        "Hi, I'm mei_kovacs_8020. Order #W1234567 arrived broken; refund it to credit_card_1234567. "
        "The lamp was item 1234567890, not 12345678901 (too long)."
    )
    assert g.values("user") == ("mei_kovacs_8020",)  # credit_card_1234567 is not a user
    assert g.values("order") == ("#W1234567",)
    assert g.values("payment_method") == ("credit_card_1234567",)
    # A 10-digit token is ambiguous between item and product: recorded as both.
    assert g.values("item") == g.values("product") == ("1234567890",)
    assert ("order", "#W1234567") in new
    assert g.observe_text("#W1234567") == set()  # nothing new the second time


def test_custom_patterns_snapshot_and_round_trip():
    g = Grounding(patterns={"ticket": r"TCK-[0-9]+"}, key_kinds={}, phrases={})
    g.observe_text("see TCK-12 and TCK-7, also #W1234567")
    assert g.kinds() == ["ticket"]
    snap = g.snapshot()
    assert snap == (("ticket", ("TCK-12", "TCK-7")),)
    hash(snap)
    assert g.snapshot(["ticket", "order"]) == (("order", ()), ("ticket", ("TCK-12", "TCK-7")))
    g.add("ticket", "TCK-1")
    assert g.snapshot() != snap
    restored = Grounding(g.as_dict())
    assert restored.snapshot() == g.snapshot()


def test_a_persons_name_is_grounded_word_by_word_from_free_text_only():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("It's Mei O'Neil-Patel, and the zip code is 76165. I have a question.")
    assert {"Mei", "O'Neil-Patel", "It's", "zip"} <= set(g.values("name"))
    assert not {"I", "a", "O"} & set(g.values("name"))  # one letter is no name ("I" begins "Isabella")
    assert "76165" not in g.values("name") and g.values("zip") == ("76165",)
    # JSON observations are walked by key: their words (a product's name, the user's stored name) do not count.
    g2 = Grounding.from_shapes(RETAIL_SHAPES)
    g2.observe_text('{"user_id": "mei_patel_7272", "name": {"first_name": "Mei", "last_name": "Patel"}}')
    assert g2.values("name") == () and g2.values("user") == ("mei_patel_7272",)


def test_dictated_text_is_every_short_run_of_words_within_a_clause():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("Please ship my order #W7836908 to 812 Chestnut Street, Suite 337, New York, NY 10088, USA instead.")
    values = set(g.values("dictated"))
    assert {"812 Chestnut Street", "Suite 337", "New York", "NY", "10088", "NY 10088", "USA", ""} <= values
    assert "Street, Suite" not in values and "Street Suite" not in values  # runs never cross a clause
    assert not [v for v in values if len(v.split()) > 6]
    g.observe_text("to 771 broadway, charlotte, nc 28216")
    assert {"771 broadway", "771 Broadway", "Charlotte", "NC"} <= set(g.values("dictated"))  # as meant
    g2 = Grounding.from_shapes(RETAIL_SHAPES)
    g2.observe_text('{"address": {"address1": "593 Cedar Avenue", "city": "Chicago"}}')
    assert g2.values("dictated") == ()  # an address read in an observation was not dictated
