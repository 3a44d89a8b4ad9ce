"""The retail toolkit's ``mentions`` hook: which seen ids a customer's words refer to."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.tools.retail import RetailStore
from agentspec.tools.retail._addresses import implausible_address
from retail_fixture import tiny_db

ORDERS = ["#W1", "#W2", "#W3"]  # alice: #W1 T-Shirt + Mug, #W2 two T-Shirts + Mug, #W3 a Mug
METHODS = ["credit_card_1", "gift_card_1", "paypal_1"]  # alice: Visa ending in 1111, a gift card, PayPal


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def tau2():
    """The tau2 retail store (read only: these tests only ask what words refer to)."""
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}; tests read it from ../shared/data")
    with RetailStore.from_json(SHARED_DATA / "tau2-retail" / "db.json") as s:
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
    ("ok, the original card is fine", ["credit_card_1"]),  # a card that is no gift card
    ("my gift card please", ["gift_card_1"]),
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
    # A product nothing has listed yet is still named: the whole catalogue is searched after the seen ones.
    assert store.mentions("product", ["what colours does the mug come in?"], []) == ["P2"]
    assert store.mentions("product", ["do you sell mugs and t-shirts"], ["P1"]) == ["P1", "P2"]


def test_a_products_whole_name_outweighs_another_products_last_word(tau2):
    db = json.loads((SHARED_DATA / "tau2-retail" / "db.json").read_text(encoding="utf-8"))
    kettles = {p["name"]: pid for pid, p in db["products"].items() if p["name"].endswith("Kettle")}
    assert tau2.mentions("product", ["what does the tea kettle cost?"], []) == [kettles["Tea Kettle"]]
    assert sorted(tau2.mentions("product", ["what does a kettle cost?"], [])) == sorted(kettles.values())


SHIRTS = ["1001", "1002", "1004", "1005", "1006"]  # every T-Shirt variant, read from the product


@pytest.mark.parametrize("text, expected", [
    # The old item (#W1's blue M) with what the user says differently: color red.
    ("exchange the T-Shirt (color blue, size M) in #W1 for the one with color red, size M", ["1002"]),
    ("I'd like the same T-Shirt from #W1 in grey instead", ["1006"]),  # only what changes is said
    ("swap the T-Shirt in #W1 for a black one, size L", ["1004"]),
    # "I'm" does not say size "M"; the white Mug of the order is not what changes.
    ("I'm changing the T-Shirt in my order with the T-Shirt and white Mug to the white one, size S", ["1005"]),
    # The order's product list says which order: "black" changes the T-Shirt only, not the listed Mug.
    ("the order that has the Mug and T-Shirt, need to swap the T-Shirt for a black one, size L", ["1004"]),
])
def test_the_new_item_is_the_old_one_with_the_options_the_user_changes(store, text, expected):
    assert store.mentions("item", [text], SHIRTS + ["2001"], argument="new_item_ids",
                          seen={"order": ["#W1"]}) == expected


def test_a_new_item_not_seen_yet_is_named_so_the_seen_old_one_is_not_offered(store):
    # Only the order was read: the red T-Shirt (1002) is not among the candidates, and the old one
    # (1001) must not be the only choice left; the graph then leaves the write out until it is read.
    text = "exchange the T-Shirt (color blue, size M) in #W1 for the red one"
    assert store.mentions("item", [text], ["1001", "2001"], argument="new_item_ids", seen={"order": ["#W1"]}) == [
        "1002"]


def test_without_a_changed_option_or_with_one_the_catalogue_lacks_no_new_variant_is_named(store):
    # Which version is the customer's to say: the graph asks (policy.targets.said), no model picks one.
    assert store.mentions("item", ["exchange my T-Shirt from #W1"], SHIRTS, argument="new_item_ids",
                          seen={"order": ["#W1"]}) == []
    assert store.mentions("item", ["exchange my T-Shirt from #W1 for a black one in size M"], SHIRTS,
                          argument="new_item_ids", seen={"order": ["#W1"]}) == []


def test_a_combination_the_catalogue_lacks_names_the_one_available_version_with_every_value_said(store):
    # The blue M T-Shirt "for a black one": black M does not exist, black L (1004) is the one black one;
    # the statement shows its size before any yes.
    assert store.mentions("item", ["exchange my T-Shirt from #W1 for a black one"], SHIRTS,
                          argument="new_item_ids", seen={"order": ["#W1"]}) == ["1004"]
    # No available version has every value said (black S): none; the customer is asked.
    assert store.mentions("item", ["exchange my T-Shirt from #W1 for a black one in size S"], SHIRTS,
                          argument="new_item_ids", seen={"order": ["#W1"]}) == []


def test_a_product_is_named_by_the_last_part_of_a_hyphenated_name(store):
    assert store.mentions("item", ["return my shirt from #W1"], SHIRTS, argument="item_ids",
                          seen={"order": ["#W1"]}) == ["1001"]


def test_the_changed_items_are_items_of_the_named_order(store):
    # Every variant was read from the product: only the one in #W1 is the item the write changes.
    text = "exchange the T-Shirt (color blue) in #W1 for the red one"
    assert store.mentions("item", [text], SHIRTS, argument="item_ids", seen={"order": ["#W1", "#W5"]}) == ["1001"]
    assert store.mentions("item", [text], SHIRTS) == SHIRTS  # no argument: every named variant


def test_names_and_address_lines_are_left_to_the_reader(store):
    # Which words are a name or an address line is the reader's to say (its slots), not the store's.
    texts = ["My name is Daiki Moore, zip 75338. Ship #W1 to 137 Laurel Lane, San Francisco, CA 94171."]
    assert store.mentions("dictated", texts, ["137 Laurel Lane", "94171"], argument="address1") is None
    assert store.mentions("name", texts, ["Daiki", "Moore"], argument="last_name") is None


ADDRESS = dict(order_id="#W1", address1="137 Laurel Lane", address2="Suite 525", city="San Francisco", state="CA",
               country="USA", zip="94171")


def test_a_plausible_address_is_checked_by_the_dry_run_alone(store):
    assert implausible_address(ADDRESS) is None
    assert implausible_address({**ADDRESS, "zip": "94171-1234", "address2": ""}) is None
    assert store.check("modify_pending_order_address", ADDRESS) is None
    assert store.check("modify_pending_order_address", {**ADDRESS, "order_id": "#W9"}).startswith("Error")


@pytest.mark.parametrize("field, value", [
    ("zip", "Address Is ethan@example.com"),  # what the expert once wrote with no address dictated
    ("zip", "9417"),
    ("state", "California"),
    ("address1", "Laurel Lane"),  # no house number
    ("address1", "137"),
    ("city", "Order #W1"),
])
def test_fields_that_cannot_be_an_address_are_refused_before_they_are_stated(store, field, value):
    arguments = {**ADDRESS, field: value}
    problem = implausible_address(arguments)
    assert problem is not None and field in problem and repr(value) in problem
    assert store.check("modify_pending_order_address", arguments) == problem
    user_address = {k: v for k, v in arguments.items() if k != "order_id"}
    assert store.check("modify_user_address", {"user_id": "alice_1", **user_address}) == problem
    assert store.check("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}) is None


def test_the_changed_items_are_read_from_the_named_order_even_before_the_model_read_it(store):
    # Only #W1's items were seen; the user names #W2: its Mug, straight from the store.
    text = "return the Mug from my order #W2"
    assert store.mentions("item", [text], ["1001", "2001"], argument="item_ids", seen={"order": ["#W1", "#W2"]}) == [
        "2002"]


def test_the_items_a_write_changes_are_the_described_ones_not_the_orders_product_list():
    db = tiny_db()
    shirts = db["products"]["P1"]["variants"]
    mug = db["products"]["P2"]["variants"]["2001"]
    db["orders"]["#W8"] = {**db["orders"]["#W1"], "order_id": "#W8", "items": [
        {"name": "T-Shirt", "product_id": "P1", "item_id": i, "price": shirts[i]["price"],
         "options": dict(shirts[i]["options"])} for i in ("1001", "1002")] + [
        {"name": "Mug", "product_id": "P2", "item_id": "2001", "price": mug["price"], "options": dict(mug["options"])}]}
    seen = {"order": ["#W8"]}

    def changed(text: str) -> list[str]:
        return sorted(store.mentions("item", [text], [], argument="item_ids", seen=seen))

    with RetailStore.from_json(db) as store:
        # "my order with the T-Shirt and Mug" says which order; "the Mug" which item.
        assert changed("return the Mug from my order with the T-Shirt and Mug") == ["2001"]
        assert changed("return the T-Shirt and the Mug from my order with the T-Shirts and Mug") == [
            "1001", "1002", "2001"]
        # Of the order's two T-Shirts, the one described: the red one.
        assert changed("return the T-Shirt (color red, size M) from #W8") == ["1002"]
        assert changed("return the T-Shirt from #W8") == ["1001", "1002"]  # not described: both stay open
        # Named only in the order's list: that list is all there is, so it still names the items.
        assert changed("return something from my order with the Mug") == ["2001"]
        # Two products, one told apart by one option: both are returned.
        assert changed("return the T-Shirts and the white Mug from #W8") == ["1001", "1002", "2001"]
        # Other ways to name an order by its items.
        assert changed("I'm sending back the Mug from the order that had the T-Shirts and Mug in it") == ["2001"]
        assert changed("return the Mug of the order I placed with the T-Shirt and Mug") == ["2001"]
        assert changed("send the Mug from the one with the T-Shirts and Mug back") == ["2001"]
        assert changed("just got the T-Shirt and Mug order, return the Mug") == ["2001"]
        # An exchange's new options describe the new item: of the order's two T-Shirts, the one that
        # already is the asked variant (the red one) is not the one changed. A return has no new options.
        exchange = "exchange_delivered_order_items"
        assert sorted(store.mentions("item", ["swap the T-Shirt in #W8 for the one in red"], [],
                                     argument="item_ids", seen=seen, tool=exchange)) == ["1001"]
        assert changed("return the red T-Shirt from #W8") == ["1002"]
        # A size of one letter counts said with its option's name ("the size L T-Shirt").
    black = shirts["1004"]
    db["orders"]["#W8"]["items"][1] = {"name": "T-Shirt", "product_id": "P1", "item_id": "1004",
                                       "price": black["price"], "options": dict(black["options"])}
    with RetailStore.from_json(db) as store:
        assert changed("return the size L T-Shirt from #W8") == ["1004"]
        assert changed("return the size M T-Shirt from #W8") == ["1001"]
        # The black L T-Shirt has no red variant: "the red one" can only change the blue M one.
        assert store.mentions("item", ["swap the T-Shirt in #W8 for the one in red"], [], argument="item_ids",
                              seen=seen, tool="modify_pending_order_items") == ["1001"]


def test_two_products_each_change_by_their_own_words(store):
    # Read whole, "black" and "white" would both be the T-Shirt's colours and the Mug would stay as it is.
    text = "in #W1 please swap the Mug for a black one and the T-Shirt for one in white, size S"
    assert store.mentions("item", [text], SHIRTS + ["2001", "2002"], argument="new_item_ids",
                          seen={"order": ["#W1"]}) == ["1005", "2002"]
    assert store.mentions("item", [text], SHIRTS + ["2001", "2002"], argument="item_ids",
                          seen={"order": ["#W1"]}) == ["1001", "2001"]


@pytest.mark.parametrize("text", [
    "return the Mug from the one w the T-Shirt and Mug in it",
    "the T-Shirt and Mug thing came, the mug is chipped, send it back",
])
def test_a_list_of_exactly_an_orders_products_names_the_order_whatever_leads_to_it(store, text):
    assert store.mentions("item", [text], [], argument="item_ids", seen={"order": ["#W1"]},
                          tool="return_delivered_order_items") == ["2001"]


def test_a_change_changes_only_the_items_it_describes_a_new_variant_for(store):
    # The order is named by its whole product list (with an abbreviated "w"); the Mug is the one changed.
    text = "the one w the T-Shirt and Mug, want to trade the Mug -> one in black thx"
    for tool in ("exchange_delivered_order_items", "modify_pending_order_items"):
        assert store.mentions("item", [text], [], argument="item_ids", seen={"order": ["#W1"]}, tool=tool) == ["2001"]
    # Nothing described yet: every item of the order stays open.
    assert store.mentions("item", ["the one w the T-Shirt and Mug, want to trade something"], [], argument="item_ids",
                          seen={"order": ["#W1"]}, tool="exchange_delivered_order_items") == ["1001", "2001"]


@pytest.mark.parametrize("texts, first, last", [
    (["Harper here... no wait, I'm Alice Vazquez, zip 10001"], ["Alice"], ["Vazquez"]),  # accents folded
    (["zip is 10001", "its vázquez, alice"], ["alice"], ["vázquez"]),  # any order, across messages
    (["stone bob 20002 thx"], ["bob"], ["stone"]),
])
def test_a_name_is_a_customer_of_the_store_whose_zip_the_words_give(store, texts, first, last):
    assert store.mentions("name", texts, [], argument="first_name") == first
    assert store.mentions("name", texts, [], argument="last_name") == last


@pytest.mark.parametrize("texts", [
    ["I'm Alice Vazquez"],  # no zip: the reader's slots decide
    ["Alice Vazquez, zip 20002"],  # Bob's zip: no customer is both
    ["my email is alice.vazquez@example.com, zip 10001"],  # an email is no name said
])
def test_no_customer_named_leaves_the_name_to_the_reader(store, texts):
    assert store.mentions("name", texts, [], argument="first_name") is None


def test_the_zip_is_the_named_customers_not_a_dictated_addresss(store):
    texts = ["can #W1 go to 5 Elm St, Austin TX 78701?", "I'm Alice Vazquez, zipcode 10001"]
    assert store.mentions("zip", texts, ["78701", "10001"], argument="zip") == ["10001"]
    # No customer named: every zip the words give stays open.
    assert store.mentions("zip", texts[:1] + ["zip 10001"], ["78701", "10001"], argument="zip") == ["78701", "10001"]


def test_a_payment_method_named_before_the_profile_was_read_is_the_seen_users(store):
    assert store.mentions("payment_method", ["refund it to my PayPal"], [], argument="payment_method_id",
                          seen={"user": ["alice_1"]}) == ["paypal_1"]
    assert store.mentions("payment_method", ["refund it to my PayPal"], [], argument="payment_method_id",
                          seen={}) == []  # nobody seen: nothing to name


def test_a_value_said_with_another_options_name_is_that_options():
    from retail_fixture import _item, _variant
    glasses = {"name": "Sunglasses", "product_id": "P9", "variants": {
        "9001": _variant("9001", 50.0, **{"frame color": "black", "lens color": "green"}),
        "9002": _variant("9002", 60.0, **{"frame color": "silver", "lens color": "black"}),
        "9003": _variant("9003", 60.0, **{"frame color": "black", "lens color": "black"}),
    }}
    db = tiny_db()
    db["products"]["P9"] = glasses
    db["orders"]["#W1"]["items"].append(_item(glasses, "9001"))
    with RetailStore.from_json(db) as store:
        text = "change the Sunglasses for ones with frame color silver, lens color black please"
        assert store.mentions("item", [text], [], argument="new_item_ids", seen={"order": ["#W1"]},
                              tool="modify_pending_order_items") == ["9002"]


def test_of_two_items_of_one_product_the_one_whose_replaced_value_is_said_changes(tau2):
    # Order #W9869592 (tau2 db) holds a maple and a plastic Skateboard, and Sunglasses; "maple" can only
    # describe the old one, so the plastic Skateboard (which would become another variant) stays.
    text = ("Concerning my order #W9869592: change the maple Skateboard for one which comes in plastic and custom "
            "and the Sunglasses for the same product with the frame color silver, lens color black and frame "
            "material metal.")
    tool, seen = "modify_pending_order_items", {"order": ["#W9869592"]}
    assert tau2.mentions("item", [text], [], argument="item_ids", seen=seen, tool=tool) == [
        "3232433601", "4548300368"]
    assert tau2.mentions("item", [text], [], argument="new_item_ids", seen=seen, tool=tool) == [
        "2177997696", "2198125883"]


def test_two_products_each_with_its_own_words_change_by_those_words(tau2):
    # Order #W2989580 (tau2 db) holds an Air Purifier (small, HEPA, quiet operation) and a Pet Bed (small,
    # fleece, grey). "medium" is the Pet Bed's, though an Air Purifier also comes in medium: read whole,
    # the text changed no Air Purifier, and the modification left it out.
    text = ("I wonder if it would be possible to change the Air Purifier for one preferably in large, ionic and "
            "smart sensors and the Pet Bed for the one preferably in medium, polyester and beige in order no. "
            "#W2989580, as it hasn't been sent yet.")
    tool, seen = "modify_pending_order_items", {"order": ["#W2989580"]}
    assert sorted(tau2.mentions("item", [text], [], argument="item_ids", seen=seen, tool=tool)) == [
        "3676786561", "5109407456"]
    assert sorted(tau2.mentions("item", [text], [], argument="new_item_ids", seen=seen, tool=tool)) == [
        "6499892866", "9534205511"]


def test_a_value_the_asked_variant_lacks_tells_two_items_of_one_product_apart(tau2):
    # Order #W9869592 (tau2 db) holds a maple (28 inch) and a plastic (34 inch) Skateboard; both would become
    # the bamboo, 34 inch, graphic one. "maple" is the old one's; "34 inch" is said of the new one.
    text = ("the Skateboard, Sunglasses and Water Bottle order hasn't shipped yet, so I'd like to change the maple "
            "Skateboard for a version that comes in bamboo, 34 inch and graphic and the Water Bottle for a version "
            "that comes in capacity 1000ml.")
    tool, seen = "modify_pending_order_items", {"order": ["#W9869592"]}
    assert tau2.mentions("item", [text], [], argument="item_ids", seen=seen, tool=tool) == [
        "3232433601", "9127591879"]


def test_a_city_span_that_is_a_state_of_the_stores_addresses_is_the_state(tau2):
    # The reader read "Houston, TX" as two cities and no state; the store's addresses say TX is a state.
    slots = [{"address1": ["101 Broadway"], "address2": ["Suite 408"], "city": ["Houston", "TX"], "zip": ["77209"]}]
    line = {a: tau2.mentions("dictated", ["..."], [], argument=a, slots=slots) for a in ("city", "state", "zip")}
    assert line == {"city": ["Houston"], "state": ["TX"], "zip": ["77209"]}


def test_a_country_span_no_address_of_the_store_has_is_none_and_the_shops_country_is_taken(tau2):
    # "...; city Austin; state TX; zip 78786": the reader tagged the word "state" as the country.
    slots = [{"address1": ["928 Elm Avenue"], "city": ["Austin"], "state": ["TX"], "zip": ["78786"],
              "country": ["state"]}]
    assert tau2.mentions("dictated", ["..."], ["USA"], argument="country", slots=slots) == ["USA"]
    said = [{**slots[0], "country": ["USA"]}]
    assert tau2.mentions("dictated", ["..."], ["USA"], argument="country", slots=said) == ["USA"]


def test_a_products_whole_name_outweighs_its_last_word_and_a_zip_has_a_zips_shape(tau2):
    # mason_lopez_8519 (tau2 db): an Electric Kettle in #W7752859, a Tea Kettle in #W9892169.
    seen = {"user": ["mason_lopez_8519"]}
    assert tau2.mentions("order", ["cancel my order with the Electric Kettle"], [], argument="order_id",
                         seen=seen) == ["#W7752859"]
    assert tau2.mentions("order", ["cancel my order with the kettle"], [], argument="order_id",
                         seen=seen) == ["#W7752859", "#W9892169"]
    # "... another request after that": the reader tagged "after" as a zip too.
    slots = [{"address1": ["579 Highland Drive"], "city": ["San Diego"], "state": ["CA"], "zip": ["92199", "after"]}]
    assert tau2.mentions("dictated", ["..."], [], argument="zip", slots=slots) == ["92199"]


def test_a_value_that_holds_its_options_name_is_read_bare(tau2):
    # Makeup Kit brands are "Brand A", "Brand B", ...: the option's name "brand" inside the value. The
    # correction "basic and Brand B" after "skin tone dark, kit size professional and brand Brand A".
    text = ("Since my order with the Makeup Kit hasn't gone out yet, might I change the Makeup Kit for the same item "
            "this time with skin tone dark, kit size professional and brand Brand A?\n"
            "Actually, I'd much prefer one preferably in basic and Brand B, please.")
    tool, seen = "modify_pending_order_items", {"order": ["#W2047423"]}
    assert tau2.mentions("item", [text], [], argument="new_item_ids", seen=seen, tool=tool) == ["6254646215"]


@pytest.mark.parametrize("texts, expected", [
    (["refund it to my PayPal", "oh okay, the card then"], ["credit_card_1"]),  # refused, then another chosen
    (["refund it to my PayPal", "yes please go ahead"], ["paypal_1"]),  # a message naming none changes nothing
    (["use my Visa", "hmm, actually the gift card"], ["gift_card_1"]),
])
def test_a_payment_method_is_the_one_the_latest_message_naming_any_says(store, texts, expected):
    assert store.mentions("payment_method", texts, METHODS, argument="payment_method_id") == expected


@pytest.mark.parametrize("text, expected", [
    ("i'd like to send back the action camera from #W2421430, refund to my mastercard", ["1810466394"]),
    ("return the camera from order #W2421430 please", ["6384525445", "1810466394"]),  # both are cameras
])
def test_a_products_last_word_inside_another_products_whole_name_names_only_that_one(tau2, text, expected):
    # Order #W2421430 (tau2 db) holds an Action Camera and a Digital Camera: "the Action Camera" names
    # the one; the return had taken the Digital Camera too by the last word "camera".
    seen = {"order": ["#W2421430"]}
    assert tau2.mentions("item", [text], [], argument="item_ids", seen=seen,
                         tool="return_delivered_order_items") == expected


@pytest.mark.parametrize("tool, expected", [
    ("exchange_delivered_order_items", ["#W2"]),  # the delivered order's T-Shirt, not the pending one's
    ("modify_pending_order_items", ["#W1"]),
    ("cancel_pending_order", ["#W1"]),
    (None, ["#W1", "#W2"]),  # no write: both orders hold a T-Shirt
])
def test_of_orders_named_alike_those_the_write_takes(store, tool, expected):
    texts = ["I'd like to swap something", "the T-Shirt"]
    assert store.mentions("order", texts, ["#W1", "#W2"], argument="order_id", tool=tool) == expected


def test_items_of_orders_named_alike_come_from_the_order_the_write_takes(store):
    # bob: #W5 pending with a red T-Shirt (1002), #W6 delivered with a black one (1004)
    seen = {"order": ["#W5", "#W6"], "user": ["bob_2"]}
    texts = ["I'd like to swap something", "the T-Shirt"]
    for tool, item in (("exchange_delivered_order_items", "1004"), ("modify_pending_order_items", "1002")):
        assert store.mentions("item", texts, ["1002", "1004"], argument="item_ids", seen=seen, tool=tool) == [item]
    assert store.mentions("order", ["#W3 has a mug", "the mug"], ["#W3"], argument="order_id",
                          tool="exchange_delivered_order_items") == ["#W3"]  # spelled out: the dry run says why not


def test_a_value_before_the_name_of_one_of_two_items_says_which_one_and_changes_nothing(tau2):
    # Order #W9869592 (tau2 db) holds a maple and a plastic Skateboard, and plastic-framed Sunglasses.
    # Answering "which items?", "the plastic Skateboard" is the plastic one, not the maple one made plastic:
    # no version is asked yet (the customer is asked which), and both named items are the ones changed.
    tool, seen = "modify_pending_order_items", {"order": ["#W9869592"]}
    items = ["well the Sunglasses and the plastic Skateboard"]
    assert sorted(tau2.mentions("item", items, [], argument="item_ids", seen=seen, tool=tool)) == [
        "3098764622", "4548300368"]
    assert tau2.mentions("item", items, [], argument="new_item_ids", seen=seen, tool=tool) == []
    # The versions, next: each product changes by its own words, "the plastic" leading the Skateboard's.
    versions = [*items, "the Sunglasses for the one w/ lens type non-polarized and frame material metal and the "
                        "plastic Skateboard to one w/ deck material bamboo, length 28 inch and design custom"]
    assert sorted(tau2.mentions("item", versions, [], argument="item_ids", seen=seen, tool=tool)) == [
        "3098764622", "4548300368"]
    assert sorted(tau2.mentions("item", versions, [], argument="new_item_ids", seen=seen, tool=tool)) == [
        "4245201809", "6673921677"]


def test_a_later_message_saying_the_value_before_the_name_asks_for_that_version(tau2):
    # Once a message named the Skateboard plainly, "the plastic Skateboard" answering which version is a change.
    tool, seen = "modify_pending_order_items", {"order": ["#W9869592"]}
    texts = ["change the maple Skateboard please", "ok the plastic Skateboard then, same length and design"]
    assert tau2.mentions("item", texts, [], argument="new_item_ids", seen=seen, tool=tool) == ["4545791457"]


def test_two_items_of_one_product_each_change_by_their_own_words(tau2):
    # Order #W6497157 (tau2 db, delivered) holds a silver and a black Smart Watch (both leather, AMOLED).
    # Naming both says which, no version yet; then each one's own words give its version.
    tool, seen = "exchange_delivered_order_items", {"order": ["#W6497157"]}
    which = ["ok so the silver Smart Watch and the black Smart Watch"]
    assert tau2.mentions("item", which, [], argument="new_item_ids", seen=seen, tool=tool) == []
    versions = [*which, "the silver Smart Watch should become a gold one with a silicone band, and the black "
                        "Smart Watch the same but with the LCD display"]
    assert tau2.mentions("item", versions, [], argument="item_ids", seen=seen, tool=tool) == [
        "2993891288", "9320099340"]  # silver, black
    assert tau2.mentions("item", versions, [], argument="new_item_ids", seen=seen, tool=tool) == [
        "2681513500", "1007724142"]  # gold silicone AMOLED, black leather LCD: the n-th for the n-th


def test_an_item_that_becomes_the_other_items_version_is_changed_by_its_own_words(tau2):
    # Order #W7913362 (tau2 db) holds a medium (laptop) and a large (hydration) grey polyester Backpack.
    # The medium one is to become what the large one is; the large one something else.
    tool, seen = "exchange_delivered_order_items", {"order": ["#W7913362"]}
    texts = ["for order #W7913362: the large Backpack should be a green, small, leather one with the camera "
             "compartment, and the medium Backpack should turn into size large with hydration"]
    assert tau2.mentions("item", texts, [], argument="item_ids", seen=seen, tool=tool) == [
        "5917587651", "6309044598"]  # medium, large
    assert tau2.mentions("item", texts, [], argument="new_item_ids", seen=seen, tool=tool) == [
        "6309044598", "7251508981"]  # grey large polyester hydration; green small leather camera


def test_a_number_before_the_name_says_which_of_two_items(tau2):
    # Order #W4864669 (tau2 db) holds black IPX7 Wireless Earbuds of 4 hours and of 6 hours, and a Digital Camera.
    tool, seen = "exchange_delivered_order_items", {"order": ["#W4864669"]}
    which = ["so the 6 hours Wireless Earbuds and the Digital Camera"]
    assert sorted(tau2.mentions("item", which, [], argument="item_ids", seen=seen, tool=tool)) == [
        "5565631513", "9228757377"]
    assert tau2.mentions("item", which, [], argument="new_item_ids", seen=seen, tool=tool) == []  # no version yet
    versions = [*which, "the 6 hours Wireless Earbuds for white ones with 4 hours and not resistant, and the "
                        "Digital Camera for the 24MP one with zoom 3x"]
    assert sorted(tau2.mentions("item", versions, [], argument="item_ids", seen=seen, tool=tool)) == [
        "5565631513", "9228757377"]  # not the 4 hours pair, which would become the same white one


def test_the_version_question_for_two_items_of_one_product_says_which_is_which(tau2):
    watches = {"order_id": "#W6497157", "item_ids": ["2993891288", "9320099340"]}
    asked = tau2.ask("exchange_delivered_order_items", watches, "new_item_ids")
    assert asked.text.startswith("Which version of the Smart Watch (silver, leather, AMOLED) would you like instead?")
    assert "Which version of the Smart Watch (black, leather, AMOLED) would you like instead?" in asked.text


def test_a_street_line_is_a_house_number_and_a_street_whatever_the_tagger_cut(store):
    # The real reader's spans (2026-12-07) for two answers to "What is the new address?": a filler word
    # taken into the street, and the house number tagged as a second line.
    filler = "long story short 690 Elm Avenue Suite 631, Seattle WA 98119 in the USA"
    split = "so pretty much that order #W4566809. 690 Elm Avenue Suite 631, Seattle WA 98119 in the USA"
    lines = {"city": ["Seattle"], "state": ["WA"], "zip": ["98119"], "country": ["USA"]}
    read = {filler: {"address1": ["short 690 Elm Avenue"], "address2": ["Suite 631"], **lines},
            split: {"address2": ["690", "Suite 631"], "address1": ["Elm Avenue"], **lines}}
    for text, slots in read.items():
        def line(argument: str) -> list[str] | None:
            return store.mentions("dictated", [text], [], argument=argument, slots=[slots])
        assert line("address1") == ["690 Elm Avenue"] and line("address2") == ["Suite 631"], text
    # A number tagged apart with no second line: it is the street's, and there is no second line.
    alone = {"address2": ["690"], "address1": ["Elm Avenue"], **lines}
    text = "690 Elm Avenue, Seattle WA 98119"
    assert store.mentions("dictated", [text], [], argument="address1", slots=[alone]) == ["690 Elm Avenue"]
    assert store.mentions("dictated", [text], [], argument="address2", slots=[alone]) == [""]
