"""Rounding to an asset's tick and lot. Bids round down and asks round up, so rounding never moves a quote toward
the other side of the book. A value within float noise of a whole number of ticks counts as on the grid (0.3 / 0.1
is 2.9999999999999996 in binary floats) before it is floored or ceiled."""

from __future__ import annotations

import math


def _units(value: float, step: float) -> float:
    units = value / step
    nearest = round(units)
    return nearest if abs(units - nearest) <= max(1e-9, 1e-12 * abs(units)) else units


def round_bid(price: float, tick: float) -> float:
    return round(math.floor(_units(price, tick)) * tick, 12)


def round_ask(price: float, tick: float) -> float:
    return round(math.ceil(_units(price, tick)) * tick, 12)


def round_lot(size: float, lot: float) -> float:
    """Round a size down to whole lots."""
    return round(math.floor(_units(size, lot)) * lot, 12)


def lots_for_notional(notional: float, price: float, lot: float) -> float:
    """The smallest whole number of lots worth at least ``notional`` at ``price``."""
    return round(math.ceil(_units(notional / price, lot)) * lot, 12)
