"""Fixtures of the agent-graph tests: a tiny shop with tau2-shaped ids, a scripted model, sessions.

Sessions read messages with the keyword reader (``tests/fake_reader.py``); ``read_as`` says exactly how
a message is read where a test depends on it (a request, an unsure answer), not on keyword luck.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import AgentSpec, load_spec
from fake_reader import KeywordReader

SHIRT = "8310926033"
MUG = "4444444444"


def _variant(item_id, price, available=True, **options):
    return {"item_id": item_id, "options": options, "available": available, "price": price}


def _address(zip_code):
    return {"address1": "1 Main St", "address2": "", "city": "Springfield", "country": "USA", "state": "IL",
            "zip": zip_code}


def tiny_shop() -> dict:
    products = {
        SHIRT: {"name": "T-Shirt", "product_id": SHIRT, "variants": {
            "1111111111": _variant("1111111111", 20.0, color="blue", size="M"),
            "2222222222": _variant("2222222222", 22.5, color="red", size="M"),
            "3333333333": _variant("3333333333", 19.0, available=False, color="green", size="L")}},
        MUG: {"name": "Mug", "product_id": MUG, "variants": {
            "5555555555": _variant("5555555555", 5.25, color="white"),
            "6666666666": _variant("6666666666", 6.75, color="black")}},
    }

    def item(pid, iid):
        v = products[pid]["variants"][iid]
        return {"name": products[pid]["name"], "product_id": pid, "item_id": iid, "price": v["price"],
                "options": dict(v["options"])}

    def order(oid, uid, status, items, amount, method):
        return {"order_id": oid, "user_id": uid, "address": _address("10001"), "items": items, "status": status,
                "fulfillments": [], "payment_history": [
                    {"transaction_type": "payment", "amount": amount, "payment_method_id": method}]}

    users = {
        "alice_smith_1001": {"user_id": "alice_smith_1001", "name": {"first_name": "Alice", "last_name": "Smith"},
                             "address": _address("10001"), "email": "alice@example.com",
                             "payment_methods": {
                                 "credit_card_1000001": {"source": "credit_card", "id": "credit_card_1000001",
                                                         "brand": "visa", "last_four": "1111"},
                                 "gift_card_1000002": {"source": "gift_card", "id": "gift_card_1000002",
                                                       "balance": 50.0}},
                             "orders": ["#W0000001", "#W0000002"]},
        "bob_jones_2002": {"user_id": "bob_jones_2002", "name": {"first_name": "Bob", "last_name": "Jones"},
                           "address": _address("20002"), "email": "bob@example.com",
                           "payment_methods": {"paypal_2000001": {"source": "paypal", "id": "paypal_2000001"}},
                           "orders": ["#W0000003"]},
    }
    orders = {
        "#W0000001": order("#W0000001", "alice_smith_1001", "delivered", [item(SHIRT, "1111111111")], 20.0,
                           "credit_card_1000001"),
        "#W0000002": order("#W0000002", "alice_smith_1001", "pending", [item(MUG, "5555555555")], 5.25,
                           "gift_card_1000002"),
        "#W0000003": order("#W0000003", "bob_jones_2002", "pending", [item(MUG, "6666666666")], 6.75,
                           "paypal_2000001"),
    }
    return {"products": products, "users": users, "orders": orders}


@pytest.fixture
def shop_db(tmp_path) -> Path:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(tiny_shop()))
    return path


@pytest.fixture
def spec():
    return load_spec("retail")


def call(name: str, **arguments) -> str:
    """A scripted model step calling one tool."""
    return json.dumps({"calls": [{"name": name, "arguments": arguments}]})


def reply(text: str) -> str:
    return json.dumps({"reply": text})


@pytest.fixture
def scripted():
    return ScriptedChatModel(context_length=8192)


def read_as(text: str, **fields: Any) -> KeywordReader:
    """A keyword reader that reads ``text`` as it would, with ``fields`` of the ``Reading`` replaced
    (``read_as(text, requests={"transfer": 0.95})``); every other message as usual."""
    return KeywordReader(readings={text: dataclasses.replace(KeywordReader().read(text), **fields)})


def changed(spec: AgentSpec, **sections: Any) -> AgentSpec:
    """``spec`` with some fields changed and validated again (``model_copy`` takes a misspelt key silently):
    ``changed(spec, policy={"confirmation": {"determine": False}})``. Mappings merge key by key; an empty
    one, a list or a scalar replaces (``understanding={"requests": {}}`` removes the request scope)."""
    def merge(old: Any, new: Any) -> Any:
        if isinstance(old, dict) and isinstance(new, dict) and new:
            return {**old, **{k: merge(old.get(k), v) for k, v in new.items()}}
        return new

    out = AgentSpec.model_validate(merge(spec.model_dump(), sections))
    out._base_dir, out._source = spec.base_dir, spec._source
    return out
