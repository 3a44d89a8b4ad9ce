"""Argument annotations shared by every toolkit.

An argument annotated with ``Identifier("kind")`` names an entity that must already have been seen in
the conversation (user message or tool observation). The decoding layer turns such arguments into a
dynamic enum of the values seen so far, so a model cannot invent one. This module only declares the
marker; it does not track or enforce anything itself.

    from typing import Annotated
    from agentspec.tools.types import Identifier

    def get_order_details(order_id: Annotated[str, Identifier("order")]) -> str: ...
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Identifier", "GROUNDED_KEY"]

# JSON-schema extension key under which the identifier kind is exported.
GROUNDED_KEY = "x-grounded"


@dataclass(frozen=True)
class Identifier:
    """Marks a string argument as an identifier of ``kind`` (e.g. "order", "item", "user")."""

    kind: str
