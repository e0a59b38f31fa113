import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.data.synthetic import BLOCK_BARS, SyntheticParams, iter_synthetic, synthetic_candles
from botmm.errors import ConfigError
from botmm.model import CANDLE_ARRAYS, Candles

N = 45_000
MINUTES_PER_YEAR = 365 * 1440


@pytest.fixture(scope="module")
def candles() -> Candles:
    return synthetic_candles(SyntheticParams(), N)


def assert_same(a: Candles, b: Candles) -> None:
    assert a.bar_ms == b.bar_ms
    for name in CANDLE_ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def assert_valid(c: Candles) -> None:
    assert np.all(c.low <= np.minimum(c.open, c.close))
    assert np.all(np.maximum(c.open, c.close) <= c.high)
    assert np.all(c.low > 0)
    assert np.all(c.bid < c.ask)
    assert np.all(c.volume > 0)
    np.testing.assert_array_equal(c.open[1:], c.close[:-1])
    np.testing.assert_array_equal(np.diff(c.ts), c.bar_ms)


def rolling_vols(close: np.ndarray, window: int = 60) -> np.ndarray:
    """Realised vol of consecutive non-overlapping windows of one-bar log returns."""
    r = np.diff(np.log(close))
    r = r[: len(r) // window * window].reshape(-1, window)
    return np.sqrt((r**2).mean(axis=1))


def test_layout_and_first_bar(candles: Candles) -> None:
    assert len(candles) == N
    assert candles.bar_ms == 60_000
    assert candles.ts.dtype == np.int64
    assert all(getattr(candles, name).dtype == np.float64 for name in CANDLE_ARRAYS[1:])
    assert candles.ts[0] == 1_704_067_200_000
    assert candles.ts[-1] == 1_704_067_200_000 + (N - 1) * 60_000
    assert candles.open[0] == 2000.0


def test_invariants_over_45k_bars(candles: Candles) -> None:
    assert_valid(candles)
    np.testing.assert_allclose(0.5 * (candles.bid + candles.ask), candles.close, rtol=1e-14)


def test_same_seed_same_candles_other_seed_differs(candles: Candles) -> None:
    assert_same(candles, synthetic_candles(SyntheticParams(seed=7), N))
    other = synthetic_candles(SyntheticParams(seed=8), N)
    assert not np.array_equal(candles.close, other.close)
    np.testing.assert_array_equal(candles.ts, other.ts)


def test_prefix_of_longer_stream_is_the_shorter_stream(candles: Candles) -> None:
    assert_same(synthetic_candles(SyntheticParams(), 1000), candles.slice(0, 1000))


def test_long_run_vol_and_spread_match_the_documented_model() -> None:
    c = synthetic_candles(SyntheticParams(), 200_000)
    vol = np.diff(np.log(c.close)).std() * np.sqrt(MINUTES_PER_YEAR)
    assert 0.45 < vol < 0.8
    spread_bps = (c.ask - c.bid) / c.close * 1e4
    assert spread_bps.mean() == pytest.approx(1.0, rel=0.1)
    wide = synthetic_candles(SyntheticParams(mean_spread_bps=5.0), 200_000)
    assert ((wide.ask - wide.bid) / wide.close * 1e4).mean() == pytest.approx(5.0, rel=0.1)


def test_regimes_switch(candles: Candles) -> None:
    vols = rolling_vols(candles.close)
    calm, stormy = np.percentile(vols, [5, 95])
    assert stormy / calm > 2.5
    # Hour-long stretches around stormy-level vol exist and are far rarer than calm ones (8 % vs 25 % of time).
    per_bar = np.array([0.35, 0.55, 1.30]) / np.sqrt(MINUTES_PER_YEAR)
    assert 0.02 < np.mean(vols > per_bar[2] * 0.8) < 0.2
    assert np.mean(vols < per_bar[0] * 1.1) > 0.1
    # Without distinct regimes the same statistic stays near the sampling noise of one regime.
    flat = synthetic_candles(SyntheticParams(regime_vol=(0.55, 0.55, 0.55)), N)
    lo, hi = np.percentile(rolling_vols(flat.close), [5, 95])
    assert hi / lo < 1.8


def test_spread_and_volume_rise_in_stormy_stretches(candles: Candles) -> None:
    vols = rolling_vols(candles.close)
    windows = len(vols)
    spread = ((candles.ask - candles.bid) / candles.close)[1 : windows * 60 + 1].reshape(windows, 60).mean(axis=1)
    volume = candles.volume[1 : windows * 60 + 1].reshape(windows, 60).mean(axis=1)
    stormy = vols > np.percentile(vols, 90)
    calm = vols < np.percentile(vols, 30)
    assert spread[stormy].mean() > 1.5 * spread[calm].mean()
    assert volume[stormy].mean() > 2 * volume[calm].mean()


@pytest.mark.parametrize("batch", [1, 7, 999, BLOCK_BARS, 10_000, 100_000])
def test_batches_concatenate_to_the_same_stream(batch: int) -> None:
    n = 20_000 if batch > 1 else 3000
    whole = synthetic_candles(SyntheticParams(), n)
    parts = list(iter_synthetic(SyntheticParams(), n, batch=batch))
    assert [len(p) for p in parts] == [min(batch, n - i) for i in range(0, n, batch)]
    joined = Candles(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in CANDLE_ARRAYS}, bar_ms=60_000)
    assert_same(joined, whole)


def test_batch_seams_are_seamless(candles: Candles) -> None:
    parts = list(iter_synthetic(SyntheticParams(), N, batch=3000))
    typical = np.median(np.abs(np.diff(np.log(candles.close))))
    for before, after in itertools.pairwise(parts):
        assert after.ts[0] == before.ts[-1] + before.bar_ms
        assert after.open[0] == before.close[-1]
        assert abs(np.log(after.close[0] / before.close[-1])) < 50 * typical


def test_infinite_stream_continues_past_n() -> None:
    first = list(itertools.islice(iter_synthetic(SyntheticParams(), None, batch=5000), 4))
    assert [len(p) for p in first] == [5000] * 4
    assert_same(first[3], synthetic_candles(SyntheticParams(), 20_000).slice(15_000, 20_000))


def test_zero_bars() -> None:
    assert len(synthetic_candles(SyntheticParams(), 0)) == 0
    assert list(iter_synthetic(SyntheticParams(), 0)) == []


def test_other_bar_length_and_start() -> None:
    c = synthetic_candles(SyntheticParams(bar_seconds=3600, start_ms=0, start_price=50.0), 500)
    assert c.bar_ms == 3_600_000
    assert c.ts[1] == 3_600_000
    assert c.open[0] == 50.0
    assert_valid(c)


@pytest.mark.parametrize(
    "change", [{"start_price": 0.0}, {"mean_spread_bps": -1.0}, {"regime_vol": (0.3, 0.5)}, {"calm_share": 1.5}]
)
def test_invalid_params_raise_config_error(change: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(change))):
        SyntheticParams(**change)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63 - 1), n=st.integers(min_value=1, max_value=3000))
def test_any_seed_gives_valid_ohlc(seed: int, n: int) -> None:
    c = synthetic_candles(SyntheticParams(seed=seed), n)
    assert len(c) == n
    assert_valid(c)


def _log_returns(c: Candles) -> np.ndarray:
    return np.diff(np.log(np.r_[c.open[0], c.close]))


@pytest.mark.parametrize("correlation", [0.0, 0.3, 0.7])
def test_assets_have_their_own_paths_with_the_stated_correlation(correlation: float) -> None:
    eth, btc = (synthetic_candles(SyntheticParams(correlation=correlation, asset=a), 40_000) for a in (1, 2))
    measured = np.corrcoef(_log_returns(eth), _log_returns(btc))[0, 1]
    assert measured == pytest.approx(correlation, abs=0.03)
    assert not np.array_equal(eth.volume, btc.volume)  # volumes and books are each asset's own too
    assert_valid(eth)
    assert_valid(btc)


def test_full_correlation_is_the_market_path_and_none_is_unchanged() -> None:
    market = synthetic_candles(SyntheticParams(), 10_000)
    assert np.array_equal(synthetic_candles(SyntheticParams(correlation=1.0, asset=9), 10_000).close, market.close)
    # an asset's own path keeps the market's variance: its regimes are the market's, its shocks a variance-keeping mix
    alone = synthetic_candles(SyntheticParams(correlation=0.5, asset=9), 40_000)
    assert np.std(_log_returns(alone)) == pytest.approx(np.std(_log_returns(synthetic_candles(SyntheticParams(),
                                                                                               40_000))), rel=0.05)


def test_the_feed_gives_each_asset_of_a_multi_asset_run_its_own_market() -> None:
    """``botmm run 'asset=[eth,btc,sol]'`` builds each asset's feed from the run config (feed=synthetic_live)."""
    from jobs import compose_job

    from botmm.config import AssetConfig, to_params
    from botmm.registry import BuildContext, build

    paths = {}
    for name in ("eth", "btc", "sol"):
        cfg = compose_job(f"asset={name}", "feed.bars=20000", name="run")
        assert cfg.feed.correlation == 0.7
        asset = to_params(AssetConfig, cfg.asset, "asset")
        feed = build("feed", cfg.feed, BuildContext(cfg=cfg, asset=asset))
        paths[name] = np.concatenate([_log_returns(batch) for batch in feed.batches()])
    for a, b in itertools.combinations(paths, 2):
        assert np.corrcoef(paths[a], paths[b])[0, 1] == pytest.approx(0.7, abs=0.04), (a, b)


def test_correlation_outside_0_1_is_refused() -> None:
    with pytest.raises(ConfigError, match="synthetic.correlation must be in"):
        SyntheticParams(correlation=1.5)
