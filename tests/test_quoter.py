import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmm.plugins.quoters.avellaneda import AvellanedaParams, AvellanedaQuoter
from botmm.protocols import QuoteInputs


def _quoter(**overrides):
    params = AvellanedaParams(name="avellaneda", **overrides)
    return AvellanedaQuoter(params, tick=0.01, lot=0.001)


def test_seed_formula_values():
    q = _quoter(spread_bps=4.0, vol_multiplier=2.0, inventory_skew_factor=0.5, bias_strength=0.0)
    quote = q.quote(QuoteInputs(mid=2000.0, vol=0.001, atr=2.0))
    # spread = max(4 bps * 2000, 0.001 * 2 * 2000) = max(0.8, 4.0) = 4.0
    assert quote.bids[0].price == pytest.approx(1998.0)
    assert quote.asks[0].price == pytest.approx(2002.0)
    assert quote.bids[0].size == pytest.approx(0.05)  # 100 USD / 1998, down to the lot
    quiet = q.quote(QuoteInputs(mid=2000.0, vol=0.0, atr=0.0))
    assert quiet.asks[0].price - quiet.bids[0].price == pytest.approx(0.8)  # the minimum spread


def test_long_inventory_lowers_both_quotes_and_short_raises_them():
    q = _quoter(inventory_skew_factor=0.5, vol_multiplier=2.0)
    flat = q.quote(QuoteInputs(mid=2000.0, vol=0.0005, atr=1.0, inventory=0.0))
    long = q.quote(QuoteInputs(mid=2000.0, vol=0.0005, atr=1.0, inventory=1.0))
    short = q.quote(QuoteInputs(mid=2000.0, vol=0.0005, atr=1.0, inventory=-1.0))
    assert long.bids[0].price == pytest.approx(flat.bids[0].price - 0.5)  # skew = -1 * 0.5 * 1.0
    assert long.asks[0].price == pytest.approx(flat.asks[0].price - 0.5)
    assert short.bids[0].price == pytest.approx(flat.bids[0].price + 0.5)
    assert short.asks[0].price == pytest.approx(flat.asks[0].price + 0.5)


def test_skew_never_pushes_a_quote_across_mid():
    q = _quoter(inventory_skew_factor=1.0, min_distance_bps=1.0)
    long = q.quote(QuoteInputs(mid=2000.0, vol=0.0005, atr=50.0, inventory=1.0))
    assert long.asks[0].price == pytest.approx(2000.2)  # held 1 bp above mid
    assert long.bids[0].price < 2000.0 - 50.0


def test_signal_shifts_quotes_by_bias_strength_times_spread():
    q = _quoter(spread_bps=10.0, vol_multiplier=0.0, bias_strength=0.5)
    up = q.quote(QuoteInputs(mid=1000.0, signal=1.0))
    assert up.bids[0].price == pytest.approx(1000.0 - 0.5 + 0.5)  # spread 1.0, shift +0.5
    assert up.asks[0].price == pytest.approx(1000.0 + 0.5 + 0.5)


def test_levels_step_away_from_mid():
    q = _quoter(num_levels=3, level_spacing_bps=5.0, vol_multiplier=0.0)
    quote = q.quote(QuoteInputs(mid=1000.0))
    bids = [lv.price for lv in quote.bids]
    asks = [lv.price for lv in quote.asks]
    assert bids == pytest.approx([999.8, 999.3, 998.8])
    assert asks == pytest.approx([1000.2, 1000.7, 1001.2])


@given(
    st.floats(1.0, 100_000.0), st.floats(0.0, 0.05), st.floats(0.0, 500.0), st.floats(-1.0, 1.0),
    st.floats(-1.0, 1.0), st.floats(0.1, 50.0), st.integers(1, 4),
)
def test_quotes_are_never_crossed_and_sit_on_the_tick_grid(mid, vol, atr, inventory, signal, spread_bps, levels):
    q = _quoter(spread_bps=spread_bps, inventory_skew_factor=2.0, bias_strength=1.0, num_levels=levels)
    quote = q.quote(QuoteInputs(mid=mid, vol=vol, atr=atr, inventory=inventory, signal=signal))
    assert quote.asks and quote.asks[0].price > (quote.bids[0].price if quote.bids else 0.0)
    for level in quote.levels():
        assert abs(level.price / 0.01 - round(level.price / 0.01)) < 1e-6
        assert level.price > 0
    assert [lv.price for lv in quote.bids] == sorted((lv.price for lv in quote.bids), reverse=True)
    assert [lv.price for lv in quote.asks] == sorted(lv.price for lv in quote.asks)


def test_invalid_params_name_the_key():
    from botmm.config import InvalidValue

    with pytest.raises(InvalidValue, match="spread_bps=-1"):
        AvellanedaParams(name="avellaneda", spread_bps=-1)
    with pytest.raises(InvalidValue, match="num_levels=0"):
        AvellanedaParams(name="avellaneda", num_levels=0)
