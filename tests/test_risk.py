"""Risk states beyond the order manager's tests: stale data, reduce-only at the position limit, limits carried over a
restart (RiskManager.restore) and the file that keeps them (LimitsFile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jobs import compose_job

from botmm.config import RiskLimits
from botmm.core.risk import LimitsFile, RiskManager, day_name, day_number
from botmm.errors import ConfigError
from botmm.model import Quote, QuoteLevel, RiskState, Side
from botmm.pipeline import Run, Pipeline

DAY = 86_400_000

levels = st.lists(st.tuples(st.floats(90.0, 110.0), st.floats(0.01, 5.0)), max_size=4)


@given(levels, levels, st.floats(10.0, 50.0) | st.floats(-50.0, -10.0))
def test_at_the_position_limit_only_the_reducing_side_quotes_and_it_is_reduce_only(bids, asks, position):
    risk = RiskManager(RiskLimits(max_position_usd=1000.0, max_open_orders=10), capital=10_000)
    quote = Quote([QuoteLevel(Side.BUY, p, s) for p, s in bids], [QuoteLevel(Side.SELL, p, s) for p, s in asks])
    assert risk.check(0, 100.0, position, 10_000) is RiskState.POSITION_LIMIT
    allowed = risk.apply(quote, position)
    growing, reducing, wanted = ((allowed.bids, allowed.asks, quote.asks) if position > 0
                                 else (allowed.asks, allowed.bids, quote.bids))
    assert growing == []
    assert [(lv.side, lv.price, lv.size) for lv in reducing] == [(lv.side, lv.price, lv.size) for lv in wanted]
    assert all(lv.reduce_only for lv in reducing)


@given(levels, levels, st.floats(-9.0, 9.0))
def test_below_the_limit_nothing_is_reduce_only(bids, asks, position):
    risk = RiskManager(RiskLimits(max_position_usd=1000.0, max_open_orders=10, max_order_usd=150.0), capital=10_000)
    quote = Quote([QuoteLevel(Side.BUY, p, s) for p, s in bids], [QuoteLevel(Side.SELL, p, s) for p, s in asks])
    assert risk.check(0, 100.0, position, 10_000) is RiskState.SAFE
    allowed = risk.apply(quote, position)
    assert not any(lv.reduce_only for lv in allowed.levels())
    assert all(lv.size * lv.price <= 150.0 + 1e-9 for lv in allowed.levels())


def test_stale_data_is_a_circuit_break_for_as_long_as_it_lasts():
    risk = RiskManager(RiskLimits(), capital=10_000, max_data_age_ms=3000)
    assert risk.check(10_000, 100.0, 0.0, 10_000, data_ms=7_000) is RiskState.SAFE  # exactly 3 s old
    assert risk.check(10_500, 100.0, 0.0, 10_000, data_ms=7_000) is RiskState.CIRCUIT_BREAK
    assert risk.reason == "stale data: 3.5s"
    assert risk.apply(Quote([QuoteLevel(Side.BUY, 99.0, 1.0)], []), 0.0).levels() == []
    assert risk.check(11_000, 100.0, 0.0, 10_000, data_ms=10_900) is RiskState.SAFE  # fresh again: no cooldown
    never = RiskManager(RiskLimits(), capital=10_000)  # a backtest: its clock is its data
    assert never.check(10 ** 9, 100.0, 0.0, 10_000, data_ms=0) is RiskState.SAFE


def test_a_restart_carries_the_days_realised_loss_and_a_running_pause():
    limits = RiskLimits(max_daily_loss_pct=5.0)
    risk = RiskManager(limits, capital=10_000)
    risk.restore(day=20, realized=-400.0, paused_until_ms=0, reason="")
    assert risk.check(20 * DAY + 5, 100.0, 0.0, 10_000) is RiskState.SAFE  # this process opens the day at 10000
    assert risk.carried == -400.0
    assert risk.check(20 * DAY + 6, 100.0, 0.0, 9_950) is RiskState.SAFE  # 400 + 50 < 500
    assert risk.check(20 * DAY + 7, 100.0, 0.0, 9_899) is RiskState.CIRCUIT_BREAK  # 400 + 101 >= 500
    assert risk.pause == (21 * DAY, "daily loss 501.00 >= 5.0% of capital")
    other_day = RiskManager(limits, capital=10_000)
    other_day.restore(day=19, realized=-450.0, paused_until_ms=0, reason="")
    assert other_day.check(20 * DAY, 100.0, 0.0, 9_899) is RiskState.SAFE and other_day.carried == 0.0
    paused = RiskManager(limits, capital=10_000)
    paused.restore(day=20, realized=0.0, paused_until_ms=20 * DAY + 60_000, reason="5 venue errors")
    assert paused.check(20 * DAY + 59_999, 100.0, 0.0, 10_000) is RiskState.CIRCUIT_BREAK
    assert paused.reason == "5 venue errors"
    assert paused.check(20 * DAY + 60_000, 100.0, 0.0, 10_000) is RiskState.SAFE


def test_limits_file_round_trip_writes_only_changes_and_atomically(tmp_path: Path):
    path = tmp_path / "state" / "acct-ETH.json"
    keeper = LimitsFile(path)
    assert keeper.read() is None
    state = {"day": "2026-12-03", "realized": -12.5, "paused_until_ms": 0, "pause_reason": ""}
    keeper.write(state)
    first = path.stat()
    keeper.write(dict(state))  # unchanged: the file is not rewritten
    assert path.stat().st_ino == first.st_ino and path.stat().st_mtime_ns == first.st_mtime_ns
    keeper.write({**state, "realized": -20.0})
    assert path.stat().st_ino != first.st_ino  # a new file renamed over the old one
    assert [p.name for p in path.parent.iterdir()] == ["acct-ETH.json"]  # no temporary file left
    assert LimitsFile(path).read() == {**state, "realized": -20.0}
    assert day_number(day_name(20_425)) == 20_425 and day_name(0) == "1970-01-01"


@pytest.mark.parametrize("text", ['{"day": "2026-12-0', '{"day": "2026-12-03"}', "[]",
                                  '{"day": "Tuesday", "realized": 0, "paused_until_ms": 0, "pause_reason": ""}'])
def test_a_corrupt_limits_file_is_one_line_naming_it(tmp_path: Path, text: str):
    path = tmp_path / "acct-ETH.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        LimitsFile(path).read()
    assert str(error.value).startswith(f"{path}: corrupt risk state file") and "\n" not in str(error.value)
    assert json.dumps(text) not in str(error.value)


@pytest.mark.parametrize("overrides, mode, expected", [
    (["interval=1s"], "run", 3.0),
    (["interval=100ms"], "run", 0.3),
    (["interval=10s"], "run", 5.0),  # at most 5 s
    (["interval=10s", "risk.max_data_age=20s"], "run", 20.0),
    (["interval=1s"], "backtest", None),  # a backtest is never stale
])
def test_max_data_age_defaults_to_three_ticks_at_most_five_seconds(tmp_path: Path, overrides, mode, expected):
    cfg = compose_job(*overrides)
    assert Pipeline(cfg, Run(cfg, mode, "ETH", tmp_path)).max_data_age_s == pytest.approx(expected)


def test_a_bad_max_data_age_is_one_line():
    from botmm.pipeline import build_components

    with pytest.raises(ConfigError, match=r"^risk\.max_data_age=soon: must be a positive duration"):
        build_components(compose_job("risk.max_data_age=soon"))
