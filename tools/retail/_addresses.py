"""Whether an address write's fields can be an address: a verifier of the store's dry run (``RetailStore.check``).

Which words of the user's are the street, the city and the zip is the reader's to say (its slots);
this only refuses fields that cannot be an address, whoever filled them.
"""
from __future__ import annotations

import re

__all__ = ["ADDRESS_WRITES", "address_problems", "implausible_address"]

ADDRESS_WRITES = ("modify_pending_order_address", "modify_user_address")


def implausible_address(arguments: dict) -> str | None:
    """Why an address write's fields cannot be a US address (the store's dry run, ``RetailStore.check``);
    None when they can. The tool itself writes any strings, as tau2's does; the grammar lets a field
    take any phrase the user typed, and with no address dictated the expert once filled address1 with
    the user id, city with "Order" and zip with "Address Is ethan.thomas7730@example.com": the
    customer confirmed it, and the shipping address was lost."""
    problems = address_problems(arguments)
    if not problems:
        return None
    return (f"Error: not a complete address ({'; '.join(problems)}). Ask the customer for the full new address: "
            "street, city, state, zip code.")


def address_problems(arguments: dict) -> list[str]:
    """Each field of an address write that cannot be its part of a US address, in words; [] for none."""
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
    return problems
