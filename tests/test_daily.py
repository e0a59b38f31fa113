"""Daily figures: MetricsTracker on known values, the daily_stats files every job writes, the 00:00 UTC report of
live runs, and ``botmm run duration=...`` leaving a log file and daily stats in its output dir."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from botmm.core.daily_metrics import DAY_MS, DAY_S, MetricsTracker
from botmm.runners.daily_report import daily_reports
from botmm.core.metrics import MIN_DAYS
from botmm.model import Fill, Side
from botmm.registry import hookimpl, load_plugins
from jobs import backtest_strategy

D0 = 20_114  # 2025-01-26, in days since the epoch
HOUR_MS = 3_600_000


def _at(day: int, hour: float) -> int:
    return int((D0 + day) * DAY_MS + hour * HOUR_MS)


@pytest.fixture
def tracker() -> MetricsTracker:
    t = MetricsTracker(1000.0)
    t.record_equity(np.array([_at(0, 0), _at(0, 6), _at(0, 12), _at(0, 23)]), np.array([1000.0, 1010, 1005, 1020]))
    t.record_equity(np.array([_at(1, 1), _at(1, 8)]), np.array([1015.0, 990]))
    t.record_equity(_at(1, 20), 1000.0)  # one mark at a time works too
    t.record_equity(np.array([_at(2, 3)]), np.array([1030.0]))
    t.record_fill(Fill(_at(0, 7), 1, Side.BUY, 3000.0, 0.1, 0.03, True))
    t.record_fill(Fill(_at(0, 9), 2, Side.SELL, 3010.0, 0.1, -0.01, False))
    t.record_fill(Fill(_at(2, 4), 3, Side.SELL, 2990.0, 0.2, 0.05, True))
    return t


def test_daily_stats_of_each_day(tracker: MetricsTracker) -> None:
    first, second, third = tracker.days()
    assert first == {"date": "2025-01-26", "start_equity": 1000.0, "end_equity": 1020.0, "pnl": 20.0,
                     "return_pct": 2.0, "max_drawdown": 5.0, "max_drawdown_pct": round(500 / 1010, 6),
                     "fills": 2, "buys": 1, "sells": 1, "maker_fills": 1, "volume": 601.0, "fees": 0.02,
                     "sharpe": None}
    assert second["start_equity"] == 1020.0 and second["pnl"] == -20.0
    assert second["max_drawdown"] == 30.0  # from the day's opening equity, 1020, down to 990
    assert second["max_drawdown_pct"] == round(3000 / 1020, 6)
    assert second["sharpe"] is None  # fewer than MIN_DAYS daily returns
    assert third["pnl"] == 30.0 and third["return_pct"] == 3.0 and third["fills"] == 1 and third["volume"] == 598.0
    assert tracker.daily_stats() == third and tracker.daily_stats("2025-01-27") == second
    assert tracker.dates == ["2025-01-26", "2025-01-27", "2025-01-28"]


def test_a_day_without_data_is_flat(tracker: MetricsTracker) -> None:
    quiet = tracker.daily_stats(D0 + 5)
    assert (quiet["date"], quiet["start_equity"], quiet["end_equity"], quiet["pnl"], quiet["fills"]) == (
        "2025-01-31", 1030.0, 1030.0, 0.0, 0)


def test_cumulative_stats(tracker: MetricsTracker) -> None:
    total = tracker.cumulative_stats()
    assert total == {"first_date": "2025-01-26", "last_date": "2025-01-28", "days": 3, "profitable_days": 2,
                     "start_equity": 1000.0, "end_equity": 1030.0, "pnl": 30.0, "return_pct": 3.0,
                     "sharpe": None, "max_drawdown": 30.0, "max_drawdown_pct": round(3000 / 1020, 6), "fills": 3,
                     "volume": 1199.0, "fees": 0.07}


def test_sharpe_on_capital_stays_defined_below_zero_equity() -> None:
    """Nine days losing 300 a day on 1000 of capital: equity falls below zero on the fifth day; each day's return is
    its pnl over the capital, so the running Sharpe starts at MIN_DAYS days and a losing day never counts as
    profitable."""
    t = MetricsTracker(1000.0)
    pnl = [-300.0, -300.0, 50.0, -300.0, -300.0, -300.0, -300.0, -290.0, -310.0]
    t.record_equity(np.array([_at(day, 12) for day in range(len(pnl))]), 1000.0 + np.cumsum(pnl))
    days = t.days()
    assert [d["sharpe"] for d in days[:MIN_DAYS - 1]] == [None] * (MIN_DAYS - 1)
    returns = np.array(pnl) / 1000.0
    assert days[-1]["sharpe"] == round(returns.mean() / returns.std(ddof=1) * math.sqrt(365), 6)
    total = t.cumulative_stats()
    assert total["profitable_days"] == 1 and total["end_equity"] == -1_350.0
    assert total["sharpe"] == days[-1]["sharpe"]


def test_every_backtest_writes_daily_stats_that_agree_with_its_result(tmp_path: Path) -> None:
    strategy = backtest_strategy(tmp_path, "feed.bars=4320")  # three days of 1-minute bars
    result = strategy.outcome
    written = json.loads((tmp_path / "daily_stats.json").read_text())
    days, total = written["days"], written["cumulative"]
    ts = np.asarray(strategy.metrics.ts)
    assert written["symbol"] == "ETH" and len(days) == len(np.unique(ts // DAY_MS)) >= 3
    assert total["pnl"] == pytest.approx(result["pnl"], abs=1e-6)
    assert total["fills"] == result["fills"] == sum(d["fills"] for d in days)
    assert total["max_drawdown"] == pytest.approx(result["max_drawdown"], abs=1e-6)
    assert sum(d["pnl"] for d in days) == pytest.approx(result["pnl"], abs=1e-5)
    with (tmp_path / "daily_stats.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["date"] for r in rows] == [d["date"] for d in days]
    assert [float(r["pnl"]) for r in rows] == [d["pnl"] for d in days]


def test_live_runs_report_the_day_that_ended_at_midnight(tmp_path: Path) -> None:
    strategy = backtest_strategy(tmp_path, "feed.bars=4320")
    day = int(np.asarray(strategy.metrics.ts)[0] // DAY_MS) + 1  # a whole day of the data
    sent: list[tuple[str, dict]] = []

    class Listener:  # hears the strategy's events as any notifier plugin does
        @hookimpl
        def botmm_event(self, run, event: str, data: dict) -> None:
            if run is strategy.run:
                sent.append((event, data))

    listener = Listener()
    load_plugins().register(listener)
    (tmp_path / "daily_stats.json").unlink()
    started = time.monotonic()
    midnight = (day + 1) * DAY_S

    def clock() -> float:  # 0.2 s before the end of that day, then running
        return midnight - 0.2 + (time.monotonic() - started)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(daily_reports([strategy], stop, clock))
        while not sent and time.monotonic() - started < 5:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 2)

    try:
        asyncio.run(main())
    finally:
        load_plugins().unregister(listener)
    (event, stats), = sent
    expected = MetricsTracker.from_outputs(tmp_path, strategy.capital).daily_stats(day)
    assert event == "daily_report" and stats == expected and stats["fills"] > 0
    assert json.loads((tmp_path / "daily_stats.json").read_text())["days"][1] == expected
    assert 1.1 <= time.monotonic() - started < 3  # sent a second after midnight


def test_botmm_run_writes_a_log_file_and_daily_stats(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="250", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-c", "from botmm.cli import main; main()", "run", "duration=3s",
                           f"hydra.run.dir={tmp_path / 'job'}"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "botmm run ETH" in proc.stdout  # the summary still prints
    job = tmp_path / "job"
    lines = (job / "botmm.log").read_text().splitlines()
    assert any("run started" in line for line in lines) and any("run ended" in line for line in lines)
    assert all(re.match(r"\S+ \S+ \w+ +ETH \S+: ", line) for line in lines), lines
    daily = json.loads((job / "daily_stats.json").read_text())
    result = json.loads((job / "result.json").read_text())
    (today,) = daily["days"]
    assert today["fills"] == result["fills"] and daily["cumulative"]["pnl"] == pytest.approx(result["pnl"])
    assert (job / "daily_stats.csv").read_text().startswith("date,start_equity,end_equity,pnl,")


def test_fills_as_columns_count_as_the_same_fills_one_by_one() -> None:
    fills = [Fill(_at(day, hour), i, Side.BUY if i % 3 else Side.SELL, 3000.0 + i, 0.1 * (i % 4 + 1),
                  0.01 * (i % 5 - 1), i % 2 == 0) for i, (day, hour) in enumerate((d, h) for d in (0, 0, 1, 3)
                                                                                   for h in (1.0, 7.5, 23.9))]
    one_by_one, columns = MetricsTracker(1000.0), MetricsTracker(1000.0)
    for fill in fills:
        one_by_one.record_fill(fill)
    columns.record_fills({name: np.array([getattr(f, name) for f in fills])
                          for name in ("ts", "side", "price", "size", "fee", "maker")})
    assert columns.days() == one_by_one.days() and len(columns.days()) == 3
    assert columns.cumulative_stats() == one_by_one.cumulative_stats()
