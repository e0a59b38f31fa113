import math

import numpy as np
import pytest
from jobs import backtest_strategy

from botmm.core.metrics import MetricsRecorder, figures, split_index
from botmm.model import Fill, Side

DAY = 86_400_000


def _recorder(equities, per_day=4, position=0.0, mid=100.0, max_position_usd=1000.0):
    rec = MetricsRecorder(equities[0], max_position_usd)
    for i, eq in enumerate(equities):
        rec.record(i * DAY // per_day, mid, position, eq, mid - 1, mid + 1, 0.0, 0.0, 0.0, 0.0)
    return rec


def test_sharpe_and_sortino_on_daily_returns():
    daily_equity = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0]
    rec = _recorder(daily_equity, per_day=1)
    out = rec.result()
    closes = [daily_equity[0], *daily_equity]  # day 0 opens at the starting equity
    returns = np.diff(closes) / np.array(closes[:-1])
    assert out["sharpe_basis"] == "daily"
    assert out["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365), rel=1e-5)
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert out["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(365), rel=1e-5)
    assert out["profitable_days_pct"] == pytest.approx(50.0)  # 3 of 6 days rose; day 0 stayed flat
    assert out["max_drawdown"] == pytest.approx(1.0) and out["max_drawdown_pct"] == pytest.approx(1 / 1.02, rel=1e-4)


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
