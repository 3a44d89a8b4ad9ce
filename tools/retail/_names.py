"""Which words of a customer's messages are their name: the store's customers, not a phrase rule.

Contract: ``named_customer(db, texts, argument)`` returns, for ``first_name``, ``last_name`` or ``zip``,
that part of each customer whose zip code the texts give and whose first and last names both appear
in them (whole words, accents and case folded; email addresses left out, so "juan.smith@example.com"
is no name said). A name is spelled as the customer wrote it, so the grammar's grounding (words seen)
allows it; the zip is the customer's, not that of an address dictated in the same words. None when no
such customer exists: the reader's slots then say which words are the name, and a lookup with them
may still fail, as it should.

This is entity linking against the store, the way products are found by their catalogue names: it
finds "Harper Khan here, zip 19029" and "zip 19029, its khan, harper" alike. It reveals nothing the
lookup itself would not: the same words looked up authenticate the same customer.
"""
from __future__ import annotations

import re

from ._reads import _fold
from ._sqlite import Database

__all__ = ["named_customer"]

_EMAIL = re.compile(r"\S+@\S+")
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_ZIP = re.compile(r"(?<!\d)\d{5}(?!\d)")
_PARTS = ("first_name", "last_name", "zip")


def named_customer(db: Database, texts: list[str], argument: str | None) -> list[str] | None:
    """``argument`` (a name part, spelled as in ``texts``, or the zip) of the customers they name (module doc)."""
    if argument not in _PARTS:
        return None
    text = _EMAIL.sub(" ", "\n".join(texts))
    zips = set(_ZIP.findall(text))
    if not zips:
        return None
    spellings: dict[str, str] = {}  # folded word -> the first spelling the customer used
    for word in _WORD.findall(text):
        spellings.setdefault(_fold(word), word)
    found: list[str] = []
    for _, user in db.items("users"):
        zip_code = str(user.get("address", {}).get("zip"))
        if zip_code not in zips:
            continue
        name = user.get("name", {})
        first, last = _fold(str(name.get("first_name", ""))), _fold(str(name.get("last_name", "")))
        if first in spellings and last in spellings:
            found.append(zip_code if argument == "zip" else spellings[first if argument == "first_name" else last])
    return list(dict.fromkeys(found)) or None
