"""The read-only retail tools on the tiny fixture: answers, refusals, and no change to the state."""
from __future__ import annotations

import json

import pytest

from agentspec.tools.retail import RetailStore
from retail_fixture import ALICE, MUG, ORDERS, SHIRT, tiny_db


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


@pytest.mark.parametrize("email", ["Alice.V@Example.com", "alice.v@example.com", "ALICE.V@EXAMPLE.COM"])
def test_find_user_by_email_ignores_case(store, email):
    assert store.find_user_id_by_email(email) == "alice_1"


def test_find_user_by_email_unknown(store):
    assert store.find_user_id_by_email("nobody@example.com") == "Error: User not found"


@pytest.mark.parametrize("first,last", [("Alice", "Vázquez"), ("alice", "vazquez"), ("ALICE", "VAZQUEZ")])
def test_find_user_by_name_zip_ignores_case_and_accents(store, first, last):
    assert store.find_user_id_by_name_zip(first, last, "10001") == "alice_1"


@pytest.mark.parametrize("first,last,zip_code", [
    ("Alice", "Vázquez", "20002"),  # right name, another user's zip
    ("Bob", "Vázquez", "10001"),
    ("Alice", "Vázquez", "1000"),
])
def test_find_user_by_name_zip_needs_all_three(store, first, last, zip_code):
    assert store.find_user_id_by_name_zip(first, last, zip_code) == "Error: User not found"


def test_get_user_details(store):
    assert json.loads(store.get_user_details("alice_1")) == ALICE
    assert store.get_user_details("carol_3") == "Error: User not found"


def test_get_order_details(store):
    assert json.loads(store.get_order_details("#W2")) == ORDERS[1]
    assert store.get_order_details("W2") == "Error: Order not found"


def test_get_product_details(store):
    assert json.loads(store.get_product_details("P2")) == MUG
    # An item id is not a product id.
    assert store.get_product_details("1001") == "Error: Product not found"


def test_get_item_details_includes_unavailable_variants(store):
    assert json.loads(store.get_item_details("1003")) == SHIRT["variants"]["1003"]
    assert json.loads(store.get_item_details("1003"))["available"] is False
    assert store.get_item_details("P1") == "Error: Item not found"


def test_list_all_product_types_is_sorted_by_name(store):
    text = store.list_all_product_types()
    assert json.loads(text) == {"Mug": "P2", "T-Shirt": "P1"}
    assert text.index('"Mug"') < text.index('"T-Shirt"')


@pytest.mark.parametrize("expression,result", [
    ("2 + 2", "4.0"),
    ("(10 - 2.5) * 3 / 4", "5.62"),  # 5.625 rounds half-to-even in binary, as in tau2
    ("30.00 - 10.00 + (5.25 - 6.75)", "18.5"),
    ("-(3)", "-3.0"),
    ("1 / 3", "0.33"),
    ("0.1 + 0.2", "0.3"),
])
def test_calculate(store, expression, result):
    assert store.calculate(expression) == result


@pytest.mark.parametrize("expression,message", [
    ("__import__('os').system('true')", "Error: Invalid characters in expression"),
    ("2 ** 10", "Error: Only numbers, + - * /, and parentheses are allowed"),
    ("7 // 2", "Error: Only numbers, + - * /, and parentheses are allowed"),
    ("()", "Error: Only numbers, + - * /, and parentheses are allowed"),
    ("1 / 0", "Error: division by zero"),
    ("2 +", "Error: Invalid expression: '2 +'"),
    ("   ", "Error: Empty expression"),
])
def test_calculate_refuses_anything_but_arithmetic(store, expression, message):
    assert store.calculate(expression) == message


def test_transfer_to_human_agents(store):
    assert store.transfer_to_human_agents("wants a refund to a new card") == "Transfer successful"


def test_reads_do_not_change_the_state(store):
    before = store.state_hash()
    store.get_user_details("alice_1")
    store.get_order_details("#W1")
    store.get_item_details("1001")
    store.list_all_product_types()
    store.find_user_id_by_email("bob@example.com")
    assert store.state_hash() == before
