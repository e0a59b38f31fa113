import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmm.config import AssetConfig
from botmm.model import Quote, QuoteLevel, Side
from botmm.plugins.sizers.dynamic import DynamicParams, DynamicSizer
from botmm.plugins.sizers.fixed import FixedSizer
from botmm.protocols import SizeContext

ASSET = AssetConfig(symbol="T", tick_size=0.1, lot_size=0.001, min_notional=10.0)


def dynamic(**kw):
    return DynamicSizer(DynamicParams(name="dynamic", **kw), FixedSizer(ASSET))


def test_fixed_rounds_to_the_lot_and_lifts_to_the_minimum_order_value():
    sized = FixedSizer(ASSET).size(
        Quote([QuoteLevel(Side.BUY, 1000.0, 0.0123)], [QuoteLevel(Side.SELL, 1000.0, 0.0051)]), None
    )
    assert sized.bids[0].size == pytest.approx(0.012)
    assert sized.asks[0].size == pytest.approx(0.010)  # 5.1 USD lifted to the 10 USD minimum


def test_dynamic_full_size_in_good_conditions():
    s = dynamic()
    assert s.get_size(1.0, vol=0.0005, fill_rate=30, toxicity=0.0, drawdown=0.0, inventory=0.0) == 1.0


@given(st.floats(0, 0.01), st.floats(0, 100), st.floats(0, 1), st.floats(0, 0.2), st.floats(-1, 1))
def test_dynamic_size_is_bounded_and_shrinks_with_each_risk(vol, fill_rate, tox, dd, inv):
    s = dynamic()
    size = s.get_size(1.0, vol, fill_rate, tox, dd, inv)
    assert size == 0.0 or 0.2 - 1e-12 <= size <= 1.5
    worse = [
        s.get_size(1.0, vol * 2 + 0.002, fill_rate, tox, dd, inv),
        s.get_size(1.0, vol, fill_rate / 4, tox, dd, inv),
        s.get_size(1.0, vol, fill_rate, min(1.0, tox + 0.5), dd, inv),
        s.get_size(1.0, vol, fill_rate, tox, dd + 0.05, inv),
        s.get_size(1.0, vol, fill_rate, tox, dd, min(1.0, abs(inv) + 0.5)),
    ]
    assert all(w <= size + 1e-12 for w in worse)


def test_dynamic_shrinks_only_the_side_that_grows_inventory():
    s = dynamic(target_fill_rate=0)
    quote = Quote([QuoteLevel(Side.BUY, 1000.0, 0.1)], [QuoteLevel(Side.SELL, 1001.0, 0.1)])
    long = s.size(quote, SizeContext(mid=1000.5, position=0.5, equity=1e4, inventory=0.8))
    assert long.bids[0].size == pytest.approx(0.1 * (1 - 0.7 * 0.8))
    assert long.asks[0].size == pytest.approx(0.1)
    drawn = s.size(quote, SizeContext(mid=1000.5, position=0, equity=1e4, drawdown=0.2))
    assert drawn.levels() == []  # past max_drawdown: stop quoting
