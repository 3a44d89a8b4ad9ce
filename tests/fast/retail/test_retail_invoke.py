"""The tool surface: names and classes, schema-ready signatures, invoke()'s three outcomes, replay."""
from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Literal, get_args, get_origin

import pytest

from agentspec.tools.retail import RETAIL_SHAPES, RetailStore
from agentspec.tools.types import Identifier
from retail_fixture import tiny_db

TAU2_TOOLS = {
    "find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details", "get_order_details",
    "get_product_details", "get_item_details", "list_all_product_types", "cancel_pending_order",
    "modify_pending_order_address", "modify_pending_order_items", "modify_pending_order_payment",
    "modify_user_address", "return_delivered_order_items", "exchange_delivered_order_items", "calculate",
    "transfer_to_human_agents",
}


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


def test_tool_names_and_classes(store):
    assert len(store.tool_names) == 16 and set(store.tool_names) == TAU2_TOOLS
    assert store.name == "retail"
    assert set(RetailStore.AUTH_TOOLS) == {"find_user_id_by_email", "find_user_id_by_name_zip"}
    assert set(RetailStore.AUTH_TOOLS) <= set(RetailStore.READ_TOOLS)
    assert not set(RetailStore.READ_TOOLS) & set(RetailStore.WRITE_TOOLS)
    assert set(RetailStore.WRITE_TOOLS) == {n for n in TAU2_TOOLS if n.startswith(("cancel", "modify", "return",
                                                                                    "exchange"))}
    assert [f.__name__ for f in store.functions()] == list(store.tool_names)


def _identifier_kind(annotation):
    if get_origin(annotation) is list:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is typing.Annotated:
        return next(m.kind for m in annotation.__metadata__ if isinstance(m, Identifier))
    return None


EXPECTED_KINDS = {"user_id": "user", "order_id": "order", "product_id": "product", "item_id": "item",
                  "item_ids": "item", "new_item_ids": "item", "payment_method_id": "payment_method",
                  "email": "email"}
# The identity zip is grounded (the user must have said it); a new address's zip is free text.
# So are the identity names, word by word; a new address is copied from what the user dictated.
EXPECTED_KINDS_BY_TOOL = {("find_user_id_by_name_zip", "zip"): "zip", ("find_user_id_by_name_zip", "first_name"): "name",
                          ("find_user_id_by_name_zip", "last_name"): "name"}
EXPECTED_KINDS_BY_TOOL.update({(tool, field): "dictated" for tool in ("modify_pending_order_address", "modify_user_address")
                               for field in ("address1", "address2", "city", "state", "country", "zip")})


@pytest.mark.parametrize("name", sorted(TAU2_TOOLS))
def test_signature_and_docstring_are_schema_ready(store, name):
    func = getattr(store, name)
    params = inspect.signature(func).parameters
    hints = typing.get_type_hints(func, include_extras=True)
    for pname in params:
        expected = EXPECTED_KINDS_BY_TOOL.get((name, pname), EXPECTED_KINDS.get(pname))
        assert _identifier_kind(hints[pname]) == expected, pname
    assert hints["return"] is str
    doc = inspect.getdoc(func)
    summary = doc.splitlines()[0]
    assert summary and not summary.startswith("Args")
    if params:
        args_block = doc.split("Args:\n", 1)[1]
        documented = re.findall(r"^    (\w+): \S", args_block, flags=re.M)
        assert documented == list(params), name


def test_cancel_reason_is_tau2s_literal(store):
    hint = typing.get_type_hints(store.cancel_pending_order)["reason"]
    assert get_origin(hint) is Literal
    assert set(get_args(hint)) == {"no longer needed", "ordered by mistake"}


def test_invoke_runs_the_tool(store):
    assert store.invoke("find_user_id_by_email", {"email": "bob@example.com"}) == "bob_2"
    assert store.invoke("list_all_product_types", {}) == store.list_all_product_types()
    assert store.invoke("list_all_product_types") == store.list_all_product_types()
    result = json.loads(store.invoke("cancel_pending_order", {"order_id": "#W5", "reason": "no longer needed"}))
    assert result["status"] == "cancelled"


@pytest.mark.parametrize("name,arguments,fragments", [
    ("delete_order", {"order_id": "#W1"}, ["unknown tool 'delete_order'", "get_order_details"]),
    ("get_order_details", {}, ["missing", "'order_id'"]),
    ("get_order_details", {"order_id": "#W1", "verbose": True}, ["unknown argument", "'verbose'", "order_id"]),
    ("get_order_details", {"order_id": 1}, ["'order_id'", "must be a string", "integer 1"]),
    ("get_order_details", ["#W1"], ["must be a JSON object"]),
    ("find_user_id_by_name_zip", {"first_name": "Bob", "last_name": "Stone", "zip": 20002},
     ["'zip'", "must be a string"]),
    ("cancel_pending_order", {"order_id": "#W1", "reason": "too expensive"},
     ["'reason'", "'no longer needed'", "'ordered by mistake'"]),
    ("return_delivered_order_items", {"order_id": "#W2", "item_ids": "1001", "payment_method_id": "paypal_1"},
     ["'item_ids'", "must be a list"]),
    ("return_delivered_order_items", {"order_id": "#W2", "item_ids": ["1001", 1001],
                                      "payment_method_id": "paypal_1"},
     ["'item_ids'", "element 1", "must be a string"]),
    ("calculate", {"expression": None}, ["'expression'", "null"]),
])
def test_invoke_bad_calls_are_error_observations(store, name, arguments, fragments):
    before = store.state_hash()
    result = store.invoke(name, arguments)
    assert result.startswith("Error: ")
    for fragment in fragments:
        assert fragment in result, (fragment, result)
    assert store.state_hash() == before


def test_invoke_refusal_is_the_tools_error(store):
    assert store.invoke("get_order_details", {"order_id": "#W404"}) == "Error: Order not found"


def test_invoke_lets_our_own_bugs_raise(store, monkeypatch):
    def broken(section, key):
        raise KeyError("a bug in our code")

    monkeypatch.setattr(store._db, "get", broken)
    with pytest.raises(KeyError, match="a bug in our code"):
        store.invoke("get_order_details", {"order_id": "#W1"})


TRAJECTORY = [
    ("find_user_id_by_email", {"email": "alice.v@example.com"}),
    ("get_order_details", {"order_id": "#W1"}),
    ("modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "gift_card_1"}),  # refused
    ("modify_pending_order_items", {"order_id": "#W1", "item_ids": ["1001", "2001"], "new_item_ids": ["1006", "2002"],
                                    "payment_method_id": "gift_card_1"}),
    ("exchange_delivered_order_items", {"order_id": "#W2", "item_ids": ["1001"], "new_item_ids": ["1005"],
                                        "payment_method_id": "paypal_1"}),
    ("modify_user_address", {"user_id": "alice_1", "address1": "9 Oak Ave", "address2": "", "city": "Austin",
                             "state": "TX", "country": "USA", "zip": "78701"}),
    ("cancel_pending_order", {"order_id": "#W5", "reason": "ordered by mistake"}),
    ("modify_pending_order_payment", {"order_id": "#W7", "payment_method_id": "gift_card_2"}),
    ("calculate", {"expression": "100 + 12.5 - 20.5"}),
]


def _replay() -> tuple[str, list[str]]:
    with RetailStore.from_json(tiny_db()) as s:
        observations = [s.invoke(name, args) for name, args in TRAJECTORY]
        return s.state_hash(), observations


def test_replaying_a_trajectory_gives_the_same_state():
    first_hash, first_obs = _replay()
    second_hash, second_obs = _replay()
    assert first_hash == second_hash and first_obs == second_obs
    with RetailStore.from_json(tiny_db()) as fresh:
        assert fresh.state_hash() != first_hash
        alice = json.loads(fresh.get_user_details("alice_1"))
    assert first_obs[2] == "Error: Insufficient gift card balance to pay for the order"
    assert first_obs[-1] == "92.0"
    # gift card 1: 5.00 - ((10.20 - 10.00) + (6.75 - 5.25)) = 3.30
    with RetailStore.from_json(tiny_db()) as s:
        for name, args in TRAJECTORY:
            s.invoke(name, args)
        assert json.loads(s.get_user_details("alice_1"))["payment_methods"]["gift_card_1"]["balance"] == 3.3
        assert alice["payment_methods"]["gift_card_1"]["balance"] == 5.0
        bob = json.loads(s.get_user_details("bob_2"))["payment_methods"]["gift_card_2"]["balance"]
        assert bob == 92.0  # 100.00 + 12.50 (cancel #W5) - 20.50 (pays #W7)


def test_the_name_the_model_copies_must_be_one_the_user_typed(store):
    from agentspec.decoding import Grounding, parse_step
    from agentspec.errors import MalformedStepError
    from agentspec.toolkit import Tool

    tool = Tool.from_function(store.find_user_id_by_name_zip)
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("It's Mei Patel, and the zip code is 76165.")
    good = {"calls": [{"name": tool.name, "arguments": {"first_name": "Mei", "last_name": "Patel", "zip": "76165"}}]}
    assert parse_step(json.dumps(good), [tool], g).calls
    misspelt = json.loads(json.dumps(good))
    misspelt["calls"][0]["arguments"]["first_name"] = "Mie"  # what the 135M expert wrote before names were grounded
    with pytest.raises(MalformedStepError):
        parse_step(json.dumps(misspelt), [tool], g)


def test_a_new_address_must_be_copied_from_what_the_user_typed(store):
    from agentspec.decoding import Grounding, parse_step
    from agentspec.errors import MalformedStepError
    from agentspec.toolkit import Tool

    tool = Tool.from_function(store.modify_pending_order_address)
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("Ship order #W0000002 to 812 Chestnut Street, New York, NY 10088, USA.")
    address = {"address1": "812 Chestnut Street", "address2": "", "city": "New York", "state": "NY", "country": "USA",
               "zip": "10088"}
    step = {"calls": [{"name": tool.name, "arguments": {"order_id": "#W0000002", **address}}]}
    assert parse_step(json.dumps(step), [tool], g).calls
    step["calls"][0]["arguments"]["address1"] = "593 Cedar Avenue"  # the profile's address, not the dictated one
    with pytest.raises(MalformedStepError):
        parse_step(json.dumps(step), [tool], g)
