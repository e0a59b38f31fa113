"""Hyperliquid's price and size rules as pure functions (the SDK rounds nothing; the exchange rejects what breaks
them).

* A price has at most 5 significant figures and at most ``6 - szDecimals`` decimals (``8 - szDecimals`` on spot);
  an integer price is always allowed, however many figures it has.
* A size has at most ``szDecimals`` decimals.
* An order is worth at least $10 (price times size).

Bids round down and asks round up, so rounding never moves a post-only quote toward the other side of the book;
sizes round down, so rounding never adds exposure, except that a size that fell below the minimum value *because
of* rounding is lifted to the smallest size that meets it. Floats are read through their shortest decimal
representation and snapped to 12 significant figures first, so float noise (2000.1000000000001) is not mistaken
for a price above the grid point it stands for.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

MAX_SIGNIFICANT = 5
PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MIN_ORDER_VALUE = 10.0
_NOISE_FIGURES = 12


def _decimal(value: float) -> Decimal:
    """``value`` as the decimal it stands for: its shortest repr, snapped to 12 significant figures."""
    exact = Decimal(repr(float(value)))
    if not exact.is_finite() or exact == 0:
        return exact
    return exact.quantize(Decimal(1).scaleb(exact.adjusted() - _NOISE_FIGURES + 1), rounding=ROUND_HALF_EVEN)


def max_price_decimals(sz_decimals: int, spot: bool = False) -> int:
    """The most decimals a price may carry for an asset with ``sz_decimals``."""
    return max(0, (SPOT_MAX_DECIMALS if spot else PERP_MAX_DECIMALS) - sz_decimals)


def _price_places(price: Decimal, sz_decimals: int, spot: bool) -> int:
    """Decimals that keep ``price`` at 5 significant figures, capped by the asset's maximum (0 for large prices:
    integers are always allowed)."""
    return max(0, min(max_price_decimals(sz_decimals, spot), MAX_SIGNIFICANT - 1 - price.adjusted()))


def round_price(price: float, sz_decimals: int, is_buy: bool, spot: bool = False) -> float:
    """The best valid price on the passive side of ``price``: the highest valid price <= ``price`` for a bid, the
    lowest valid price >= ``price`` for an ask. 0.0 when no positive valid price exists (a bid below the smallest
    step)."""
    if not price > 0:
        return 0.0
    value = _decimal(price)
    places = _price_places(value, sz_decimals, spot)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR if is_buy else ROUND_CEILING)
    return float(rounded)


def round_size(size: float, sz_decimals: int) -> float:
    """``size`` rounded down to ``sz_decimals`` decimals (0.0 for a size below one unit)."""
    if not size > 0:
        return 0.0
    return float(_decimal(size).quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_FLOOR))


def min_size(price: float, sz_decimals: int, min_value: float = MIN_ORDER_VALUE) -> float:
    """The smallest size with ``sz_decimals`` decimals worth at least ``min_value`` at ``price``."""
    needed = _decimal(min_value) / _decimal(price)
    return float(needed.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_CEILING))


def order_size(price: float, size: float, sz_decimals: int, min_value: float = MIN_ORDER_VALUE) -> float:
    """The size to send for a wanted ``size`` at the (already rounded) ``price``: rounded down, lifted to the
    minimum value only when the wanted size met it before rounding; 0.0 when the order cannot be sent."""
    rounded = round_size(size, sz_decimals)
    if rounded * price >= min_value:
        return rounded
    if size * price >= min_value:
        return min_size(price, sz_decimals, min_value)
    return 0.0


def is_valid_price(price: float, sz_decimals: int, spot: bool = False) -> bool:
    """Whether Hyperliquid accepts ``price`` as it is (positive, 5 significant figures or an integer, and not too
    many decimals)."""
    value = _decimal(price)
    if not value > 0:
        return False
    if value == value.to_integral_value():
        return True
    decimals = -value.normalize().as_tuple().exponent
    return decimals <= _price_places(value, sz_decimals, spot)


def is_valid_size(size: float, sz_decimals: int) -> bool:
    """Whether ``size`` is positive with at most ``sz_decimals`` decimals."""
    value = _decimal(size)
    return value > 0 and -min(0, value.normalize().as_tuple().exponent) <= sz_decimals
