"""The live daily report: at every 00:00 UTC, the ``daily_report`` event for the UTC day that ended (its figures from
:class:`~botmm.core.daily_metrics.MetricsTracker`), and the run's ``daily_stats`` files rewritten."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from botmm.core.daily_metrics import DAY_S, MetricsTracker

REPORT_DELAY_S = 1.0  # the daily report goes out this long after 00:00 UTC


class DailyReporter:
    """Feeds a live strategy's marks and fills into a tracker and reports finished days."""

    def __init__(self, strategy: Any):
        self.strategy = strategy
        self.tracker = MetricsTracker(float(strategy.capital))
        self._ticks = 0
        self._fills = 0

    def update(self) -> None:
        """Take in the marks and fills the strategy recorded since the last call."""
        metrics = self.strategy.metrics
        end = min(len(metrics.ts), len(metrics.equity))
        if end > self._ticks:
            self.tracker.record_equity(np.asarray(metrics.ts[self._ticks:end], dtype=np.int64),
                                       np.asarray(metrics.equity[self._ticks:end], dtype=float))
            self._ticks = end
        fills = metrics.fills[self._fills:]
        for fill in fills:
            self.tracker.record_fill(fill)
        self._fills += len(fills)

    def report(self, day: int) -> dict[str, Any]:
        """Send the ``daily_report`` event of UTC day ``day`` (days since the epoch), rewrite the daily_stats files;
        the day's figures."""
        self.update()
        stats = self.tracker.daily_stats(day)
        run = self.strategy.run
        self.tracker.write(Path(run.output_dir), run.symbol)
        self.strategy.event("daily_report", **stats)
        return stats


async def daily_reports(strategies: Sequence[Any], stop: asyncio.Event,
                        clock: Callable[[], float] = time.time) -> None:
    """Until ``stop``: at every 00:00 UTC (by ``clock``) report the day that ended for each strategy. The live
    runner starts it as a task beside its tickers."""
    reporters = [DailyReporter(s) for s in strategies]
    while not stop.is_set():
        now = clock()
        ended = int(now // DAY_S)
        try:  # a second past midnight, so the day's last tick has landed
            await asyncio.wait_for(stop.wait(), (ended + 1) * DAY_S - now + REPORT_DELAY_S)
            return
        except TimeoutError:
            pass
        for reporter in reporters:
            await asyncio.to_thread(reporter.report, ended)
