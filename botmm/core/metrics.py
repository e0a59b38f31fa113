"""Equity curve, fills and the figures of a job's ``result.json``.

* ``pnl``: final equity minus capital, quote units; ``return_pct``: pnl over capital, in %.
* ``sharpe``: mean over standard deviation of daily returns (equity at each UTC day end), times sqrt(365) — crypto
  trades every day. A job shorter than three days has too few daily returns; its Sharpe uses per-tick returns scaled
  by sqrt(ticks per year) instead, and ``sharpe_basis`` says which was used.
* ``max_drawdown`` / ``max_drawdown_pct``: the largest fall of equity from a previous peak, in quote units and in %
  of that peak.
* ``fills``, ``volume`` (traded notional), ``fees`` (net; negative when rebates exceed fees).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from botmm.model import Fill

_DAY_MS = 86_400_000
_YEAR_MS = 365 * _DAY_MS


TICK_COLUMNS = ("mid", "position", "equity", "bid", "ask", "vol", "signal", "imbalance", "toxicity")
"""Per-tick columns of ``equity.parquet`` besides ``ts``: ``bid``/``ask`` are the best prices quoted after risk
(NaN when that side was not quoted); ``vol``, ``signal``, ``imbalance``, ``toxicity`` are the quoter's inputs."""


class MetricsRecorder:
    def __init__(self, capital: float):
        self.capital = capital
        self.ts: list[int] = []
        self.mid: list[float] = []
        self.position: list[float] = []
        self.equity: list[float] = []
        self.ticks: list[tuple[float, ...]] = []
        self.fills: list[Fill] = []

    def record(self, ts: int, mid: float, position: float, equity: float, *extra: float) -> None:
        """One tick: the values of :data:`TICK_COLUMNS`, in order."""
        self.ts.append(ts)
        self.mid.append(mid)
        self.position.append(position)
        self.equity.append(equity)
        self.ticks.append(extra)

    def result(self, volume: float, fees: float) -> dict[str, Any]:
        equity = np.asarray(self.equity, dtype=float) if self.equity else np.array([self.capital])
        ts = np.asarray(self.ts, dtype=np.int64) if self.ts else np.array([0], dtype=np.int64)
        sharpe, basis = _sharpe(ts, equity)
        peak = np.maximum.accumulate(equity)
        drawdown = peak - equity
        worst = int(np.argmax(drawdown))
        pnl = float(equity[-1] - self.capital)
        return {
            "pnl": round(pnl, 6),
            "return_pct": round(100.0 * pnl / self.capital, 6),
            "sharpe": round(sharpe, 6),
            "sharpe_basis": basis,
            "max_drawdown": round(float(drawdown[worst]), 6),
            "max_drawdown_pct": round(float(100.0 * drawdown[worst] / peak[worst]) if peak[worst] > 0 else 0.0, 6),
            "fills": len(self.fills),
            "volume": round(volume, 6),
            "fees": round(fees, 6),
            "final_position": self.position[-1] if self.position else 0.0,
            "ticks": len(self.ts),
            "start_ms": int(ts[0]),
            "end_ms": int(ts[-1]),
        }

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
            }
        )
        pq.write_table(fills, output_dir / "fills.parquet")
        extra = np.array(self.ticks, dtype=float).reshape(len(self.ts), len(TICK_COLUMNS) - 3)
        columns = [self.mid, self.position, self.equity, *extra.T]
        equity = pa.table(
            {"ts": pa.array(self.ts, ms), **{name: pa.array(np.asarray(col, dtype=float))
                                             for name, col in zip(TICK_COLUMNS, columns)}}
        )
        pq.write_table(equity, output_dir / "equity.parquet")


def _sharpe(ts: np.ndarray, equity: np.ndarray) -> tuple[float, str]:
    days = ts // _DAY_MS
    last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1))
    daily = equity[last_of_day]
    if len(daily) >= 3:
        returns = np.diff(daily) / daily[:-1]
        return _annualised(returns, 365.0), "daily"
    if len(equity) < 3:
        return 0.0, "none"
    returns = np.diff(equity) / equity[:-1]
    tick_ms = max(float(np.median(np.diff(ts))), 1.0)
    return _annualised(returns, _YEAR_MS / tick_ms), "tick"


def _annualised(returns: np.ndarray, periods_per_year: float) -> float:
    std = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    if std == 0.0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)
