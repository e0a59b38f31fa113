"""Walk-forward folds: their windows, each fold's figures in result.json, and sweeps ranked on the test windows."""

from __future__ import annotations

import json
import re

import pyarrow.csv as pcsv
import pytest
from jobs import backtest_strategy, cli, last_sweep

from botmm.config import BacktestConfig, WalkForwardConfig, to_params
from botmm.core.walk_forward import fold_windows
from botmm.errors import ConfigError

H = 3_600_000


def test_rolling_and_anchored_windows_with_a_purge_gap() -> None:
    rolling = fold_windows(0, 100 * H, WalkForwardConfig(folds=3, train=0.4, test=0.1, purge="1h"))
    assert rolling == [{"train": [29 * H, 69 * H], "test": [70 * H, 80 * H]},
                       {"train": [39 * H, 79 * H], "test": [80 * H, 90 * H]},
                       {"train": [49 * H, 89 * H], "test": [90 * H, 100 * H + 1]}]
    anchored = fold_windows(0, 100 * H, WalkForwardConfig(folds=2, anchored=True, test=0.25))
    assert anchored == [{"train": [0, 50 * H], "test": [50 * H, 75 * H]},
                        {"train": [0, 75 * H], "test": [75 * H, 100 * H + 1]}]


@pytest.mark.parametrize("node, message", [
    ({"folds": 5, "test": 0.3}, "backtest.walk_forward.test=0.3: must be in (0, 1) with folds * test < 1"),
    ({"folds": 4, "train": 0.8, "test": 0.1}, "backtest.walk_forward.train=0.8: must be > 0 with train + folds"),
    ({"folds": 2, "purge": "soon"}, "backtest.walk_forward.purge=soon: expected a duration"),
])
def test_bad_fold_settings_are_refused_in_one_line(node, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        to_params(BacktestConfig, {"walk_forward": node}, "backtest")


def test_each_fold_has_train_and_test_figures_that_add_up(tmp_path) -> None:
    strategy = backtest_strategy(tmp_path, "feed.bars=3000", "backtest.walk_forward.folds=3",
                                 "backtest.walk_forward.test=0.2", "backtest.walk_forward.train=0.3")
    result = json.loads((tmp_path / "result.json").read_text())
    folds = result["folds"]
    assert len(folds) == 3 and result["start_ms"] <= folds[0]["window_ms"]["train"][0]
    ts, equity = strategy.metrics.ts, strategy.metrics.equity
    for fold in folds:
        for part in ("train", "test"):  # a window's pnl is equity at its last tick minus equity before its first
            lo, hi = fold["window_ms"][part]
            inside = [i for i, t in enumerate(ts) if lo <= t < hi]
            assert fold[part]["pnl"] == pytest.approx(equity[inside[-1]] - equity[inside[0] - 1], abs=1e-4)
    # the test windows are the last 60% of the run end to end: their pnl and fills add up to that stretch's
    start = next(i for i, t in enumerate(ts) if t >= folds[0]["window_ms"]["test"][0])
    assert sum(f["test"]["pnl"] for f in folds) == pytest.approx(equity[-1] - equity[start - 1], abs=1e-4)
    after = sum(1 for f in strategy.metrics.fills if ts[start - 1] < f.ts <= ts[-1])
    assert sum(f["test"]["fills"] for f in folds) == after > 0


def test_a_sweep_ranks_by_the_mean_test_score_and_shows_its_spread(tmp_path) -> None:
    proc = cli(tmp_path, "-m", "backtest", "quoter.spread_bps=2,8", "feed.bars=3000", "backtest.walk_forward.folds=3")
    assert proc.returncode == 0, proc.stderr
    sweep = last_sweep(tmp_path)
    rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    assert [r["scored_on"] for r in rows] == ["3 folds", "3 folds"]
    for row in rows:
        result = json.loads((sweep / str(row["job"]) / "result.json").read_text())
        tests = [f["test"] for f in result["folds"]]
        scores = [(t["sharpe"] or 0.0) - 0.5 * t["max_drawdown_pct"] + 0.1 * t["return_pct"] for t in tests]  # n/a: 0
        mean = sum(scores) / 3
        assert row["score"] == pytest.approx(mean, abs=1e-5)
        assert row["score_spread"] == pytest.approx((sum((s - mean) ** 2 for s in scores) / 3) ** 0.5, abs=1e-5)
        assert row["pnl"] == pytest.approx(sum(t["pnl"] for t in tests), abs=1e-5)
    assert rows[0]["score"] > rows[1]["score"]
