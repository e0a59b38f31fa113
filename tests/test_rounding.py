from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from hypothesis import given
from hypothesis import strategies as st

from botmm.rounding import lots_for_notional, relot, round12, round_ask, round_bid, round_lot

ticks = st.sampled_from([0.01, 0.1, 0.5, 1.0, 0.0001, 0.25])
prices = st.decimals(min_value="0.5", max_value="100000", places=6).map(float)


def _decimal_round(price: float, tick: float, rounding) -> float:
    q = (Decimal(repr(price)) / Decimal(repr(tick))).to_integral_value(rounding=rounding)
    return float(q * Decimal(repr(tick)))


@given(prices, ticks)
def test_bids_round_down_and_asks_up_to_whole_ticks(price, tick):
    bid, ask = round_bid(price, tick), round_ask(price, tick)
    # an independent, exact Decimal implementation of the same rule
    assert abs(bid - _decimal_round(price, tick, ROUND_FLOOR)) < tick * 1e-6
    assert abs(ask - _decimal_round(price, tick, ROUND_CEILING)) < tick * 1e-6
    assert bid <= price + tick * 1e-6 and ask >= price - tick * 1e-6
    assert price - bid < tick + 1e-9 and ask - price < tick + 1e-9
    for value in (bid, ask):
        assert abs(value / tick - round(value / tick)) < 1e-6


def test_prices_already_on_the_grid_stay_put():
    assert round_bid(0.3, 0.1) == 0.3  # 0.3 / 0.1 == 2.9999999999999996 in binary floats
    assert round_ask(0.3, 0.1) == 0.3
    assert round_bid(2000.15, 0.1) == 2000.1
    assert round_ask(2000.15, 0.1) == 2000.2


@given(st.floats(0.0, 1000.0), st.sampled_from([0.001, 0.01, 0.0001, 1.0]))
def test_round_lot_never_rounds_up(size, lot):
    rounded = round_lot(size, lot)
    assert rounded <= size + lot * 1e-6
    assert size - rounded < lot + 1e-9


@given(st.floats(1.0, 1000.0), st.floats(1.0, 100_000.0), st.sampled_from([0.001, 0.01, 0.0001]))
def test_lots_for_notional_reaches_the_notional_with_the_fewest_lots(notional, price, lot):
    size = lots_for_notional(notional, price, lot)
    assert size * price >= notional * (1 - 1e-9)
    assert (size - lot) * price < notional


@given(st.floats(allow_nan=False, allow_infinity=False).filter(bool))
def test_remembered_rounding_gives_round_s_exact_bits(value):
    """round12 remembers results: asked again (a hit) or for an equal value, it returns round(value, 12) exactly."""
    expected = round(value, 12).hex()
    assert round12(value).hex() == expected
    assert round12(float(repr(value))).hex() == expected  # an equal float, another object: a cache hit


@given(st.one_of(st.just(-0.0), st.floats(min_value=0.0, max_value=1e6)), ticks)
def test_remembered_lot_rounding_gives_round_lot_s_exact_bits(size, lot):
    """relot, asked twice (the second a cache hit), equals round_lot bit for bit, signed zeros included."""
    expected = round_lot(size, lot).hex()
    assert relot(size, lot).hex() == expected
    assert relot(size, lot).hex() == expected
