"""Daily figures of a job (the seed's MetricsTracker), and the ``daily_stats`` files that hold them.

:class:`MetricsTracker` takes equity marks and fills and keeps one aggregate per UTC day, so memory grows with days,
not ticks. A day's figures (:meth:`MetricsTracker.daily_stats`):

* ``start_equity`` (the previous day's close, or the capital) and ``end_equity``; ``pnl`` and ``return_pct``;
* ``max_drawdown`` / ``max_drawdown_pct``: the deepest fall within the day from the day's running peak (which starts
  at its opening equity);
* ``fills``, ``buys``, ``sells``, ``maker_fills``, ``volume`` (traded notional) and ``fees`` (net);
* ``sharpe``: mean over standard deviation of the daily returns up to and including that day, times sqrt(365);
  null until there are :data:`~botmm.core.metrics.MIN_DAYS` of them. A daily return is the day's PnL over the
  job's capital (as in ``result.json``), so it stays defined when equity falls to zero or below.

:meth:`MetricsTracker.cumulative_stats` sums the whole job, with the all-time drawdown, the Sharpe of every
daily return and ``profitable_days``, the days with a positive PnL.

:mod:`botmm.core.daily_stats` writes these figures at the end of every job that traded, and
:mod:`botmm.runners.daily_report` reports each finished day of a live run at 00:00 UTC.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from botmm.core.metrics import annualised, column_numpy
from botmm.model import Fill

DAY_MS = 86_400_000
DAY_S = 86_400
DAY_COLUMNS = ("date", "start_equity", "end_equity", "pnl", "return_pct", "max_drawdown", "max_drawdown_pct",
               "fills", "buys", "sells", "maker_fills", "volume", "fees", "sharpe")


@dataclass
class _Day:
    start_equity: float
    end_equity: float
    peak: float
    max_drawdown: float = 0.0
    max_drawdown_pct: float = 0.0
    fills: int = 0
    buys: int = 0
    sells: int = 0
    maker_fills: int = 0
    volume: float = 0.0
    fees: float = 0.0


def _day_number(day: str | date | int) -> int:
    if isinstance(day, int):
        return day
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return (day - date(1970, 1, 1)).days


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, tz=timezone.utc).date().isoformat()


def _sharpe(returns: Sequence[float]) -> Optional[float]:
    sharpe, _ = annualised(np.asarray(returns, dtype=float))
    return None if sharpe is None else round(sharpe, 6)


class MetricsTracker:
    """Per-UTC-day aggregates of equity marks and fills (see the module docstring)."""

    def __init__(self, capital: float):
        self.capital = capital
        self._days: dict[int, _Day] = {}
        self._last_equity = capital
        self._peak = capital
        self.max_drawdown = 0.0
        self.max_drawdown_pct = 0.0

    def _day(self, day: int) -> _Day:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = _Day(self._last_equity, self._last_equity, self._last_equity)
        return found

    def record_equity(self, ts_ms: int | np.ndarray, equity: float | np.ndarray) -> None:
        """Equity marks in time order: one (``ts_ms``, ``equity``) or two arrays of them."""
        ts = np.atleast_1d(np.asarray(ts_ms, dtype=np.int64))
        eq = np.atleast_1d(np.asarray(equity, dtype=float))
        if len(ts) == 0:
            return
        days = ts // DAY_MS
        cuts = np.flatnonzero(np.diff(days)) + 1
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(ts)]):
            part = eq[start:stop]
            day = self._day(int(days[start]))
            fall, pct, day.peak = _worst_fall(part, day.peak)
            if fall > day.max_drawdown:
                day.max_drawdown, day.max_drawdown_pct = fall, pct
            day.end_equity = self._last_equity = float(part[-1])
            fall, pct, self._peak = _worst_fall(part, self._peak)
            if fall > self.max_drawdown:
                self.max_drawdown, self.max_drawdown_pct = fall, pct

    def record_fill(self, fill: Fill) -> None:
        """One fill, counted on the UTC day of its time."""
        day = self._day(fill.ts // DAY_MS)
        day.fills += 1
        day.buys += fill.side > 0
        day.sells += fill.side < 0
        day.maker_fills += bool(fill.maker)
        day.volume += fill.price * fill.size
        day.fees += fill.fee

    def record_fills(self, columns: dict[str, np.ndarray]) -> None:
        """Fills as columns (``ts``, ``side``, ``price``, ``size``, ``fee``, ``maker``) in time order, counted by UTC
        day without a Python object per fill: a year of a busy backtest's fills is hundreds of thousands."""
        days = np.asarray(columns["ts"], dtype=np.int64) // DAY_MS
        cuts = np.flatnonzero(np.diff(days)) + 1
        side, maker = columns["side"], columns["maker"]
        notional, fee = columns["price"] * columns["size"], columns["fee"]
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(days)]) if len(days) else ():
            day = self._day(int(days[start]))
            day.fills += int(stop - start)
            day.buys += int(np.count_nonzero(side[start:stop] > 0))
            day.sells += int(np.count_nonzero(side[start:stop] < 0))
            day.maker_fills += int(np.count_nonzero(maker[start:stop]))
            day.volume += float(np.sum(notional[start:stop]))
            day.fees += float(np.sum(fee[start:stop]))

    @property
    def dates(self) -> list[str]:
        """The UTC days seen, in order."""
        return [_date(d) for d in sorted(self._days)]

    def _returns_until(self, day: int) -> list[float]:
        return [(d.end_equity - d.start_equity) / self.capital for n, d in sorted(self._days.items()) if n <= day]

    def daily_stats(self, day: str | date | int | None = None) -> dict[str, Any]:
        """The figures of one UTC day (``YYYY-MM-DD``, a date, or days since the epoch; default the latest). A day
        with no mark or fill is flat at the equity it opened with."""
        if day is None:
            if not self._days:
                raise ValueError("no day recorded yet")
            day = max(self._days)
        number = _day_number(day)
        d = self._days.get(number)
        if d is None:
            before = [n for n in self._days if n < number]
            flat = self._days[max(before)].end_equity if before else self.capital
            d = _Day(flat, flat, flat)
        pnl = d.end_equity - d.start_equity
        return {
            "date": _date(number),
            "start_equity": round(d.start_equity, 6),
            "end_equity": round(d.end_equity, 6),
            "pnl": round(pnl, 6),
            "return_pct": round(100.0 * pnl / d.start_equity, 6) if d.start_equity else 0.0,
            "max_drawdown": round(d.max_drawdown, 6),
            "max_drawdown_pct": round(d.max_drawdown_pct, 6),
            "fills": d.fills,
            "buys": d.buys,
            "sells": d.sells,
            "maker_fills": d.maker_fills,
            "volume": round(d.volume, 6),
            "fees": round(d.fees, 6),
            "sharpe": _sharpe(self._returns_until(number)),
        }

    def days(self) -> list[dict[str, Any]]:
        """:meth:`daily_stats` of every day seen, in order."""
        return [self.daily_stats(n) for n in sorted(self._days)]

    def cumulative_stats(self) -> dict[str, Any]:
        """The whole job's figures: pnl, return, Sharpe of all daily returns, all-time drawdown, fills, volume."""
        days = list(self._days.values())
        returns = self._returns_until(max(self._days)) if self._days else []
        pnl = self._last_equity - self.capital
        return {
            "first_date": self.dates[0] if days else None,
            "last_date": self.dates[-1] if days else None,
            "days": len(days),
            "profitable_days": sum(d.end_equity > d.start_equity for d in days),
            "start_equity": round(self.capital, 6),
            "end_equity": round(self._last_equity, 6),
            "pnl": round(pnl, 6),
            "return_pct": round(100.0 * pnl / self.capital, 6),
            "sharpe": _sharpe(returns),
            "max_drawdown": round(self.max_drawdown, 6),
            "max_drawdown_pct": round(self.max_drawdown_pct, 6),
            "fills": sum(d.fills for d in days),
            "volume": round(sum(d.volume for d in days), 6),
            "fees": round(sum(d.fees for d in days), 6),
        }

    def write(self, output_dir: Path, symbol: str) -> tuple[Path, Path]:
        """Write ``daily_stats.json`` and ``daily_stats.csv`` into ``output_dir``; returns their paths."""
        output_dir.mkdir(parents=True, exist_ok=True)
        rows = self.days()
        json_path, csv_path = output_dir / "daily_stats.json", output_dir / "daily_stats.csv"
        json_path.write_text(json.dumps({"symbol": symbol, "days": rows, "cumulative": self.cumulative_stats()},
                                        indent=2) + "\n")
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=DAY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        return json_path, csv_path

    @classmethod
    def from_outputs(cls, output_dir: Path, capital: float) -> MetricsTracker:
        """A tracker fed from a job's ``equity.parquet`` and ``fills.parquet``."""
        tracker = cls(capital)
        for part in _row_groups(output_dir / "equity.parquet", ["ts", "equity"]):
            tracker.record_equity(part["ts"], part["equity"])
        fills_file = output_dir / "fills.parquet"
        if fills_file.is_file():
            # whole days at a time: a day's volume and fees are summed over all its fills at once, whichever row
            # groups they are in
            names = ["ts", "side", "price", "size", "fee", "maker"]
            carry: dict[str, np.ndarray] = {}
            for part in _row_groups(fills_file, names):
                if carry:
                    part = {name: np.concatenate([carry[name], part[name]]) for name in names}
                days = part["ts"] // DAY_MS
                last_day = int(np.searchsorted(days, days[-1])) if len(days) else 0
                tracker.record_fills({name: column[:last_day] for name, column in part.items()})
                carry = {name: column[last_day:] for name, column in part.items()}
            if carry:
                tracker.record_fills(carry)
        return tracker


def _row_groups(path: Path, names: list[str]) -> Iterator[dict[str, np.ndarray]]:
    """The ``names`` columns of a Parquet file, one row group at a time: a year of ticks is read in a few MB."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=names)
        yield {name: column_numpy(table.column(name)) for name in names}


def _worst_fall(equity: np.ndarray, peak: float) -> tuple[float, float, float]:
    """The largest fall of ``equity`` below its running peak (starting from ``peak``), that fall in % of its peak,
    and the peak at the end."""
    peaks = np.maximum.accumulate(np.maximum(equity, peak))
    falls = peaks - equity
    worst = int(np.argmax(falls))
    pct = float(100.0 * falls[worst] / peaks[worst]) if peaks[worst] > 0 else 0.0
    return float(falls[worst]), pct, float(peaks[-1])
