"""Rounding to an asset's tick and lot. Bids round down and asks round up, so rounding never moves a quote toward
the other side of the book. A tiny epsilon absorbs binary floating-point noise (0.1 + 0.2 style) before flooring."""

from __future__ import annotations

import math

_EPS = 1e-9


def round_bid(price: float, tick: float) -> float:
    return round(math.floor(price / tick + _EPS) * tick, 12)


def round_ask(price: float, tick: float) -> float:
    return round(math.ceil(price / tick - _EPS) * tick, 12)


def round_lot(size: float, lot: float) -> float:
    """Round a size down to whole lots."""
    return round(math.floor(size / lot + _EPS) * lot, 12)


def lots_for_notional(notional: float, price: float, lot: float) -> float:
    """The smallest whole number of lots worth at least ``notional`` at ``price``."""
    return round(math.ceil(notional / (price * lot) - _EPS) * lot, 12)
