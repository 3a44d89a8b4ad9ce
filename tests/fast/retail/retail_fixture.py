"""A tiny hand-made retail db for the retail tests, and the path of the real tau2 db.json.

Two users, orders in every status the tools care about, two products whose variants include an
unavailable one, and a gift card with a low balance. Prices are chosen so that sums are easy to check by
hand (and one pair, 10.00 -> 10.20, whose float difference is not 0.2).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

# tests/fast/retail/<this file> -> repo root is three folders up; the data lives next to the repo.
REAL_DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"


def _variant(item_id: str, price: float, available: bool = True, **options: str) -> dict[str, Any]:
    return {"item_id": item_id, "options": options, "available": available, "price": price}


def _item(product: dict[str, Any], item_id: str) -> dict[str, Any]:
    v = product["variants"][item_id]
    return {"name": product["name"], "product_id": product["product_id"], "item_id": item_id,
            "price": v["price"], "options": dict(v["options"])}


def _address(zip_code: str) -> dict[str, str]:
    return {"address1": "1 Main St", "address2": "", "city": "Springfield", "country": "USA", "state": "IL",
            "zip": zip_code}


def _pay(amount: float, method: str, kind: str = "payment") -> dict[str, Any]:
    return {"transaction_type": kind, "amount": amount, "payment_method_id": method}


def _order(order_id: str, user_id: str, status: str, items: list[dict[str, Any]],
           payments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"order_id": order_id, "user_id": user_id, "address": _address("10001"), "items": items,
            "status": status, "fulfillments": [], "payment_history": payments}


SHIRT = {"name": "T-Shirt", "product_id": "P1", "variants": {
    "1001": _variant("1001", 10.0, color="blue", size="M"),
    "1002": _variant("1002", 12.5, color="red", size="M"),
    "1003": _variant("1003", 9.99, available=False, color="green", size="L"),
    "1004": _variant("1004", 30.0, color="black", size="L"),
    "1005": _variant("1005", 15.0, color="white", size="S"),
    "1006": _variant("1006", 10.2, color="grey", size="M"),
}}
MUG = {"name": "Mug", "product_id": "P2", "variants": {
    "2001": _variant("2001", 5.25, color="white"),
    "2002": _variant("2002", 6.75, color="black"),
}}

ALICE = {
    "user_id": "alice_1",
    "name": {"first_name": "Alice", "last_name": "Vázquez"},
    "address": _address("10001"),
    "email": "Alice.V@Example.com",
    "payment_methods": {
        "credit_card_1": {"source": "credit_card", "id": "credit_card_1", "brand": "visa", "last_four": "1111"},
        "gift_card_1": {"source": "gift_card", "id": "gift_card_1", "balance": 5.0},
        "paypal_1": {"source": "paypal", "id": "paypal_1"},
    },
    "orders": ["#W1", "#W2", "#W3", "#W4"],
}
BOB = {
    "user_id": "bob_2",
    "name": {"first_name": "Bob", "last_name": "Stone"},
    "address": _address("20002"),
    "email": "bob@example.com",
    "payment_methods": {
        "gift_card_2": {"source": "gift_card", "id": "gift_card_2", "balance": 100.0},
        "credit_card_2": {"source": "credit_card", "id": "credit_card_2", "brand": "amex", "last_four": "2222"},
    },
    "orders": ["#W5", "#W6", "#W7"],
}

ORDERS = [
    # alice: pending 10.00 + 5.25 = 15.25 by credit card
    _order("#W1", "alice_1", "pending", [_item(SHIRT, "1001"), _item(MUG, "2001")], [_pay(15.25, "credit_card_1")]),
    # alice: delivered 10.00 + 10.00 + 6.75 = 26.75 by paypal (a duplicate item on purpose)
    _order("#W2", "alice_1", "delivered", [_item(SHIRT, "1001"), _item(SHIRT, "1001"), _item(MUG, "2002")],
           [_pay(26.75, "paypal_1")]),
    _order("#W3", "alice_1", "processed", [_item(MUG, "2001")], [_pay(5.25, "credit_card_1")]),
    _order("#W4", "alice_1", "cancelled", [_item(MUG, "2002")],
           [_pay(6.75, "gift_card_1"), _pay(6.75, "gift_card_1", "refund")]),
    # bob: pending 12.50 by gift card, delivered 30.00 by credit card, pending 10.00 + 5.25 + 5.25 = 20.50 by credit card
    _order("#W5", "bob_2", "pending", [_item(SHIRT, "1002")], [_pay(12.5, "gift_card_2")]),
    _order("#W6", "bob_2", "delivered", [_item(SHIRT, "1004")], [_pay(30.0, "credit_card_2")]),
    _order("#W7", "bob_2", "pending", [_item(SHIRT, "1001"), _item(MUG, "2001"), _item(MUG, "2001")],
           [_pay(20.5, "credit_card_2")]),
]


def tiny_db() -> dict[str, Any]:
    """A fresh deep copy of the tiny db, in db.json structure."""
    return copy.deepcopy({
        "products": {p["product_id"]: p for p in (SHIRT, MUG)},
        "users": {u["user_id"]: u for u in (ALICE, BOB)},
        "orders": {o["order_id"]: o for o in ORDERS},
    })
