"""Exact money arithmetic for the retail tools: amounts as integer cents.

tau2 adds and subtracts Python floats and rounds to 2 decimals at some points (gift-card balances,
exchange differences) but not at others (the amount recorded for an item modification), which leaves
float noise such as ``0.30000000000000004`` in its state. We compute every sum in integer cents and
convert back once, which gives the value tau2 means, always with at most 2 decimals. Amounts in db.json
already have at most 2 decimals; ``to_cents`` would silently round a third one, so it refuses it.
"""
from __future__ import annotations

__all__ = ["to_cents", "from_cents"]


def to_cents(amount: float | int) -> int:
    """``12.34`` -> ``1234``; raises ValueError for an amount with more than 2 decimals."""
    cents = round(amount * 100)
    # 1e-6 cent tolerates the binary error of a 2-decimal float times 100 (~1e-12 for these magnitudes).
    if abs(amount * 100 - cents) > 1e-6:
        raise ValueError(f"amount {amount!r} has more than 2 decimals")
    return int(cents)


def from_cents(cents: int) -> float:
    """``1234`` -> ``12.34``: the float closest to the 2-decimal value, as ``round(x, 2)`` gives."""
    return cents / 100
