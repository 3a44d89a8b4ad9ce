"""Argument types shared by the retail tools: identifier kinds and the cancellation reasons.

An ``Identifier`` kind tells the decoding layer which values the model may use for the argument (ids it
has seen in the conversation). The kinds are "user", "order", "item", "product" and "payment_method",
plus the identity keys the user dictates for authentication, "email", "zip" and "name" (one word of
a person's name): a small model asked to authenticate otherwise invents a plausible email instead of
asking for it, or misspells the name it copies. Other free text the user dictates (address lines, a
new address's zip) is ``Dictated``: a run of words from one clause of a user message (the graph's
grammar offers those), so an address is copied from what the user typed. A two-word first or last
name cannot be grounded as one value: such a user authenticates by email.
"""
from __future__ import annotations

from typing import Annotated, Literal

from agentspec.tools.types import Identifier

__all__ = ["UserId", "OrderId", "ItemId", "ProductId", "PaymentMethodId", "Email", "Zip", "PersonName", "Dictated",
           "CancelReason", "CANCEL_REASONS", "IDENTIFIER_KINDS"]

UserId = Annotated[str, Identifier("user")]
OrderId = Annotated[str, Identifier("order")]
ItemId = Annotated[str, Identifier("item")]
ProductId = Annotated[str, Identifier("product")]
PaymentMethodId = Annotated[str, Identifier("payment_method")]
Email = Annotated[str, Identifier("email")]
Zip = Annotated[str, Identifier("zip")]
PersonName = Annotated[str, Identifier("name")]
Dictated = Annotated[str, Identifier("dictated")]
# Every kind above: `agentspec validate` checks a policy's *_follow_named kinds against it.
IDENTIFIER_KINDS = ("user", "order", "item", "product", "payment_method", "email", "zip", "name", "dictated")

# tau2's two accepted reasons (its ``CancelReason`` literal); the policy rejects any other.
CancelReason = Literal["no longer needed", "ordered by mistake"]
CANCEL_REASONS: tuple[str, ...] = ("no longer needed", "ordered by mistake")
