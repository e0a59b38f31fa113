"""The auto-tuner: one bounded step per knob per window, hysteresis, and its effect in a backtest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from jobs import backtest_strategy
from test_mechanisms import Events, ticks

from botmm.config import to_params
from botmm.errors import ConfigError
from botmm.ml.autotune import AutoTuneParams, AutoTuner, TunedParams, WindowMetrics
from botmm.plugins.strategies.basic import BasicParams

LOSING = WindowMetrics(pnl=-5.0, sharpe=-3.0, fill_rate=20.0, inventory=0.1)
QUIET = WindowMetrics(pnl=1.0, sharpe=1.0, fill_rate=2.0, inventory=0.1)  # too few fills
BUSY = WindowMetrics(pnl=1.0, sharpe=1.0, fill_rate=80.0, inventory=0.1)  # too many fills
CALM = WindowMetrics(pnl=1.0, sharpe=1.0, fill_rate=20.0, inventory=0.1)  # inside every band


def test_losing_window_widens_spread_and_cuts_size_by_one_step() -> None:
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.1))
    assert tuner.maybe_tune(LOSING) == TunedParams(spread_mult=1.1, skew_mult=1.0, size_mult=round(1 / 1.1, 10))
    assert set(tuner.reasons) == {"spread", "size"} and "losing window" in tuner.reasons["spread"]
    assert tuner.maybe_tune(CALM) is None  # nothing asked: nothing changes


def test_fill_rate_band_and_bounds() -> None:
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.25, min_spread_mult=0.6, max_spread_mult=2.0))
    steps = [tuner.maybe_tune(QUIET) for _ in range(5)]
    assert [s.spread_mult for s in steps[:2]] == [0.8, 0.64] and steps[2].spread_mult == 0.6  # clipped at min
    assert steps[3] is None and steps[4] is None  # at the bound: no further step
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.5, max_spread_mult=2.0))
    spreads = [tuner.maybe_tune(BUSY).spread_mult for _ in range(2)]
    assert spreads == [1.5, 2.0]
    assert tuner.maybe_tune(BUSY) is None


def test_hysteresis_delays_a_reversal() -> None:
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.1, hysteresis=2))
    assert tuner.maybe_tune(BUSY).spread_mult == 1.1
    assert tuner.maybe_tune(QUIET) is None  # first window asking to tighten: held back
    assert tuner.maybe_tune(QUIET).spread_mult == 1.0  # second in a row: reversed
    assert tuner.maybe_tune(QUIET).spread_mult == round(1 / 1.1, 10)  # same direction again: immediate
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.1, hysteresis=2))
    tuner.maybe_tune(BUSY)
    assert tuner.maybe_tune(QUIET) is None
    assert tuner.maybe_tune(CALM) is None  # the streak is broken ...
    assert tuner.maybe_tune(QUIET) is None  # ... so it starts again


def test_skew_follows_inventory_and_relaxes_to_one() -> None:
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.2, max_inventory=0.5, hysteresis=1))
    heavy = WindowMetrics(pnl=1.0, sharpe=1.0, fill_rate=20.0, inventory=0.8)
    assert tuner.maybe_tune(heavy).skew_mult == 1.2
    assert tuner.maybe_tune(heavy).skew_mult == 1.44
    light = WindowMetrics(pnl=1.0, sharpe=1.0, fill_rate=20.0, inventory=0.1)
    assert tuner.maybe_tune(light).skew_mult == 1.2
    assert tuner.maybe_tune(light).skew_mult == 1.0
    assert tuner.maybe_tune(light) is None  # never below the policy's own skew


def test_winning_window_grows_size_within_its_cap() -> None:
    tuner = AutoTuner(AutoTuneParams(enabled=True, step=0.3, max_size_mult=1.5, good_sharpe=2.0))
    good = WindowMetrics(pnl=10.0, sharpe=5.0, fill_rate=20.0, inventory=0.1)
    assert [tuner.maybe_tune(good).size_mult for _ in range(2)] == [1.3, 1.5]


def test_bad_settings_are_refused_with_their_key() -> None:
    with pytest.raises(ConfigError, match=r"^strategy.auto_tune.min_spread_mult=1.5: must satisfy"):
        to_params(BasicParams, {"name": "basic", "auto_tune": {"min_spread_mult": 1.5}}, "strategy")
    with pytest.raises(ConfigError, match=r"^strategy.auto_tune.window=soon: expected a duration"):
        to_params(BasicParams, {"name": "basic", "auto_tune": {"window": "soon"}}, "strategy")


@pytest.mark.parametrize("strategy", ["basic", "adaptive"])
def test_backtest_with_auto_tune_reports_every_change_and_quotes_with_it(tmp_path: Path, strategy: str) -> None:
    with Events() as events:
        tuned = backtest_strategy(tmp_path, "feed.bars=2400", f"strategy={strategy}",
                                  "++strategy.auto_tune.enabled=true", "++strategy.auto_tune.window=2h",
                                  "++strategy.auto_tune.step=0.2")
    changes = events.named("auto_tune")
    assert 3 <= len(changes) <= 2400 // 120  # at most one change per two-hour window
    bounds = AutoTuneParams()
    for change in changes:
        assert change["reason"] and set(change["changed"]) <= {"spread_mult", "skew_mult", "size_mult"}
        for key, (before, after) in change["changed"].items():  # one step, clipped to the knob's bounds
            knob = key.removesuffix("_mult")
            low, high = getattr(bounds, f"min_{key}"), getattr(bounds, f"max_{key}")
            up, down = min(high, before * 1.2), max(1.0 if knob == "skew" else low, before / 1.2)
            assert after == pytest.approx(up) or after == pytest.approx(down), (key, before, after)
    final = tuned.policy.tuning.tuner.params
    assert final.spread_mult != 1.0 or final.size_mult != 1.0
    if strategy == "basic":  # the quoted spread follows the tuned multiplier (basic adds no other one)
        t = ticks(tmp_path)
        t = t[t.bid.notna() & t.ask.notna()]
        spread = ((t.ask - t.bid) / t.mid * 1e4).to_numpy()
        first_change_ms = t.ms.iloc[0] + 2 * 3_600_000
        before = np.median(spread[t.ms.to_numpy() < first_change_ms])
        after = np.median(spread[-200:])
        assert after == pytest.approx(before * final.spread_mult, rel=0.1)


def test_without_the_override_nothing_is_tuned(tmp_path: Path) -> None:
    with Events() as events:
        strategy = backtest_strategy(tmp_path, "feed.bars=600")
    assert strategy.policy.tuning is None and events.named("auto_tune") == []


def test_a_winning_hour_of_minute_returns_is_judged_on_its_own_basis() -> None:
    from botmm.ml.autotune import window_sharpe

    rng = np.random.default_rng(0)
    returns = rng.normal(2e-6, 1e-4, 60)  # one hour of 1-minute returns: a small gain, mostly noise
    equity = 10_000 * np.cumprod(np.concatenate([[1.0], 1 + returns]))
    step = np.diff(equity) / equity[:-1]
    annualised = step.mean() / step.std(ddof=1) * (365 * 24 * 60) ** 0.5  # the old basis: minutes in a year
    assert window_sharpe(equity) == pytest.approx(step.mean() / step.std() * 60 ** 0.5)
    assert equity[-1] > equity[0] and annualised > 2 > window_sharpe(equity)  # annualised, any winning hour is "good"
    tuner = AutoTuner(AutoTuneParams(enabled=True, good_sharpe=2.0))
    hour = WindowMetrics(pnl=equity[-1] - equity[0], sharpe=window_sharpe(equity), fill_rate=20.0, inventory=0.1)
    assert tuner.maybe_tune(hour) is None  # no size increase for noise


def test_each_change_is_logged_once(tmp_path: Path, caplog) -> None:
    with Events() as events, caplog.at_level(logging.INFO):
        backtest_strategy(tmp_path, "feed.bars=1800", "++strategy.auto_tune.enabled=true",
                          "++strategy.auto_tune.window=2h")
    lines = [r.getMessage() for r in caplog.records if "auto-tune:" in r.getMessage()]
    assert len(events.named("auto_tune")) >= 2 and len(lines) == len(events.named("auto_tune"))
