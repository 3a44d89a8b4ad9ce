"""A dictated address: its lines from the reader's slots, and whether a write's fields can be an address.

Which words of the user's are the street, the city and the zip is the reader's to say (its slots).
``address_line(db, texts, slots, argument)`` (the ``mentions`` hook for the ``dictated`` kind) reads
one line of the last address dictated from those slots, mended only where the shop's addresses
have one shape: a street line is a house number and a street ("long story short 690 Elm Avenue"
tagged whole is "690 Elm Avenue"; "690" tagged apart from "Elm Avenue" joins it). ``implausible_address``
(the store's dry run, ``RetailStore.check``) refuses fields that cannot be an address, whoever filled them.
"""
from __future__ import annotations

import re

from ._sqlite import Database

__all__ = ["ADDRESS_WRITES", "SHOP_COUNTRY", "address_line", "address_problems", "implausible_address"]

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


# The shop delivers within one country: an address dictated without one is there (tau2's addresses all are).
SHOP_COUNTRY = "USA"
_ZIP = re.compile(r"\d{5}")  # the country's zip codes: a span of another shape the reader tagged is none


def _known(db: Database, line: str) -> set[str]:
    """The values of address line ``line`` over every address the store holds (customers' and orders')."""
    found = {str((user.get("address") or {}).get(line, "")) for _, user in db.items("users")}
    found |= {str((order.get("address") or {}).get(line, "")) for _, order in db.items("orders")}
    return found - {""}


def address_line(db: Database, texts: list[str], slots: list[dict[str, list[str]]],
                 argument: str | None) -> list[str] | None:
    """The line ``argument`` of the last address the reader found dictated (the last message with a street,
    ``address1``; every line from that message, so a zip given for identity elsewhere is no address's):
    the line's own slot; no second line, ""; no country, the shop's. None before any address. A city
    span that is a state of the store's addresses ("Houston, TX" read as two cities) is the state; of
    the zip spans, those of a zip code's shape; a country span no address of the store has ("state" of
    "state TX" read as one) is none. The street line is mended (``_street_mended``)."""
    index = next((i for i in range(len(slots) - 1, -1, -1) if slots[i].get("address1")), None)
    if index is None or argument is None:
        return None
    address = slots[index]
    if argument in ("address1", "address2"):
        address = _street_mended(address, texts[index] if index < len(texts) else "")
    if argument == "zip" and any(_ZIP.fullmatch(z) for z in address.get("zip", [])):
        address = {**address, "zip": [z for z in address["zip"] if _ZIP.fullmatch(z)]}  # "... after that": no zip
    if argument in ("city", "state") and not address.get("state") and len(address.get("city", [])) > 1:
        states = _known(db, "state")
        cities = [c for c in address["city"] if c not in states]
        address = {**address, "city": cities or address["city"],
                   "state": [c for c in address["city"] if c in states][-1:]}
    if argument == "country" and address.get("country"):
        countries = _known(db, "country")
        address = {**address, "country": [c for c in address["country"] if c in countries]}
    if address.get(argument):
        return [address[argument][-1]]
    if argument == "address2":
        return [""]
    if argument == "country":
        return [SHOP_COUNTRY]
    return []


def _street_mended(address: dict[str, list[str]], text: str) -> dict[str, list[str]]:
    """``address`` (a message's slots) with its street line from its house number on ("short 690 Elm
    Avenue" -> "690 Elm Avenue"), or, with no number in it, the number ``text`` says right before it,
    which then is no second line ("690" and "Elm Avenue" tagged apart -> "690 Elm Avenue")."""
    street = address["address1"][-1]
    words = street.split()
    first = next((i for i, word in enumerate(words) if word[:1].isdigit()), None)
    number: list[str] = []
    if first is not None:
        street = " ".join(words[first:])
    elif found := re.search(rf"(?<![\w-])(\d+[A-Za-z]?)\s+{re.escape(street)}", text):
        street, number = f"{found.group(1)} {street}", [found.group(1)]
    second = [line for line in address.get("address2", []) if line not in number]
    return {**address, "address1": [street], "address2": second}
