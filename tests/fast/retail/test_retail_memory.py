"""The retail toolkit's memory hooks: what a customer's words ask to keep resolves to one of their own
payment methods or to nothing; what a write leaves; whether a memory still holds against the store."""
from __future__ import annotations

import pytest

from agentspec.tools.retail import RetailStore

from retail_fixture import tiny_db


@pytest.fixture
def store():
    with RetailStore.from_json(tiny_db()) as s:
        yield s


@pytest.mark.parametrize("text, method", [
    ("from now on refunds to my PayPal", "paypal_1"),
    ("always put refunds on the card ending in 1111", "credit_card_1"),
    ("going forward my Visa please", "credit_card_1"),
    ("future refunds on my gift card", "gift_card_1"),
])
def test_a_preference_names_one_of_the_customers_own_methods(store, text, method):
    (fact,) = store.stated_memories("alice_1", "payment_method", [text])
    assert (fact["key"], fact["value"], fact["kind"]) == ("refund_method", method, "payment_method")
    assert method in fact["text"] and fact["text"].startswith("Refund method the customer asked for from now on")
    assert store.verify_memory("alice_1", fact) == {"status": "fresh"}


@pytest.mark.parametrize("user, text", [
    ("alice_1", "refunds the usual way from now on"),  # names no method
    ("alice_1", "PayPal or my gift card, either is fine from now on"),  # two of hers
    ("bob_2", "from now on my PayPal"),  # bob has none
    ("bob_2", "the card ending in 1111 from now on"),  # alice's card
    ("nobody_9", "from now on my PayPal"),  # no such customer
])
def test_words_naming_none_or_several_of_the_customers_methods_keep_nothing(store, user, text):
    assert store.stated_memories(user, "payment_method", [text]) == []


def test_another_label_keeps_nothing(store):
    assert store.stated_memories("alice_1", "address", ["from now on ship to 5 Pine Ave"]) == []


def test_a_kept_method_the_profile_no_longer_lists_is_stale(store):
    (fact,) = store.stated_memories("bob_2", "payment_method", ["amex from now on"])
    assert fact["value"] == "credit_card_2"
    assert store.verify_memory("alice_1", fact)["status"] == "stale"  # not alice's
