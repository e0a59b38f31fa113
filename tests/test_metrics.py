import math
from datetime import date, datetime, timezone

import numpy as np
import pytest
from jobs import backtest_strategy

from botmm.core.metrics import MIN_DAYS, MetricsRecorder, figures, split_index
from botmm.model import Fill, Side

DAY = 86_400_000


def _recorder(equities, per_day=4, position=0.0, mid=100.0, max_position_usd=1000.0):
    rec = MetricsRecorder(equities[0], max_position_usd)
    for i, eq in enumerate(equities):
        rec.record(i * DAY // per_day, mid, position, eq, mid - 1, mid + 1, 0.0, 0.0, 0.0, 0.0)
    return rec


def test_sharpe_and_sortino_on_daily_returns():
    daily_equity = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0, 102.5, 104.0]
    rec = _recorder(daily_equity, per_day=1)
    out = rec.result()
    closes = [daily_equity[0], *daily_equity]  # day 0 opens at the starting equity
    returns = np.diff(closes) / 100.0  # on the starting capital
    assert out["sharpe_basis"] == "daily" and out["days"] == 8
    assert out["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365), rel=1e-5)
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert out["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(365), rel=1e-5)
    assert out["profitable_days_pct"] == pytest.approx(50.0)  # 4 of 8 days rose; day 0 stayed flat
    assert out["max_drawdown"] == pytest.approx(1.0) and out["max_drawdown_pct"] == pytest.approx(1 / 1.02, rel=1e-4)


def _independent_daily(ts_ms: list[int], equity: list[float], capital: float) -> list[float]:
    """Daily PnL over capital, by calendar dates: each date's last equity minus the previous date's."""
    closes: dict[date, float] = {}
    for t, e in zip(ts_ms, equity):
        closes[datetime.fromtimestamp(t / 1000, tz=timezone.utc).date()] = e
    values = [capital, *closes.values()]
    return [(b - a) / capital for a, b in zip(values, values[1:])]


def test_a_losing_year_keeps_its_figures_true_below_zero_equity():
    """A year that loses 160 % of its capital (equity goes negative after ~7 months) and wins 1 day in 366."""
    capital, per_day = 10_000.0, 24
    rng = np.random.default_rng(7)
    pnl = -16_051.0 / (366 * per_day) + rng.normal(0, 2.0, 366 * per_day)
    pnl[100 * per_day:101 * per_day] = 50.0  # the one profitable day
    equity = capital + np.cumsum(pnl)
    ts = [int(1_640_995_200_000 + i * DAY // per_day) for i in range(len(equity))]
    rec = MetricsRecorder(capital, 1000.0)
    for t, e in zip(ts, equity):
        rec.record(t, 100.0, 0.0, float(e), 99.0, 101.0, 0.0, 0.0, 0.0, 0.0)
    out = rec.result()
    daily = np.array(_independent_daily(ts, equity.tolist(), capital))
    assert len(daily) == out["days"] == 366
    assert out["profitable_days_pct"] == pytest.approx(100.0 * np.mean(daily > 0)) == pytest.approx(100 / 366)
    assert out["sharpe"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365), rel=1e-6)
    assert out["sortino"] == pytest.approx(daily.mean() / np.sqrt(np.mean(np.minimum(daily, 0) ** 2))
                                           * math.sqrt(365), rel=1e-6)
    assert out["sharpe"] < -10  # a steady loss is a strongly negative Sharpe, not the -0.6 of returns on equity < 0
    assert out["return_pct"] == pytest.approx(100.0 * (equity[-1] - capital) / capital, abs=1e-5)


def test_a_run_shorter_than_the_minimum_has_no_sharpe():
    """Like the quick start's 20 s run: a few ticks, a small loss, no annualised figure to show."""
    rec = MetricsRecorder(10_000.0, 1000.0)
    for i, e in enumerate(np.linspace(10_000.0, 9_999.37, 21)):
        rec.record(1_700_000_000_000 + i * 1000, 100.0, 0.0, float(e), 99.0, 101.0, 0.0, 0.0, 0.0, 0.0)
    out = rec.result()
    assert out["sharpe"] is None and out["sortino"] is None and out["days"] == 1
    assert out["sharpe_basis"] == f"n/a: 1 day(s) < {MIN_DAYS}"
    assert out["profitable_days_pct"] == 0.0 and out["pnl"] == pytest.approx(-0.63)


def test_fills_volume_turnover_fees_and_rebates():
    fills = [Fill(0, 1, Side.BUY, 100.0, 2.0, 0.05), Fill(1, 2, Side.SELL, 101.0, 1.0, -0.02)]
    out = figures(np.array([0, 1]), np.array([1000.0, 1001.0]), np.array([0.0, 100.0]), fills, 1000.0, 100.0)
    assert out["volume"] == pytest.approx(301.0) and out["turnover"] == pytest.approx(0.301)
    assert out["fees"] == pytest.approx(0.03) and out["rebates"] == pytest.approx(0.02)
    assert out["avg_inventory_usd"] == pytest.approx(50.0) and out["max_inventory_usd"] == pytest.approx(100.0)
    assert out["time_at_limit_pct"] == pytest.approx(50.0)


def test_split_by_fraction_and_by_date():
    ts = np.arange(10, dtype=np.int64) * DAY
    assert split_index(ts, 0.7) == 7
    assert split_index(ts, "1970-01-04") == 3
    assert split_index(ts, "2100-01-01") == 9  # never leaves the out-of-sample part empty


def test_in_and_out_of_sample_figures_add_up(tmp_path):
    s = backtest_strategy(tmp_path, "feed.bars=6000", "backtest.split=0.5")
    r = s.outcome
    ins, oos = r["in_sample"], r["out_of_sample"]
    assert ins["pnl"] + oos["pnl"] == pytest.approx(r["pnl"], abs=1e-4)
    assert ins["fills"] + oos["fills"] == r["fills"]
    assert ins["volume"] + oos["volume"] == pytest.approx(r["volume"], rel=1e-9)
    assert r["split_ms"] == s.metrics.ts[2999]


def test_compounding_scales_order_size_with_equity(tmp_path):
    plain = backtest_strategy(tmp_path / "a", "feed.bars=3000", "capital=10000")
    rich = backtest_strategy(tmp_path / "b", "feed.bars=3000", "capital=10000", "compound=true")
    # losses shrink equity, so compounded sizes (and volume) come out smaller, never larger
    assert plain.outcome["pnl"] < 0
    assert rich.outcome["volume"] < plain.outcome["volume"]
    sizes = [f.size * f.price for f in rich.metrics.fills]
    assert sizes[-1] < sizes[0]


def test_a_file_feed_reaches_the_venue_in_bounded_batches_with_the_same_fills(tmp_path, candles_csv, monkeypatch):
    """A candle file is handed to the venue BATCH_BARS at a time (the venue keeps one batch as Python lists), and a
    run on it equals a run on one batch: the same fills, bar for bar. fills.parquet carries the trade id column."""
    import sys

    import pyarrow.parquet as pq

    path = candles_csv(bars=2_500)
    whole = backtest_strategy(tmp_path / "whole", "feed=candles_file", f"feed.path={path}")
    monkeypatch.setattr(sys.modules[type(whole.venue.feed).__module__], "BATCH_BARS", 700)
    cut = backtest_strategy(tmp_path / "cut", "feed=candles_file", f"feed.path={path}")
    assert [len(b) for b in cut.venue.feed.batches()] == [700, 700, 700, 400]
    assert cut.metrics.fills == whole.metrics.fills and len(whole.metrics.fills) > 0
    assert list(cut.metrics.equity) == list(whole.metrics.equity)
    table = pq.read_table(tmp_path / "cut" / "fills.parquet")
    assert table.schema.field("tid").type == "int64" and table.column("tid").to_pylist() == [0] * table.num_rows


def test_an_optimiser_gets_nan_for_a_figure_that_is_not_available():
    from botmm.config import SummaryWeights
    from botmm.runners.score import objective, score

    short = {"sharpe": None, "return_pct": -1.0, "max_drawdown_pct": 2.0, "pnl": -10.0, "fills": 5}
    assert math.isnan(objective(short, SummaryWeights(objective="sharpe")))
    assert objective(short, SummaryWeights(objective="pnl")) == -10.0
    assert objective(short, SummaryWeights()) == score(short, SummaryWeights()) == pytest.approx(-0.1 - 1.0)
