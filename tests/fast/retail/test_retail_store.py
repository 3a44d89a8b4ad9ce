"""RetailStore's storage contract: round trip, canonical hash, copies, reopen, WAL, atomic writes."""
from __future__ import annotations

import json
import sqlite3

import pytest

from agentspec.tools.retail import RetailStore, load_toolkit
from agentspec.tools.retail._sqlite import Database
from retail_fixture import REAL_DB, tiny_db


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


def _reverse_everything(obj):
    """The same JSON value with every object's keys in reverse insertion order."""
    if isinstance(obj, dict):
        return {k: _reverse_everything(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [_reverse_everything(v) for v in obj]
    return obj


def test_real_db_round_trips_exactly():
    data = json.loads(REAL_DB.read_text(encoding="utf-8"))
    with RetailStore.from_json(REAL_DB) as s:
        assert (len(data["users"]), len(data["orders"]), len(data["products"])) == (500, 1000, 50)
        out = s.to_json()
        assert out == data
        # Insertion order is kept too, so a dump of an untouched store reads like the source file.
        assert list(out["orders"]) == list(data["orders"])


def test_from_dict_does_not_alias_the_callers_dict():
    data = tiny_db()
    with RetailStore.from_json(data) as s:
        data["users"]["alice_1"]["email"] = "changed@example.com"
        assert s.to_json() == tiny_db()


def test_state_hash_ignores_insertion_and_key_order():
    with RetailStore.from_json(tiny_db()) as a, RetailStore.from_json(_reverse_everything(tiny_db())) as b:
        assert list(b.to_json()["orders"])[0] == "#W7"  # really inserted in another order
        assert a.state_hash() == b.state_hash()
        assert len(a.state_hash()) == 64


def test_state_hash_sees_every_change(store):
    before = store.state_hash()
    data = tiny_db()
    data["products"]["P2"]["variants"]["2001"]["price"] = 5.26
    with RetailStore.from_json(data) as other:
        assert other.state_hash() != before
    store.modify_user_address("bob_2", "2 Elm St", "", "Springfield", "IL", "USA", "20002")
    assert store.state_hash() != before


def test_copy_is_an_independent_sandbox(store):
    before = store.state_hash()
    with store.copy() as sandbox:
        assert sandbox.state_hash() == before
        assert sandbox.db_path != store.db_path
        assert not sandbox.cancel_pending_order("#W1", "no longer needed").startswith("Error")
        assert sandbox.state_hash() != before
        assert store.state_hash() == before
        assert json.loads(store.get_order_details("#W1"))["status"] == "pending"


def test_store_persists_at_a_given_path_and_reopens(tmp_path):
    path = tmp_path / "retail.sqlite"
    with RetailStore.from_json(tiny_db(), db_path=path) as s:
        s.cancel_pending_order("#W1", "ordered by mistake")
        expected = s.state_hash()
    assert path.exists()  # a caller-chosen file is kept
    with load_toolkit(path) as reopened:
        assert reopened.state_hash() == expected
        assert json.loads(reopened.get_order_details("#W1"))["cancel_reason"] == "ordered by mistake"


def test_existing_db_path_is_refused(tmp_path):
    path = tmp_path / "taken.sqlite"
    path.write_bytes(b"")
    with pytest.raises(FileExistsError, match="taken.sqlite"):
        RetailStore.from_json(tiny_db(), db_path=path)


def test_open_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        RetailStore.open(tmp_path / "nope.sqlite")


def test_malformed_db_is_refused_with_the_expected_keys():
    with pytest.raises(ValueError, match="products"):
        RetailStore.from_json({"users": {}, "orders": {}})


def test_wal_mode_and_private_temp_file_removed_on_close():
    s = RetailStore.from_json(tiny_db())
    path = s.db_path
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    s.close()
    s.close()  # idempotent
    assert not path.exists() and not path.parent.exists()


def test_a_failure_in_the_middle_of_a_write_changes_nothing(store, monkeypatch):
    """cancel writes the order, then the user (gift-card refund): fail on the second write."""
    before = store.state_hash()
    real_put = Database.put
    calls = []

    def failing_put(self, section, key, doc):
        calls.append(section)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        real_put(self, section, key, doc)

    monkeypatch.setattr(Database, "put", failing_put)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.cancel_pending_order("#W5", "no longer needed")
    assert calls == ["orders", "users"]  # the order row had really been written before the failure
    assert store.state_hash() == before
    monkeypatch.undo()
    # The store is still usable and the same write now succeeds.
    assert json.loads(store.cancel_pending_order("#W5", "no longer needed"))["status"] == "cancelled"
    assert json.loads(store.get_user_details("bob_2"))["payment_methods"]["gift_card_2"]["balance"] == 112.5


def test_put_outside_a_transaction_is_a_bug(store):
    with pytest.raises(RuntimeError, match="outside a transaction"):
        store._db.put("users", "bob_2", {})


def test_a_write_is_stated_with_what_the_customer_knows_each_id_by(store):
    # Items by product name and options (new items from the catalogue), payment methods by kind and
    # last four digits, and the money that moves; the ids stay, so the statement is still exactly the call.
    assert store.describe("return_delivered_order_items", {
        "order_id": "#W2", "item_ids": ["1001", "1001", "2002"], "payment_method_id": "paypal_1"}) == (
        "I'm about to request a return of T-Shirt (blue, M; item 1001), T-Shirt (blue, M; item 1001), Mug (black; "
        "item 2002) from order #W2, a refund of $26.75 to PayPal (paypal_1).")
    assert store.describe("modify_pending_order_items", {
        "order_id": "#W1", "item_ids": ["1001"], "new_item_ids": ["1004"], "payment_method_id": "gift_card_1"}) == (
        "I'm about to modify order #W1: T-Shirt (blue, M; item 1001) become T-Shirt (black, L; item 1004), $20.00 "
        "more to pay with the gift card gift_card_1. Items of an order can be modified only once.")
    assert store.describe("exchange_delivered_order_items", {
        "order_id": "#W6", "item_ids": ["1004"], "new_item_ids": ["1002"], "payment_method_id": "credit_card_2"}) == (
        "I'm about to request an exchange in order #W6: T-Shirt (black, L; item 1004) for T-Shirt (red, M; item "
        "1002), $17.50 refunded to the Amex card ending in 2222 (credit_card_2). An order can be exchanged only once.")
    payment = {"order_id": "#W1", "payment_method_id": "credit_card_1"}
    assert store.describe("modify_pending_order_payment", payment) == (
        "I'm about to change the payment method of order #W1 to the Visa card ending in 1111 (credit_card_1).")
    # An id the store does not know, or another customer's card, is stated as given: the tool or the
    # guard refuses it, and the statement does not vouch for it.
    assert store.describe("return_delivered_order_items", {
        "order_id": "#W2", "item_ids": ["9999"], "payment_method_id": "credit_card_2"}) == (
        "I'm about to request a return of 9999 from order #W2, refunded to credit_card_2.")  # no amount either
    assert store.describe("cancel_pending_order", {"order_id": "#W404", "reason": "no longer needed"}) == (
        "I'm about to cancel order #W404 (reason: no longer needed).")
    assert store.describe("get_order_details", {"order_id": "#W1"}) is None  # reads are not stated


def test_check_dry_runs_a_write_on_a_copy_and_changes_nothing(store):
    before = store.state_hash()
    assert store.check("return_delivered_order_items", {
        "order_id": "#W1", "item_ids": ["1001"], "payment_method_id": "credit_card_1"}) == (
        "Error: Non-delivered order cannot be returned (order #W1 is pending)")  # the status: what it is
    assert store.check("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}) is None
    assert store.check("get_order_details", {"order_id": "#W404"}) is None  # reads are not checked
    assert store.state_hash() == before  # the successful cancel ran on the sandbox only


def test_check_refuses_an_address_write_whose_fields_are_no_address(store):
    garbage = {"order_id": "#W1", "address1": "alice_smith_1001", "address2": "Sure", "city": "Order", "state": "I",
               "country": "USA", "zip": "Address Is alice@example.com"}
    problem = store.check("modify_pending_order_address", garbage)
    assert problem.startswith("Error: not a complete address") and "zip 'Address Is alice@example.com'" in problem
    assert "state 'I'" in problem and "Ask the customer for the full new address" in problem
    good = {**garbage, "address1": "12 Oak St", "address2": "Apt 4", "city": "Springfield", "state": "IL",
            "zip": "62704"}
    assert store.check("modify_pending_order_address", good) is None
    user_write = {k: v for k, v in garbage.items() if k != "order_id"} | {"user_id": "alice_1", "city": "12"}
    assert "city '12' is not a city name" in store.check("modify_user_address", user_write)


def test_a_reply_claiming_a_write_in_the_reports_words_is_recognised():
    # The claims_done hook: the store's own report wording and the 135M model's drifts of it (dev replies).
    store = RetailStore.__new__(RetailStore)  # the hook reads no data
    for claimed in ("The shipping address on order #W7857572 has been updated to 153 Cedar Street.",
                    "The exchange of the wireless earbuds is now requested.", "I've cancelled order #W1.",
                    "The email from the exchange in order #W5382576 has been requested: Smartphone"):
        assert store.claims_done(claimed), claimed
    for said in ("Which order would you like to cancel?", "Order #W1 is pending. It holds 2 items.",
                 "I can change the address for you.", "Have you changed your mind?", "Your order is now shipped."):
        assert not store.claims_done(said), said
