"""How customers name items: the product, plus only the options that tell it apart (shared by generators).

Neutral helpers of the suite generators and the reader's data: no sentence of any wording style lives
here, only how values are said ("grey", "size M", "the large, brown Pet Bed").
"""
from __future__ import annotations

import itertools
from typing import Any

__all__ = ["describe_item", "_join", "_words"]


_SHORT = {"yes", "no", "none"}  # option values too short to say alone


def _words(key: str, value: str) -> str:
    """One option as a customer says it: the bare value when it speaks for itself ("grey", "1000ml")."""
    bare = sum(c.isalpha() for c in value) >= 3 and value.lower() not in _SHORT
    return value if bare else f"{key} {value}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe_item(order: dict[str, Any], item: dict[str, Any]) -> str:
    """"the Pet Bed", or with the fewest options that single it out among the order's Pet Beds."""
    twins = [i for i in order["items"] if i["product_id"] == item["product_id"] and i["item_id"] != item["item_id"]]
    keys = list(item["options"])
    for size in range(len(keys) + 1):
        for combo in itertools.combinations(keys, size):
            if all(any(t["options"].get(k) != item["options"][k] for k in combo) for t in twins):
                words = [_words(k, item["options"][k]) for k in combo]
                return f"the {', '.join(words) + ' ' if words else ''}{item['name']}"
    return f"the {item['name']}"  # identical twins: either one is the same item id
