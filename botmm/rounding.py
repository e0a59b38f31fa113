"""Rounding to an asset's tick and lot. Bids round down and asks round up, so rounding never moves a quote toward
the other side of the book. A value within float noise of a whole number of ticks counts as on the
grid — 0.3 / 0.1 is 2.9999999999999996 in binary floats — before it is floored or ceiled; "noise" is one part in
1e12 plus 1e-9 of a tick, far above float error and far below any real price difference. Results are rounded to 12
decimals so that equal prices compare equal; a whole number, which that rounding leaves as it is, skips it (prices
on a tick of 1). These run several times per tick, so they stay plain arithmetic.

``round(x, 12)`` is most of their cost (a few thousand machine instructions: it goes through a decimal string), and
prices and sizes take few values (whole numbers of ticks near the market, whole numbers of lots near a fixed
notional), so the rounding of recent values is remembered (:func:`round12`, :func:`_lots`)."""

from __future__ import annotations

import math
from functools import lru_cache

_UP = 1.0 + 1e-12
_DOWN = 1.0 - 1e-12
_EPS = 1e-9


def round_bid(price: float, tick: float) -> float:
    value = math.floor(price / tick * _UP + _EPS) * tick
    return value if value % 1.0 == 0.0 else round12(value)


def round_ask(price: float, tick: float) -> float:
    value = math.ceil(price / tick * _DOWN - _EPS) * tick
    return value if value % 1.0 == 0.0 else round12(value)


@lru_cache(maxsize=4096, typed=True)
def round12(value: float) -> float:
    """``round(value, 12)`` for a non-zero ``value``, remembered. Equal non-zero floats have the same bits, so the
    remembered result is the one ``round`` gives; 0.0 and -0.0 are equal but differ, hence callers keep zero out."""
    return round(value, 12)


def round_lot(size: float, lot: float) -> float:
    """Round a size down to whole lots."""
    return _lots(math.floor(size / lot * _UP + _EPS), lot)


relot = lru_cache(maxsize=1024, typed=True)(round_lot)
""":func:`round_lot` of a size that recurs (one a quoter already rounded to the lot), remembered. Safe for every size:
0.0 and -0.0, one key, both round to 0 lots."""


def lots_for_notional(notional: float, price: float, lot: float) -> float:
    """The smallest whole number of lots worth at least ``notional`` at ``price``."""
    return _lots(math.ceil(notional / price / lot * _DOWN - _EPS), lot)


@lru_cache(maxsize=4096, typed=True)
def _lots(lots: int, lot: float) -> float:
    """``lots`` lots of ``lot``, rounded to 12 decimals. ``typed``: an int lot and a float lot of equal value are
    remembered apart, so each gets its own type back (a lot is never 0.0 or -0.0: the callers divide by it)."""
    return round(lots * lot, 12)
