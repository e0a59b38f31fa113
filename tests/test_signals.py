import math
import random

import pytest

from botmm.model import Book, Fill, Market, Side
from botmm.plugins.signals.book_imbalance import BookImbalance, BookImbalanceParams
from botmm.plugins.signals.kalman_qqe import KalmanQQE, KalmanQQEParams
from botmm.plugins.signals.toxicity import Toxicity, ToxicityParams
from botmm.plugins.signals.volatility import Volatility, VolatilityParams


def bar(close, ts=0, high=None, low=None, bid_size=0.0, ask_size=0.0, book=None):
    high = close if high is None else high
    low = close if low is None else low
    return Market(ts, close, close, close, high, low, close, 1.0, bid_size, ask_size, book)


def test_volatility_tracks_ewma_of_log_returns_and_atr():
    vol = Volatility(VolatilityParams(name="volatility", halflife=1e9, initial_vol=0.0))
    vol.alpha = 0.5  # a short memory makes the arithmetic visible
    vol.update(bar(100.0, high=101, low=99))
    assert vol.atr == pytest.approx(2.0)
    value = vol.update(bar(110.0, high=111, low=100))
    r = math.log(110 / 100)
    assert value == pytest.approx(math.sqrt(0.5 * r * r))
    assert vol.atr == pytest.approx(2.0 + 0.5 * (11.0 - 2.0))  # true range max(111,100)-min(100,100)


def test_book_imbalance_uses_the_book_then_top_sizes_and_stays_in_range():
    sig = BookImbalance(BookImbalanceParams(name="book_imbalance", levels=2, halflife=1e-9))
    book = Book(bids=[(99.0, 3.0), (98.0, 1.0), (97.0, 100.0)], asks=[(101.0, 1.0), (102.0, 1.0)])
    assert sig.update(bar(100.0, book=book)) == pytest.approx((4 - 2) / 6)  # only 2 levels count
    assert sig.update(bar(100.0, bid_size=1.0, ask_size=3.0)) == pytest.approx(-0.5)
    assert sig.update(bar(100.0)) == pytest.approx(-0.5)  # no data: the last value holds
    smooth = BookImbalance(BookImbalanceParams(name="book_imbalance", halflife=5))
    values = [smooth.update(bar(100.0, bid_size=10.0, ask_size=0.0)) for _ in range(50)]
    assert values == sorted(values) and 0 < values[0] < values[-1] <= 1.0


def test_toxicity_rises_after_adverse_fills_and_falls_after_good_ones():
    tox = Toxicity(ToxicityParams(name="toxicity", horizon_seconds=60, scale_bps=10, halflife=2))
    for i in range(10):  # buys that the market keeps falling through: 20 bps adverse each
        tox.on_fill(Fill(i * 120_000, i, Side.BUY, 100.0, 1.0, 0.0))
        assert tox.update(bar(99.8, ts=i * 120_000 + 30_000)) == tox.value  # not yet at the horizon
        tox.update(bar(99.8, ts=i * 120_000 + 60_000))
    high = tox.value
    assert 0.9 < high <= 1.0
    for i in range(10, 20):  # sells after which the price falls: favourable, scored 0
        tox.on_fill(Fill(i * 120_000, i, Side.SELL, 100.0, 1.0, 0.0))
        tox.update(bar(99.5, ts=i * 120_000 + 60_000))
    assert tox.value < 0.05 < high


def test_kalman_qqe_votes_with_a_clear_trend_and_abstains_when_flat():
    def run(prices):
        sig = KalmanQQE(KalmanQQEParams(name="kalman_qqe"))
        return [sig.update(bar(p)) for p in prices]

    up = run([100 * 1.0005**i + 0.02 * math.sin(i) for i in range(200)])
    down = run([100 * 0.9995**i + 0.02 * math.sin(i) for i in range(200)])
    noise = random.Random(3)
    flat = run([100 + noise.gauss(0, 0.05) for _ in range(200)])
    assert up[-1] == 1.0 and sum(v == 1.0 for v in up[50:]) > 120
    assert down[-1] == -1.0 and sum(v == -1.0 for v in down[50:]) > 120
    assert set(up) <= {-1.0, 0.0, 1.0}
    assert sum(v != 0 for v in flat[50:]) < 20  # white noise around a level: mostly no vote
