"""Equity curve, fills and the figures of a job's ``result.json``.

Figures (:func:`figures`), for a whole run or for one part of it:

* ``pnl``: equity at the end minus equity at the start, quote units; ``return_pct``: pnl over starting equity, %.
* ``sharpe``: mean over standard deviation of the daily returns, times sqrt(365) — crypto trades every day.
  ``sortino``: the same with the downside deviation (root mean square of the negative daily returns) in the
  denominator. A daily return is the UTC day's PnL (equity at its last tick minus equity at the previous day's last
  tick, or at the start) over the job's starting capital: a fixed base, so returns stay defined and comparable when
  equity falls to zero or below. With fewer than :data:`MIN_DAYS` days both are ``null`` (shown "n/a"): a Sharpe of
  a few hours says nothing. ``sharpe_basis`` says which applies, ``days`` counts the UTC days of the stretch.
* ``max_drawdown`` / ``max_drawdown_pct``: the largest fall of equity from a previous peak, in quote units and in %
  of that peak.
* ``fills``, ``volume`` (traded notional), ``turnover`` (volume over starting equity), ``fees`` (net) and
  ``rebates`` (the negative fees, as a positive amount).
* ``profitable_days_pct``: % of UTC days with a positive PnL; ``avg_inventory_usd`` / ``max_inventory_usd``: mean and
  largest ``|position| * mid``; ``time_at_limit_pct``: % of ticks with ``|position| * mid >= max_position_usd``.

With ``backtest.split`` (a fraction of the ticks, or a date), ``result.json`` also holds ``in_sample`` and
``out_of_sample`` figures for the two parts; with ``backtest.walk_forward.folds``, ``folds``: each fold's training
and test figures (:mod:`botmm.core.walk_forward`).
"""

from __future__ import annotations

import json
import math
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from botmm.model import Fill

_DAY_MS = 86_400_000
MIN_DAYS = 7
"""Fewest UTC days with which ``sharpe`` and ``sortino`` are computed; below it they are ``null``."""

TICK_COLUMNS = ("mid", "position", "equity", "bid", "ask", "vol", "signal", "imbalance", "toxicity")
"""Per-tick columns of ``equity.parquet`` besides ``ts``: ``bid``/``ask`` are the best prices quoted after risk
(NaN when that side was not quoted); ``vol``, ``signal``, ``imbalance``, ``toxicity`` are the quoter's inputs."""


class MetricsRecorder:
    """Every tick's values and every fill of a job. Ticks are kept in typed arrays (8 bytes a value, where a list
    of Python floats takes 32), which index, slice and convert to numpy as lists do: a year of 1-minute bars is
    about 40 MB."""

    def __init__(self, capital: float, max_position_usd: float):
        self.capital = capital
        self.max_position_usd = max_position_usd
        self.ts = array("q")
        self.mid = array("d")
        self.position = array("d")
        self.equity = array("d")
        self.ticks = array("d")  # the other TICK_COLUMNS, a tick's values one after the other
        self.fills: list[Fill] = []

    def record(self, ts: int, mid: float, position: float, equity: float, *extra: float) -> None:
        """One tick: the values of :data:`TICK_COLUMNS`, in order."""
        self.ts.append(ts)
        self.mid.append(mid)
        self.position.append(position)
        self.equity.append(equity)
        self.ticks.extend(extra)

    def result(self, split: float | str | None = None, walk_forward: Any = None) -> dict[str, Any]:
        """Figures of the whole run, plus ``in_sample``/``out_of_sample`` when ``split`` is given and ``folds``
        when ``walk_forward`` (a :class:`~botmm.config.WalkForwardConfig`) asks for them."""
        ts = np.asarray(self.ts or [0], dtype=np.int64)
        equity = np.asarray(self.equity or [self.capital], dtype=float)
        exposure = np.abs(np.asarray(self.position or [0.0]) * np.asarray(self.mid or [0.0]))
        fill_ts = np.fromiter((f.ts for f in self.fills), dtype=np.int64, count=len(self.fills))
        whole = figures(ts, equity, exposure, self.fills, self.capital, self.max_position_usd)
        whole.update(ticks=len(self.ts),
                     start_ms=int(ts[0]), end_ms=int(ts[-1]))
        if split is not None and len(self.ts) >= 2:
            k = split_index(ts, split)
            first = int(np.searchsorted(fill_ts, ts[k - 1], side="right"))
            whole["in_sample"] = figures(ts[:k], equity[:k], exposure[:k], self.fills[:first], self.capital,
                                         self.max_position_usd)
            whole["out_of_sample"] = figures(ts[k - 1:], equity[k - 1:], exposure[k - 1:], self.fills[first:],
                                             float(equity[k - 1]), self.max_position_usd, self.capital)
            whole["split_ms"] = int(ts[k - 1])
        if walk_forward is not None and walk_forward.folds and len(self.ts) >= 2:
            from botmm.core.walk_forward import fold_figures

            whole["folds"] = fold_figures(ts, equity, exposure, self.fills, fill_ts, self.max_position_usd,
                                          walk_forward)
        return whole

    def write(self, output_dir: Path, result: dict[str, Any]) -> None:
        """Write ``result.json``, ``fills.parquet`` and ``equity.parquet`` into ``output_dir``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        ms = pa.timestamp("ms", tz="UTC")
        fills = pa.table(
            {
                "ts": pa.array([f.ts for f in self.fills], ms),
                "oid": pa.array([f.oid for f in self.fills], pa.int64()),
                "side": pa.array([int(f.side) for f in self.fills], pa.int8()),
                "price": pa.array([f.price for f in self.fills], pa.float64()),
                "size": pa.array([f.size for f in self.fills], pa.float64()),
                "fee": pa.array([f.fee for f in self.fills], pa.float64()),
                "maker": pa.array([f.maker for f in self.fills], pa.bool_()),
                "tid": pa.array([f.tid for f in self.fills], pa.int64()),  # the exchange's trade id (live; 0 sim)
            }
        )
        pq.write_table(fills, output_dir / "fills.parquet")
        extra = np.asarray(self.ticks, dtype=float).reshape(len(self.ts), len(TICK_COLUMNS) - 3)
        columns = [self.mid, self.position, self.equity, *extra.T]
        equity = pa.table(
            {"ts": pa.array(np.asarray(self.ts), ms), **{name: pa.array(np.asarray(col, dtype=float))
                                                         for name, col in zip(TICK_COLUMNS, columns)}}
        )
        pq.write_table(equity, output_dir / "equity.parquet")


def prepare_write() -> None:
    """Load what a run's output writing needs now: pyarrow, and pandas, which pyarrow loads on its first array when
    installed. A live stop, which writes, should spend its seconds cancelling, not importing (about 1 s)."""
    import pyarrow as pa
    import pyarrow.parquet  # noqa: F401

    pa.array([0], pa.int64())


def split_index(ts: np.ndarray, split: float | str) -> int:
    """The first tick of the out-of-sample part: ``split`` is a fraction in (0, 1) or an ISO date (UTC)."""
    if isinstance(split, str):
        at = np.datetime64(split.replace("Z", ""), "ms").astype(np.int64)
        k = int(np.searchsorted(ts, at))
    else:
        k = int(round(split * len(ts)))
    return min(max(k, 1), len(ts) - 1)


def figures(ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray, fills: list[Fill], start_equity: float,
            max_position_usd: float, base: float | None = None) -> dict[str, Any]:
    """The figures of one stretch of a run (see the module docstring) that starts at ``start_equity``; daily
    returns are on ``base``, the job's capital (default ``start_equity``)."""
    daily = daily_pnl(ts, equity, start_equity)
    sharpe, sortino = annualised(daily / (start_equity if base is None else base))
    basis = "daily" if sharpe is not None else f"n/a: {len(daily)} day(s) < {MIN_DAYS}"
    peak = np.maximum.accumulate(np.maximum(equity, start_equity))
    drawdown = peak - equity
    worst = int(np.argmax(drawdown))
    pnl = float(equity[-1] - start_equity)
    volume = sum(f.price * f.size for f in fills)
    fees = sum(f.fee for f in fills)
    rebates = -sum(f.fee for f in fills if f.fee < 0)
    return {
        "pnl": round(pnl, 6),
        "return_pct": round(100.0 * pnl / start_equity, 6) if start_equity > 0 else None,
        "sharpe": _round(sharpe),
        "sortino": _round(sortino),
        "sharpe_basis": basis,
        "days": len(daily),
        "max_drawdown": round(float(drawdown[worst]), 6),
        "max_drawdown_pct": round(float(100.0 * drawdown[worst] / peak[worst]) if peak[worst] > 0 else 0.0, 6),
        "fills": len(fills),
        "volume": round(volume, 6),
        "turnover": round(volume / start_equity, 6),
        "fees": round(fees, 6),
        "rebates": round(rebates, 6),
        "profitable_days_pct": round(100.0 * float(np.mean(daily > 0)), 6),
        "avg_inventory_usd": round(float(exposure.mean()), 6),
        "max_inventory_usd": round(float(exposure.max()), 6),
        "time_at_limit_pct": round(100.0 * float(np.mean(exposure >= max_position_usd)), 6),
    }


def daily_pnl(ts: np.ndarray, equity: np.ndarray, start_equity: float) -> np.ndarray:
    """The PnL of each UTC day of ``ts``: equity at its last tick minus equity at the previous day's last tick (the
    first day's: ``start_equity``)."""
    days = ts // _DAY_MS
    last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1))
    return np.diff(np.concatenate([[start_equity], equity[last_of_day]]))


def annualised(daily: np.ndarray, periods_per_year: float = 365.0,
               min_periods: int = MIN_DAYS) -> tuple[float | None, float | None]:
    """Sharpe and Sortino of the ``daily`` returns, annualised; None for both with fewer than ``min_periods``."""
    if len(daily) < min_periods:
        return None, None
    scale = math.sqrt(periods_per_year)
    mean = float(np.mean(daily))
    std = float(np.std(daily, ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(daily, 0.0) ** 2)))
    sharpe = mean / std * scale if std > 0 and math.isfinite(std) else 0.0
    sortino = mean / downside * scale if downside > 0 else 0.0
    return sharpe, sortino


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
