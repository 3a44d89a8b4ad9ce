"""How the retail shop's identifiers look: the toolkit's ``identifier_shapes`` hook (``agentspec.hooks``).

The grounding of the grammar collects, per kind, the values a conversation has shown: these are the
tau2 retail shapes. A token can match several kinds (a 10-digit number is both an item and a product
id); it is then recorded under each: the grammar only needs a superset.
"""
from __future__ import annotations

from agentspec.hooks import IdentifierShapes

__all__ = ["RETAIL_SHAPES"]

RETAIL_SHAPES = IdentifierShapes(
    patterns={
        "order": r"#W\d{7}",
        "user": r"(?!(?:credit_card|gift_card|paypal)_)[a-z]+_[a-z]+_\d+",
        "item": r"\d{10}",
        "product": r"\d{10}",
        "payment_method": r"(?:credit_card|paypal|gift_card)_\d+",
        "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        "zip": r"\d{5}",
        # A person's name as the user types it, one word (apostrophes and hyphens inside): every word
        # of a user message qualifies, so a name the model copies cannot be misspelt. Which words are
        # the first and the last name is the reader's (its tags); this only bounds the grammar. Not
        # one letter: "I" is no name, but it begins many.
        "name": r"(?:[^\W\d_]{2,}|[^\W\d_](?=['-]))(?:['-][^\W\d_]+)*",
    },
    # JSON keys whose value holds ids of a kind the generic ``<kind>_id`` rules would not infer; the
    # country of an address read is a line an address write may take (a customer seldom says it).
    keys={"variants": "item", "payment_methods": "payment_method", "country": "dictated"},
    # An address line the user dictates: runs of up to six words of one clause.
    phrases={"dictated": 6},
)
