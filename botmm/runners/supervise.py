"""``botmm supervise``: capital allocation across assets (the seed's backtest_supervisor).

For each asset of ``assets`` the job's backtest runs with that asset (``asset=<name>``, every other override
unchanged) into ``<output_dir>/<asset>/``, each on its own data (a synthetic market of its own with
``feed.correlation``, or the asset's own candles); assets that ran on the very same price series (one file named for
all) are refused in one line. Weights come from the **in-sample** part of each backtest (``backtest.split``), so the
out-of-sample figures judge the allocation honestly.

An asset's backtest trades its own order sizes whatever ``capital`` is, so its PnL is measured per unit of the
capital it actually used: its mean absolute exposure (position x mid) over the in-sample part. The backtests together
kept ``at_work`` (the sum of those) at work; an allocation splits that same capital at work among the assets, an asset
given ``w * at_work`` trading its backtest scaled by ``w * at_work / used``, which the candle fill model reproduces
up to lot rounding (without ``volume_cap`` a fill never depends on the order's size). Doubling an asset's order sizes
doubles both its PnL and its capital used, so its weight does not change (the portfolio grows by the capital it adds
at work). The rest of ``capital`` is margin and cash, as in the backtests. The methods:

* ``equal``: 1/N each;
* ``risk_parity``: inversely proportional to the volatility of the asset's in-sample per-tick PnL per unit of
  capital used (each asset then contributes the same volatility);
* ``sharpe``: proportional to the in-sample Sharpe ratio, assets with a Sharpe at or below 0 get nothing.

An asset that held no position in sample cannot be sized and gets nothing by every method. Weights are then capped at
``max_weight``, the excess going to the uncapped assets in proportion; what cannot be placed (every asset at its cap,
or no positive Sharpe) stays in cash.

The portfolio is simulated from the per-asset equity curves on the union of their timestamps (each held at its last
value between its own ticks): ``equity(t) = capital + sum_a w_a * at_work / used_a * pnl_a(t)``. Its figures
(:func:`botmm.core.metrics.figures`) are reported for the chosen method beside equal weights, over the whole run and
out of sample (after the split, stated in the report); ``supervise.json`` and ``portfolio.parquet`` hold them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List

import numpy as np
from omegaconf import DictConfig

from botmm.config import JobConfig, require, to_params
from botmm.errors import ConfigError
from botmm.runners.per_asset import compose_for_asset

log = logging.getLogger("botmm.supervise")
METHODS = ("risk_parity", "sharpe", "equal")
SHOWN = ("pnl", "return_pct", "sharpe", "sortino", "max_drawdown_pct")


@dataclass
class AllocationParams:
    """The ``allocation`` node."""

    method: str = "risk_parity"  # risk_parity | sharpe | equal
    max_weight: float = 0.6  # the largest share of capital one asset may get

    def __post_init__(self) -> None:
        require(self.method in METHODS, self, "method", f"must be one of {', '.join(METHODS)}")
        require(0 < self.max_weight <= 1, self, "max_weight", "must be in (0, 1]")


@dataclass
class SuperviseJob(JobConfig):
    """The root of ``conf/supervise.yaml``: the backtest run for each asset, the assets and the allocation."""

    assets: List[str] = field(default_factory=lambda: ["btc", "eth", "sol"])
    allocation: AllocationParams = field(default_factory=AllocationParams)


def weights(method: str, returns: dict[str, np.ndarray], sharpe: dict[str, float],
            max_weight: float) -> dict[str, float]:
    """Capital weights of each asset by ``method`` from its in-sample per-tick ``returns`` per unit of capital used
    (empty: the asset cannot be sized, it gets nothing) and ``sharpe`` (see the module docstring); they sum to at most
    1, the rest being cash."""
    names = list(returns)
    sized = np.array([len(returns[n]) > 0 for n in names])
    if method == "equal":
        raw = sized.astype(float)
    elif method == "risk_parity":
        vol = np.array([volatility(returns[n]) for n in names])
        raw = np.where(vol > 0, 1.0 / np.where(vol > 0, vol, 1.0), 0.0)
    else:
        raw = np.where(sized, [max(sharpe[n], 0.0) for n in names], 0.0)
    if raw.sum() <= 0:
        return {n: 0.0 for n in names}
    return dict(zip(names, cap(raw / raw.sum(), max_weight).tolist()))


def volatility(returns: np.ndarray) -> float:
    """The standard deviation of per-tick ``returns`` (0 with fewer than two)."""
    return float(np.std(returns)) if len(returns) > 1 else 0.0


def per_unit_of_capital(equity: np.ndarray, exposure: np.ndarray) -> tuple[float, np.ndarray]:
    """The capital an asset used over a stretch of its (aligned) curve, its mean absolute ``exposure``, and its
    per-tick PnL over that capital (empty when it used none: it cannot be sized)."""
    used = float(np.mean(exposure)) if len(exposure) else 0.0
    return used, (np.diff(equity) / used if used > 0 else np.empty(0))


def cap(w: np.ndarray, max_weight: float) -> np.ndarray:
    """Weights summing to 1, capped at ``max_weight``: the excess of capped weights is shared among the others in
    proportion to their weights, repeatedly; what no asset can take is left out (cash)."""
    w = w.astype(float).copy()
    for _ in range(len(w)):
        over = w > max_weight + 1e-12
        if not over.any():
            break
        excess = float((w[over] - max_weight).sum())
        w[over] = max_weight
        free = (w < max_weight - 1e-12) & (w > 0)
        if not free.any():
            break
        w[free] += excess * w[free] / w[free].sum()
    return np.minimum(w, max_weight)


def supervise(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Backtest every asset, allocate, simulate the portfolio; returns the report (also ``supervise.json``)."""
    from botmm.core.metrics import split_index
    from botmm.runners.simulate import backtest

    alloc = to_params(AllocationParams, cfg.allocation, "allocation")
    assets = list(cfg.assets)
    if not assets or len(set(assets)) != len(assets):
        raise ConfigError(f"assets={assets}: list each asset once, at least one")
    if cfg.backtest.split is None:
        raise ConfigError("backtest.split: null; weights come from the in-sample part, set a split (0.5)")
    curves, results = {}, {}
    for name in assets:
        try:
            job = compose_for_asset(name, "assets", "allocation.")
        except Exception as exc:
            raise ConfigError(f"assets: {name}: {str(exc).splitlines()[0]}") from None
        log.info("supervise: backtest %s", name)
        results[name] = backtest(job, output_dir / name)
        curves[name] = _curve(output_dir / name)
        _refuse_shared_prices(name, curves)
    capital = float(cfg.capital)
    ts = np.unique(np.concatenate([c["ts"] for c in curves.values()]))
    k = split_index(ts, _split(cfg.backtest.split))
    aligned = {n: _align(c, ts, capital) for n, c in curves.items()}
    used, in_returns = {}, {}
    for n, a in aligned.items():
        used[n], in_returns[n] = per_unit_of_capital(a["equity"][:k], a["exposure"][:k])
    at_work = sum(used.values())
    in_sharpe = {n: results[n]["in_sample"]["sharpe"] or 0.0 for n in assets}  # n/a (too few days): nothing
    chosen = weights(alloc.method, in_returns, in_sharpe, alloc.max_weight)
    equal = weights("equal", in_returns, in_sharpe, alloc.max_weight)
    portfolios = {alloc.method: chosen} if alloc.method == "equal" else {alloc.method: chosen, "equal": equal}
    report: dict[str, Any] = {
        "mode": "supervise", "symbol": "+".join(str(results[n]["symbol"]) for n in assets), "method": alloc.method,
        "max_weight": alloc.max_weight, "capital": capital, "capital_at_work": round(at_work, 6),
        "split": str(cfg.backtest.split), "split_ms": int(ts[k - 1]),
        "assets": {n: {"symbol": results[n]["symbol"], "weight": round(chosen[n], 6),
                       "equal_weight": round(equal[n], 6), "capital_used": round(used[n], 6),
                       "in_sample_vol": round(volatility(in_returns[n]), 10),
                       "in_sample": _pick(results[n]["in_sample"]), "out_of_sample": _pick(results[n]["out_of_sample"])}
                   for n in assets},
        "portfolios": {},
    }
    columns = {"ts": ts}
    for label, w in portfolios.items():
        scale = {n: w[n] * at_work / used[n] if used[n] > 0 else 0.0 for n in assets}
        equity, exposure = _portfolio(aligned, scale, capital)
        columns[f"equity_{label}"] = equity
        report["portfolios"][label] = {"weights": {n: round(v, 6) for n, v in w.items()},
                                       "scales": {n: round(v, 6) for n, v in scale.items()},
                                       "cash": round(max(0.0, 1.0 - sum(w.values())), 6),
                                       "whole": _figures(ts, equity, exposure, capital),
                                       "out_of_sample": _figures(ts[k - 1:], equity[k - 1:], exposure[k - 1:],
                                                                 float(equity[k - 1]))}
    _write(output_dir, report, columns)
    return report


def _refuse_shared_prices(name: str, curves: dict[str, dict[str, np.ndarray]]) -> None:
    """One price series run as several assets ("ETH" on BTC's prices) would allocate between copies of one market:
    refused in one line."""
    mine = curves[name]
    for other, curve in curves.items():
        if other != name and np.array_equal(curve["ts"], mine["ts"]) and np.array_equal(curve["mid"], mine["mid"]):
            raise ConfigError(f"assets: {other} and {name} ran on the same price series; give each asset its own "
                              f"data (feed=candles reads each asset's symbol from the dataset)")


def _split(text: str) -> float | str:
    from botmm.config import parse_split

    value = parse_split(text)
    if value is None:
        raise ConfigError(f"backtest.split={text}: must be a fraction in (0, 1) or an ISO date")
    return value


def _curve(job_dir: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(job_dir / "equity.parquet", columns=["ts", "mid", "position", "equity"])
    return {"ts": table.column("ts").cast("int64").to_numpy(),
            **{c: table.column(c).to_numpy() for c in ("mid", "position", "equity")}}


def _align(curve: dict[str, np.ndarray], ts: np.ndarray, capital: float) -> dict[str, np.ndarray]:
    """An asset's equity and exposure on the common timestamps: its last value at or before each (capital and no
    exposure before its first tick)."""
    i = np.searchsorted(curve["ts"], ts, side="right") - 1
    before = i < 0
    i = np.maximum(i, 0)
    equity = np.where(before, capital, curve["equity"][i])
    exposure = np.where(before, 0.0, np.abs(curve["position"][i] * curve["mid"][i]))
    return {"equity": equity, "exposure": exposure}


def _portfolio(aligned: dict[str, dict[str, np.ndarray]], scale: dict[str, float],
               capital: float) -> tuple[np.ndarray, np.ndarray]:
    """The portfolio's equity and exposure: each asset's PnL and exposure times its ``scale``."""
    equity = capital + sum(scale[a] * (aligned[a]["equity"] - capital) for a in aligned)
    exposure = sum(scale[a] * aligned[a]["exposure"] for a in aligned)
    return np.asarray(equity, dtype=float), np.asarray(exposure, dtype=float)


def _figures(ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray, start: float) -> dict[str, Any]:
    from botmm.core.metrics import figures

    found = figures(ts, equity, exposure, [], start, math.inf)
    return {key: found[key] for key in (*SHOWN, "max_drawdown", "sharpe_basis")}


def _shown(sharpe: float | None) -> str:
    return "n/a" if sharpe is None else f"{sharpe:.3f}"


def _pick(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result[key] for key in (*SHOWN, "fills")}


def _write(output_dir: Path, report: dict[str, Any], columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "supervise.json").write_text(json.dumps(report, indent=2) + "\n")
    table = pa.table({"ts": pa.array(columns["ts"], pa.timestamp("ms", tz="UTC")),
                      **{k: pa.array(v) for k, v in columns.items() if k != "ts"}})
    pq.write_table(table, output_dir / "portfolio.parquet")


def print_report(report: dict[str, Any]) -> None:
    """Per-asset allocations and the portfolio figures against equal weighting, on the console."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the tables readable
    method = report["method"]
    split_at = np.datetime64(report["split_ms"] // 1000, "s").astype(str).replace("T", " ")
    assets = Table(title=f"botmm supervise: allocation by {method} from the in-sample part (backtest.split="
                         f"{report['split']}: in sample up to {split_at} UTC), cap {report['max_weight']:g}")
    for col in ("asset", "symbol", f"weight ({method})", "weight (equal)", "in-sample capital used",
                "in-sample vol/tick per capital", "in-sample sharpe", "out-of-sample return %", "out-of-sample sharpe"):
        assets.add_column(col, justify="left" if col in ("asset", "symbol") else "right")
    for name, a in report["assets"].items():
        assets.add_row(name, a["symbol"], f"{a['weight']:.4f}", f"{a['equal_weight']:.4f}", f"{a['capital_used']:.2f}",
                       f"{a['in_sample_vol']:.3g}", _shown(a['in_sample']['sharpe']),
                       f"{a['out_of_sample']['return_pct']:.4f}", _shown(a['out_of_sample']['sharpe']))
    console.print(assets)
    table = Table(title=f"portfolio of {report['capital']:g} ({report['capital_at_work']:.2f} at work): out of sample "
                        f"after {split_at} UTC, and the whole run")
    table.add_column("weights")
    table.add_column("part")
    for key in SHOWN:
        table.add_column(key, justify="right")
    for part in ("out_of_sample", "whole"):
        for label, p in report["portfolios"].items():
            table.add_row(f"{label} (cash {p['cash']:.2f})", part.replace("_", "-"),
                          *("n/a" if p[part][key] is None else f"{p[part][key]:.4f}" for key in SHOWN))
    console.print(table)
