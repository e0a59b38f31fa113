"""Hyperliquid price and size rounding (plugins/exchanges/hyperliquid/rounding.py) against an independent Decimal
implementation of the exchange's rules: the reference tries every number of decimals and keeps the best valid
candidate, checking validity by counting digits of the decimal string."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.plugins.exchanges.hyperliquid.rounding import (
    is_valid_price,
    is_valid_size,
    max_price_decimals,
    min_size,
    order_size,
    round_price,
    round_size,
)


def ref_valid(price: Decimal, sz_decimals: int, max_decimals: int) -> bool:
    """The rule as Hyperliquid's docs state it, by digits: positive; an integer, or at most 5 significant figures
    and at most ``max_decimals - szDecimals`` decimals."""
    if price <= 0:
        return False
    text = format(price.normalize(), "f")
    if "." not in text:
        return True
    whole, frac = text.split(".")
    significant = (whole + frac).lstrip("0")
    return len(frac) <= max_decimals - sz_decimals and len(significant) <= 5


def ref_round(price: Decimal, sz_decimals: int, is_buy: bool, max_decimals: int) -> Decimal:
    """The best valid price on the passive side: over every number of decimals, floor (bids) or ceil (asks) and
    keep the valid candidate nearest to ``price``."""
    mode = ROUND_FLOOR if is_buy else ROUND_CEILING
    candidates = [price.quantize(Decimal(1).scaleb(-d), rounding=mode) for d in range(0, max_decimals + 1)]
    valid = [c for c in candidates if ref_valid(c, sz_decimals, max_decimals)]
    if not valid:
        return Decimal(0)
    return max(valid) if is_buy else min(valid)


# prices with at most 10 significant digits, from 1e-6 to 1e6: their float repr is exactly the decimal
decimal_prices = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=1, max_value=9_999_999_999), st.integers(min_value=-15, max_value=-3),
).filter(lambda d: Decimal("0.000001") <= d <= Decimal("1000000"))


@settings(max_examples=800, deadline=None)
@given(decimal_prices, st.integers(min_value=0, max_value=6), st.booleans(), st.booleans())
def test_round_price_matches_the_reference(price: Decimal, sz_decimals: int, is_buy: bool, spot: bool) -> None:
    max_decimals = 8 if spot else 6
    expected = ref_round(price, sz_decimals, is_buy, max_decimals)
    got = round_price(float(price), sz_decimals, is_buy, spot=spot)
    assert Decimal(repr(got)) == expected if expected else got == 0.0
    if got:
        assert ref_valid(Decimal(repr(got)), sz_decimals, max_decimals)
        assert is_valid_price(got, sz_decimals, spot=spot)
        assert (Decimal(repr(got)) <= price) if is_buy else (Decimal(repr(got)) >= price)


@settings(max_examples=400, deadline=None)
@given(st.floats(min_value=1e-5, max_value=2e6, allow_nan=False), st.integers(min_value=0, max_value=5),
       st.booleans())
def test_any_float_rounds_to_a_valid_price_on_the_passive_side(price: float, sz_decimals: int, is_buy: bool) -> None:
    got = round_price(price, sz_decimals, is_buy)
    if got == 0.0:
        assert is_buy and price < 10 ** -max_price_decimals(sz_decimals)
        return
    assert ref_valid(Decimal(repr(got)), sz_decimals, 6)
    tolerance = abs(price) * 1e-11  # float noise is snapped to 12 significant figures first
    assert (got <= price + tolerance) if is_buy else (got >= price - tolerance)


@settings(max_examples=400, deadline=None)
@given(decimal_prices, st.integers(min_value=0, max_value=5))
def test_round_size_floors_to_sz_decimals(size: Decimal, sz_decimals: int) -> None:
    expected = size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_FLOOR)
    got = round_size(float(size), sz_decimals)
    assert Decimal(repr(got)) == expected
    if got:
        assert is_valid_size(got, sz_decimals)


@settings(max_examples=400, deadline=None)
@given(decimal_prices.filter(lambda d: d >= Decimal("0.01")), st.floats(min_value=1, max_value=500),
       st.integers(min_value=0, max_value=5))
def test_order_size_meets_the_minimum_only_when_the_wanted_size_did(price: Decimal, value: float,
                                                                   sz_decimals: int) -> None:
    px = float(price)
    wanted = value / px
    got = order_size(px, wanted, sz_decimals, 10.0)
    if got == 0.0:
        assert wanted * px < 10.0
        return
    assert Decimal(repr(got)) * price >= 10
    assert is_valid_size(got, sz_decimals)
    if Decimal(repr(round_size(wanted, sz_decimals))) * price >= 10:
        assert got <= wanted  # rounding never adds exposure...
    else:
        assert got == min_size(px, sz_decimals, 10.0)  # ...unless it fell below $10 by rounding alone


@pytest.mark.parametrize(("price", "sz_decimals", "is_buy", "expected"), [
    (3000.07, 4, True, 3000.0),  # 5 significant figures at 1,000-9,999: a 0.1 grid
    (3000.07, 4, False, 3000.1),
    (2000.1000000000001, 4, False, 2000.1),  # float noise is not a price above the grid point
    (0.3 / 0.1 * 1000, 4, True, 3000.0),
    (123456.7, 5, True, 123456.0),  # integers are always allowed, beyond 5 figures
    (123456.2, 5, False, 123457.0),
    (99999.5, 5, False, 100000.0),
    (9999.96, 4, False, 10000.0),
    (0.0123456, 0, True, 0.012345),  # 5 figures, 6 decimals
    (0.0123456, 2, True, 0.0123),  # capped at 6 - 2 decimals
    (1.234567, 1, False, 1.2346),
    (0.0000004, 0, True, 0.0),  # below the smallest step: nothing to send
])
def test_known_prices(price: float, sz_decimals: int, is_buy: bool, expected: float) -> None:
    assert round_price(price, sz_decimals, is_buy) == expected


def test_known_sizes_and_minimum_value() -> None:
    assert round_size(0.033333, 4) == 0.0333
    assert round_size(1.99999, 0) == 1.0
    assert order_size(3000.0, 0.00333, 4) == 0.0  # $9.99 wanted: below the minimum, not sent
    assert order_size(3000.0, 0.0033334, 4) == 0.0034  # $10.0002 wanted, $9.999 after rounding: lifted
    assert order_size(3000.0, 0.0334, 4) == 0.0334
    assert min_size(60000.0, 5) == 0.00017
