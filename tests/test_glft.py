import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.model import Market
from botmm.plugins.quoters.glft import ArrivalEstimator, GLFTParams, GLFTQuoter, glft_depths
from botmm.protocols import QuoteInputs


def test_closed_form_matches_hand_computed_values():
    half, skew = glft_depths(gamma=0.1, a=1.0, kappa=0.3, sigma_bps=8.0)
    # c1 = ln(4/3)/0.1 = 2.87682; c2 = sqrt(0.1/0.6 * (4/3)**4) = 0.725775
    assert half == pytest.approx(2.87682 + 4 * 0.725775, rel=1e-5)
    assert skew == pytest.approx(8 * 0.725775, rel=1e-5)


def test_more_risk_aversion_or_volatility_means_more_skew():
    base = glft_depths(0.1, 1.0, 0.3, 8.0)
    assert glft_depths(0.5, 1.0, 0.3, 8.0)[1] > base[1]
    assert glft_depths(0.1, 1.0, 0.3, 16.0)[1] == pytest.approx(2 * base[1])
    assert glft_depths(0.1, 1.0, 1.0, 8.0)[0] < base[0]  # steeper arrival decay (larger kappa) -> tighter


def test_estimator_recovers_kappa_and_a_from_exponential_excursions():
    rng = random.Random(5)
    est = ArrivalEstimator(GLFTParams(name="glft", halflife=3000, refit_every=50, depth_step_bps=1.0))
    mid = 1000.0
    for _ in range(20_000):  # P(excursion >= d bps) = exp(-0.4 d): A = 1, kappa = 0.4 per bp
        up, down = rng.expovariate(0.4), rng.expovariate(0.4)
        est.observe(mid, mid * (1 + up * 1e-4), mid * (1 - down * 1e-4))
    assert est.kappa == pytest.approx(0.4, rel=0.1)
    assert est.a == pytest.approx(1.0, rel=0.25)


def _quote(position):
    q = GLFTQuoter(GLFTParams(name="glft", spread_bps=0.1, order_size_usd=100.0), tick=0.01, lot=0.001)
    market = Market(0, 1000.0, 1000.0, 1000.0, 1000.5, 999.5, 1000.0, 1.0)
    return q.quote(QuoteInputs(mid=1000.0, vol=0.0008, position=position, market=market))


def test_long_inventory_lowers_both_quotes_and_quotes_straddle_mid():
    flat, long, short = _quote(0.0), _quote(0.2), _quote(-0.2)
    assert long.bids[0].price < flat.bids[0].price and long.asks[0].price < flat.asks[0].price
    assert short.bids[0].price > flat.bids[0].price and short.asks[0].price > flat.asks[0].price
    assert flat.bids[0].price < 1000.0 < flat.asks[0].price
    half = (flat.asks[0].price - flat.bids[0].price) / 2 / 1000 * 1e4
    expected, _ = glft_depths(0.1, 1.0, 0.3, 8.0)
    assert half == pytest.approx(expected, abs=0.2)  # initial A and kappa, rounded to the tick
    assert not math.isnan(half)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=1, max_size=60))
def test_estimator_frequencies_equal_the_array_formula_bit_for_bit(excursions):
    """The per-tick update on Python floats gives exactly what the numpy expression of the model gives."""
    p = GLFTParams(name="glft", halflife=7, refit_every=10_000)
    est = ArrivalEstimator(p)
    depths, freq, alpha = est.depths, np.zeros(p.depth_levels), est.alpha
    mid = 1000.0
    est.observe(mid, mid, mid)
    for up, down in excursions:
        est.observe(mid, mid * (1 + up * 1e-4), mid * (1 - down * 1e-4))
        up_bps, down_bps = (mid * (1 + up * 1e-4) - mid) / mid * 1e4, (mid - mid * (1 - down * 1e-4)) / mid * 1e4
        freq += alpha * (0.5 * ((depths <= up_bps).astype(float) + (depths <= down_bps)) - freq)
    assert [f.hex() for f in est.freq] == [float(f).hex() for f in freq]
