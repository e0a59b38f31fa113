"""Ruin is a risk state: equity at or below zero, or ``risk.max_drawdown_pct`` below its running peak, stops quoting
for good (until an operator resets), ends a backtest with ``stopped`` in ``result.json``, and sweeps list such a job
as stopped, after every job that ran to the end."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pcsv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from conftest import shared_file
from jobs import backtest_strategy
from jobs import cli as botmm
from omegaconf import OmegaConf

from botmm.config import RiskLimits, to_params
from botmm.core.risk import RiskManager
from botmm.errors import ConfigError
from botmm.model import RiskState

FTX = "candles/ftx_btc-perp_20211231-20220201_1m.csv"


def _check(risk: RiskManager, equity: float, t: int = 0) -> RiskState:
    return risk.check(t * 60_000, 100.0, 0.0, equity, t * 60_000)


def test_drawdown_from_the_running_peak_stops_for_good_until_reset() -> None:
    risk = RiskManager(RiskLimits(max_daily_loss_pct=100.0), 1000.0)
    assert _check(risk, 1200.0, 1) is RiskState.SAFE  # the peak rises to 1200
    assert _check(risk, 600.01, 2) is RiskState.SAFE  # 49.999 % below it
    assert _check(risk, 600.0, 3) is RiskState.CIRCUIT_BREAK
    assert risk.stopped == risk.reason == ("ruin: equity 600.00 is 50.00% below its peak 1200.00 "
                                           "(risk.max_drawdown_pct=50)")
    assert _check(risk, 5000.0, 4) is RiskState.CIRCUIT_BREAK  # recovering does not resume quoting
    risk.reset()  # the operator's decision
    assert _check(risk, 5000.0, 5) is RiskState.SAFE and risk.stopped == ""
    assert _check(risk, 2499.0, 6) is RiskState.CIRCUIT_BREAK  # the peak is measured afresh: 5000


def test_equity_at_zero_stops_even_with_no_drawdown_limit() -> None:
    risk = RiskManager(RiskLimits(max_daily_loss_pct=100.0, max_drawdown_pct=100.0), 1000.0)
    assert _check(risk, 0.01) is RiskState.SAFE
    assert _check(risk, 0.0, 1) is RiskState.CIRCUIT_BREAK and risk.stopped == "ruin: equity 0.00 <= 0"


@pytest.mark.parametrize("value", [0.0, -5.0, 100.5])
def test_a_drawdown_limit_outside_0_100_is_refused(value: float) -> None:
    with pytest.raises(ConfigError, match=rf"^risk\.max_drawdown_pct={value}: must be in \(0, 100\]$"):
        to_params(RiskLimits, OmegaConf.create({"max_drawdown_pct": value}), "risk")


@given(st.lists(st.floats(-2000.0, 5000.0), min_size=1, max_size=40), st.floats(1.0, 100.0))
def test_stopped_exactly_from_the_first_mark_at_or_below_the_floor(path: list[float], pct: float) -> None:
    capital = 1000.0
    risk = RiskManager(RiskLimits(max_daily_loss_pct=100.0, max_drawdown_pct=pct), capital)
    peak, ruined = capital, False
    for t, equity in enumerate(path):
        peak = max(peak, equity)
        ruined = ruined or equity <= 0 or equity <= peak * (1 - pct / 100)
        state = _check(risk, equity, t)
        assert bool(risk.stopped) == ruined
        assert state is RiskState.CIRCUIT_BREAK or not ruined  # (the day's loss may break the circuit on its own)


def test_a_sweep_lists_a_stopped_job_after_the_ones_that_ran_to_the_end(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "-m", "backtest", "risk.max_drawdown_pct=1,50", "feed.bars=3000", "capital=2000")
    assert proc.returncode == 0, proc.stderr
    (sweep,) = (tmp_path / "multirun" / "backtest").iterdir()
    rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    assert [(r["overrides"].split()[0], r["status"], r["rank"]) for r in rows] == [
        ("risk.max_drawdown_pct=50", "ok", 1), ("risk.max_drawdown_pct=1", "stopped", 2)]
    stopped = json.loads((sweep / "0" / "result.json").read_text())
    assert stopped["stopped"].startswith("ruin:") and stopped["ticks"] < 3000
    assert rows[1]["pnl"] == stopped["pnl"]


def test_the_ftx_month_tiled_into_a_year_stops_at_the_drawdown_limit(tmp_path: Path) -> None:
    """The issue's run: the real FTX month repeated twelve times (each copy continuing the last one's price) on
    10,000 of capital. It used to quote on for 137 days after equity went negative; now it stops at 50 %."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from botmm.data.candles import read_candles

    month = read_candles(shared_file(FTX), volume_unit="quote")
    span = int(month.ts[-1] - month.ts[0]) + 60_000
    scale = np.cumprod([1.0] + [month.close[-1] / month.open[0]] * 11)
    tiles = {name: np.concatenate([getattr(month, name) * (scale[i] if name != "volume" else 1.0)
                                   for i in range(12)]) for name in ("open", "high", "low", "close", "volume")}
    tiles["ts"] = np.concatenate([month.ts + i * span for i in range(12)])
    year = tmp_path / "ftx_year.parquet"
    pq.write_table(pa.table(tiles), year)
    strategy = backtest_strategy(tmp_path / "out", "feed=candles_file", f"feed.path={year}", "asset=btc")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["stopped"].startswith("ruin: equity ") and "(risk.max_drawdown_pct=50)" in result["stopped"]
    assert result["ticks"] < 12 * len(month) // 2  # well before the year's end
    assert result["pnl"] > -5_100 and min(strategy.metrics.equity) > 0  # never near zero, let alone below
    assert result["max_drawdown_pct"] == pytest.approx(50.0, abs=0.5)
    equity = strategy.metrics.equity
    peak = max(max(equity), 10_000.0)
    assert min(equity[:-1]) > peak / 2 >= equity[-1]  # it quoted until the tick that crossed the limit, no further
    assert strategy.venue.get_open_orders() == []
