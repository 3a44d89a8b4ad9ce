"""Which of a customer's payment methods their words name: the ``payment_method`` kind of ``mentions``.

Contract: ``methods_named(db, texts, candidates)`` returns the candidate method ids (seen ones and the
seen users') that the latest of ``texts`` naming any names: by a card's last four digits, else by kind
("PayPal", "gift card", a "card" with no last four digits none of theirs has; a gift card is no
"card") or brand ("my Visa"). The latest naming message decides, so "PayPal", refused, then "the card
then" names the cards. [] when no text names one. Matching is on whole words, case-folded.
"""
from __future__ import annotations

import re
from typing import Any

from ._reads import says
from ._sqlite import Database

__all__ = ["methods_named"]

_GIFT = re.compile(r"\bgift[\s-]?cards?\b")
_CARD = re.compile(r"\b(?:credit|debit)[\s-]?cards?\b")
_ANY_CARD = re.compile(r"(?<!gift )(?<!gift-)\bcards?\b")  # a card that is no gift card


def methods_named(db: Database, texts: list[str], candidates: list[str]) -> list[str]:
    """The candidates the latest text naming a payment method names (module docstring)."""
    methods = _methods_of(db, candidates)
    return next((named for said in reversed(texts) if (named := _methods_said(said.lower(), candidates, methods))), [])


def _methods_of(db: Database, candidates: list[str]) -> dict[str, dict[str, Any]]:
    """The store's record of each candidate payment method (read from its owner)."""
    methods: dict[str, dict[str, Any]] = {}
    for _, user in db.items("users"):
        for method_id, method in (user.get("payment_methods") or {}).items():
            if method_id in candidates:
                methods[method_id] = method
    return methods


def _methods_said(text: str, candidates: list[str], methods: dict[str, dict[str, Any]]) -> list[str]:
    """The candidates ``text`` (lower-case) names (module docstring)."""
    digits = set(re.findall(r"(?<!\d)\d{4}(?!\d)", text))
    by_digits = [c for c in candidates if methods.get(c, {}).get("last_four") in digits]
    if by_digits:
        return by_digits
    cards = [c for c in candidates if methods.get(c, {}).get("source") == "credit_card"]
    brands = [c for c in cards if (brand := str(methods[c].get("brand", "")).lower()) and says(text, brand)]
    named = set(brands or (cards if _CARD.search(text) or (not digits and _ANY_CARD.search(text)) else []))
    if "paypal" in text:
        named |= {c for c in candidates if methods.get(c, {}).get("source") == "paypal"}
    if _GIFT.search(text):
        named |= {c for c in candidates if methods.get(c, {}).get("source") == "gift_card"}
    return [c for c in candidates if c in named]
