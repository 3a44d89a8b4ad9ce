"""Which dictated phrases fill which line of an address: the ``dictated`` kind of the ``mentions`` hook.

The grammar lets a dictated argument take any run of words from one clause the user typed
(``agentspec.decoding.grounding``), so the model cannot write the profile's address instead of the new
one; but it can still put a phrase of the wrong clause in a field: "ship my order with the Dumbbell
Set ... to 137 Laurel Lane, Suite 525, San Francisco, CA 94171" became city "DUMBBELL", and the
new zip became the zip the user authenticated with. Here the last US address the texts dictate is
parsed (number and street, an optional suite/apartment/unit line, with or without a comma before
it, city, two-letter state, with or without a comma before it, five-digit zip, an optional country:
"401 Oak Street Suite 332, Dallas TX 75237, USA" as well as "401 Oak Street, Suite 332, Dallas, TX
75237") and each field keeps the phrases equal to its part, in any of the casings
the grammar offers. No address found, or a part that is no phrase (over the grammar's word limit),
names nothing: the choice stays open, never stranded.
"""
from __future__ import annotations

import re

__all__ = ["ADDRESS_WRITES", "address_parts", "dictated", "implausible_address"]

ADDRESS_WRITES = ("modify_pending_order_address", "modify_user_address")

_FIELD = r"[^,;\n]"  # a field never spans a clause or a message
_ADDRESS = re.compile(
    rf"(?<![\w#])(?P<address1>\d+[a-z]?(?: {_FIELD}+?))"
    rf"(?:(?:\s*,\s*|\s+)(?P<address2>(?:suite|ste\.?|apt\.?|apartment|unit|floor|room|#)\s*{_FIELD}+?))?\s*,\s*"
    rf"(?P<city>[a-z][a-z .'-]*?)(?:\s*,\s*|\s+)"
    r"(?P<state>[a-z]{2})\s*,?\s+(?P<zip>\d{5})(?:-\d{4})?(?!\d)"
    r"(?:\s*,\s*(?P<country>usa|us|united states(?: of america)?)\b)?", re.I)


def address_parts(text: str) -> dict[str, str] | None:
    """The fields of the last address ``text`` dictates (address2 "" when it has no second line)."""
    found = list(_ADDRESS.finditer(text))
    if not found:
        return None
    parts = {k: (v or "").strip() for k, v in found[-1].groupdict().items()}
    if not parts["country"]:
        del parts["country"]  # not said: left to the model (the grammar offers what was said)
    # The street line: the words after the last clause-internal "to"/"at" ("ship it to 12 Oak St").
    parts["address1"] = re.split(r"\b(?:to|at|is|address)\s+(?=\d)", parts["address1"])[-1].strip()
    return parts


def dictated(text: str, candidates: list[str], argument: str | None) -> list[str]:
    """The ``candidates`` (dictated phrases) equal to the part of the address that ``argument`` names."""
    parts = address_parts(text)
    if parts is None or argument not in parts:
        return []
    want = parts[argument].lower()
    return [c for c in candidates if c.lower() == want]


def implausible_address(arguments: dict) -> str | None:
    """Why an address write's fields cannot be a US address (the store's dry run, ``RetailStore.check``);
    None when they can. The tool itself writes any strings, as tau2's does; the grammar lets a field
    take any phrase the user typed, and with no address dictated the expert once filled address1 with
    the user id, city with "Order" and zip with "Address Is ethan.thomas7730@example.com": the
    customer confirmed it, and the shipping address was lost."""
    zip_code, state = str(arguments.get("zip", "")), str(arguments.get("state", ""))
    street, city = str(arguments.get("address1", "")), str(arguments.get("city", ""))
    problems = []
    if not re.fullmatch(r"\d{5}(?:-\d{4})?", zip_code.strip()):
        problems.append(f"zip {zip_code!r} is not a five-digit zip code")
    if not re.fullmatch(r"[A-Za-z]{2}", state.strip()):
        problems.append(f"state {state!r} is not a two-letter state")
    if not re.search(r"\d", street) or not re.search(r"[A-Za-z]", street):
        problems.append(f"address1 {street!r} is not a number and street")
    if not re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", city.strip()):
        problems.append(f"city {city!r} is not a city name")
    if not problems:
        return None
    return (f"Error: not a complete address ({'; '.join(problems)}). Ask the customer for the full new address: "
            "street, city, state, zip code.")
