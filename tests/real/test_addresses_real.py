"""Tier 2: the default agent (the shipped expert and reader) tells an order's shipping address from the
account's default address, in words written for this test.

Juan Brown (juan_brown_8562) has moved and asks for the address on file to change, naming no account
field and no order: the account's address write is stated and done, no order is touched. Ethan Nguyen
(ethan_nguyen_7565) wants "my package" delivered elsewhere before it ships: the words name no order, so
he is asked which one, with his pending order listed; his answer names it by a product, and the order's
address changes while his account's stays.
"""
from __future__ import annotations

import json

from agentspec.graph import AgentSession
from agentspec.tools.retail import RetailStore

NEW_HOME = {"address1": "15 Quarry Lane", "address2": "Apt 3", "city": "Burlington", "state": "VT", "zip": "05401"}
OFFICE = {"address1": "44 Elm Street", "address2": "Suite 200", "city": "Austin", "state": "TX", "zip": "78701"}
PENDING = "#W2325029"


def _address(record: dict) -> dict:
    return {k: record["address"][k] for k in ("address1", "address2", "city", "state", "zip")}


def test_the_address_on_file_is_the_accounts_and_no_order_changes(spec, shared_data):
    db = shared_data / "tau2-retail" / "db.json"
    with RetailStore.from_json(db) as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("Hi, I moved last month. Can you put my new address on file? It's 15 Quarry Lane, Apt 3, "
                         "Burlington, VT 05401.")
            assert session.state["open_requests"] == ["account_address"]
            stated = session.send("sure, it's juan.brown2055@example.com").reply
            pending = session.state["pending"]
            assert pending and pending["calls"][0]["name"] == "modify_user_address", stated
            assert {k: pending["calls"][0]["arguments"][k] for k in NEW_HOME} == NEW_HOME
            session.send("Yes, that's right, go ahead.")
        user = json.loads(store.invoke("get_user_details", {"user_id": "juan_brown_8562"}))
        orders = [json.loads(store.invoke("get_order_details", {"order_id": o})) for o in user["orders"]]
    assert _address(user) == NEW_HOME
    assert all(_address(order) != NEW_HOME for order in orders)


def test_a_package_sent_elsewhere_is_an_orders_address_asked_which_and_the_account_keeps_its(spec, shared_data):
    db = shared_data / "tau2-retail" / "db.json"
    with RetailStore.from_json(db) as base, base.copy() as store:
        home = _address(json.loads(store.invoke("get_user_details", {"user_id": "ethan_nguyen_7565"})))
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hey, my package hasn't shipped yet and I need it delivered to my office instead: "
                         "44 Elm Street, Suite 200, Austin, TX 78701")
            assert session.state["open_requests"] == ["modify_address"]
            question = session.send("ethan nguyen, zip 95155").reply
            assert question.startswith("Which order's shipping address would you like to change?"), question
            assert PENDING in question and "Bicycle" in question
            stated = session.send("the one with the bicycle").reply
            pending = session.state["pending"]
            assert pending and pending["calls"][0]["name"] == "modify_pending_order_address", stated
            assert pending["calls"][0]["arguments"]["order_id"] == PENDING
            session.send("yes please")
        order = json.loads(store.invoke("get_order_details", {"order_id": PENDING}))
        user = json.loads(store.invoke("get_user_details", {"user_id": "ethan_nguyen_7565"}))
    assert _address(order) == OFFICE and _address(user) == home


def test_of_two_orders_with_the_named_product_the_address_changes_on_the_one_that_can_take_it(spec, shared_data):
    # Sofia Hernandez has a Grill in a pending order and in a delivered one; "my grill order" is the
    # pending one, whose address can change: stated for it, not refused for the delivered one (nor an
    # item change made up by the model, as before), with an exchange of hers still open beside it.
    db = shared_data / "tau2-retail" / "db.json"
    new = {"address1": "100 Pine Rd", "city": "Seattle", "state": "WA", "zip": "98101"}
    with RetailStore.from_json(db) as base, base.copy() as store:
        with AgentSession(spec, toolkits={"retail": store}, seed=0) as session:
            session.send("hi, i'm Sofia Hernandez, zip 98193")
            stated = session.send("could the grill I ordered go to 100 Pine Rd, Seattle, WA 98101 instead of my "
                                  "home address?").reply
            pending = session.state["pending"]
            assert pending and pending["calls"][0]["name"] == "modify_pending_order_address", stated
            assert pending["calls"][0]["arguments"]["order_id"] == "#W3561391"
            session.send("yes please")
        order = json.loads(store.invoke("get_order_details", {"order_id": "#W3561391"}))
    assert {k: order["address"][k] for k in new} == new
