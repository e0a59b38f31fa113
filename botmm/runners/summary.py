"""Printing a job's figures, and the ranked summary of a multirun.

The composite score that ranks a sweep's jobs is::

    score = summary.sharpe * sharpe + summary.return_pct * return_pct - summary.max_drawdown_pct * max_drawdown_pct

with the weights from the config's ``summary`` node (defaults 1.0, 0.1, 0.5): risk-adjusted return first, raw return
as a tie-breaker, drawdown as a penalty; a Sharpe that is n/a (a job shorter than ``MIN_DAYS`` days) counts as 0. With ``backtest.walk_forward`` folds a job's score is the mean score of
its test windows and ``score_spread`` their standard deviation; with ``backtest.split``, the out-of-sample part's
score; the figures shown are those the score was taken on (``scored_on`` says which).

Only complete jobs are ranked. Each row has a ``status``: ``ok``; ``no trades`` when the scored figures have fewer
than ``summary.min_fills`` fills (ranked below every job that traded: doing nothing scores 0, which beats any loss);
``stopped`` when risk ended the job (ruin: ``stopped`` in its ``result.json``; ranked after every job that ran to
the end, with its figures);
``interrupted`` (Ctrl-C, or a job that started and never ended); ``failed: <one line>`` with the error. Interrupted
and failed jobs come last with no rank and no score, so a sweep with failures still gets its table:
``summary.csv`` and ``summary.parquet`` in the sweep directory, and a console table.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
import yaml
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from botmm.config import SummaryWeights, to_params
from botmm.core.metrics import MIN_DAYS
from botmm.errors import ConfigError
from botmm.pipeline import stop_status

SWEEP_JOBS_ENV = "BOTMM_SWEEP_JOBS"
ERROR_FILE = "error.txt"  # a failed job's one-line status, written into its output dir when it ends
NO_TRADES = "no trades"
STOPPED = "stopped"
SHOWN = ("pnl", "return_pct", "sharpe", "max_drawdown_pct", "fills", "volume", "fees")
LABELS = {
    "status": "ok, or why the job did not end normally",
    "pnl": "equity change, quote units",
    "return_pct": "pnl, % of capital",
    "sharpe": f"daily returns on capital, annualised; n/a under {MIN_DAYS} days",
    "sortino": "as sharpe, downside deviation",
    "max_drawdown_pct": "largest fall, % of the peak before it",
    "profitable_days_pct": "% of UTC days with pnl > 0",
    "fills": "count",
    "volume": "traded notional, quote units",
    "fees": "net fees paid, quote units",
    "final_position": "base units",
    "orders_placed": "count",
    "calls_saved": "order calls not needed",
}
"""What each figure on the console is, printed beside it."""
BUDGET_LABELS = {
    "ip_peak_pct": "most request weight in 60 s, % of exchange.weight_budget",
    "ip_mean_pct": "time-weighted mean of the same",
    "ip_limit": "request weight per minute the process may spend",
    "address_requests": "actions sent against the address limit (a batch counts per order)",
    "address_left": "address requests left at the end",
    "rate_limited": "429s and address-limit refusals from the exchange",
}
"""A live run's rate-budget figures (``budget`` in result.json), printed as ``budget.<key>``."""


def score(result: dict[str, Any], weights: SummaryWeights) -> float:
    return (
        weights.sharpe * (result["sharpe"] or 0.0)
        + weights.return_pct * result["return_pct"]
        - weights.max_drawdown_pct * result["max_drawdown_pct"]
    )


_SUMMED = ("pnl", "fills", "volume", "fees")  # over the test windows of walk-forward folds; the rest: their mean


def judged(result: dict[str, Any], weights: SummaryWeights) -> tuple[dict[str, Any], float, float | None, str]:
    """What a job is judged on: its figures, score, the score's spread across folds and where they come from. With
    walk-forward folds: the test windows' figures (summed or averaged, see :data:`_SUMMED`) and the mean and
    standard deviation of their scores; with a split: the out-of-sample part; else the whole run."""
    tests = [fold["test"] for fold in result.get("folds", ()) if fold["test"] is not None]
    if tests:
        scores = np.array([score(figures, weights) for figures in tests])
        figures = {key: _across([f.get(key) for f in tests], key in _SUMMED) for key in tests[0]
                   if all(v is None or isinstance(v, (int, float)) for v in (f.get(key) for f in tests))}
        return figures, float(scores.mean()), float(scores.std()), f"{len(tests)} folds"
    if "out_of_sample" in result:
        return result["out_of_sample"], score(result["out_of_sample"], weights), None, "out_of_sample"
    return result, score(result, weights), None, "whole"


def _across(values: list[Any], summed: bool) -> float | None:
    """One figure over the folds' test windows: their sum or mean; None when a fold has it n/a."""
    if any(v is None for v in values):
        return None
    return float(np.sum(values) if summed else np.mean(values))


def objective(result: dict[str, Any], weights: SummaryWeights, maximize: bool = True) -> float:
    """The figure an optimising sweeper receives (``summary.objective``), as :func:`judged` scores a job. A job with
    fewer than ``summary.min_fills`` fills gets the worst value for the sweeper's direction, so it is never its
    best."""
    figures, total, _, _ = judged(result, weights)
    if figures.get("fills", 0) < weights.min_fills:
        return -math.inf if maximize else math.inf
    if weights.objective == "score":
        return total
    if figures.get(weights.objective, 0) is None:  # n/a on this job (a Sharpe under MIN_DAYS days): a failed trial
        return math.nan
    if not isinstance(figures.get(weights.objective), (int, float)):
        raise ConfigError(f"summary.objective={weights.objective}: not a figure of result.json; "
                          f"figures: score, {', '.join(k for k, v in figures.items() if isinstance(v, (int, float)))}")
    return float(figures[weights.objective])


def print_result(result: dict[str, Any]) -> None:
    """A short summary of one job on the console; a job of several assets (``asset=[eth,btc]``) gets one column per
    asset and one for the whole account."""
    from rich.console import Console
    from rich.table import Table

    if "assets" in result:
        return _print_assets(result)
    table = Table(title=f"botmm {result['mode']} {result['symbol']}", show_header=False)
    for key, label in LABELS.items():
        table.add_row(key, _cell(result.get(key)), label)
    for key, value in result.get("venue", {}).items():
        table.add_row(f"venue.{key}", _cell(value), "")
    for key, value in result.get("budget", {}).items():
        table.add_row(f"budget.{key}", _cell(value), BUDGET_LABELS.get(key, ""))
    Console().print(table)


def _print_assets(result: dict[str, Any]) -> None:
    """The figures of each asset of a multi-asset job beside the whole account's (``-`` where a total has no
    meaning: positions in different base units)."""
    from rich.console import Console
    from rich.table import Table

    assets = result["assets"]
    table = Table(title=f"botmm {result['mode']} {result['symbol']}",
                  caption="total: the assets' sums; return_pct on the whole capital; sharpe and max_drawdown_pct "
                          "the worst asset's")
    table.add_column("figure")
    for symbol in assets:
        table.add_column(symbol, justify="right")
    table.add_column("total", justify="right")
    table.add_column("")
    statuses = dict.fromkeys(str(a.get("status")) for a in assets.values())
    for key, label in LABELS.items():
        total = result.get(key, ", ".join(statuses) if key == "status" else None)
        table.add_row(key, *(_cell(a.get(key)) for a in assets.values()),
                      "-" if isinstance(total, dict) else _cell(total), label)
    for key, value in result.get("budget", {}).items():  # one budget, shared by the process's assets
        table.add_row(f"budget.{key}", *("" for _ in assets), _cell(value), BUDGET_LABELS.get(key, ""))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(table)


def _cell(value: Any) -> str:
    """A figure as the console shows it: "n/a" for a figure not defined on this run."""
    return "n/a" if value is None else f"{value:,.4f}" if isinstance(value, float) else str(value)


class SweepDir(Callback):
    """Remembers where the current multirun writes, so the CLI can summarise it even when a job failed (Hydra
    skips ``on_multirun_end`` then), and reports the sweep's progress as each job ends (in whichever process the
    launcher ran it). The total is the grid size the CLI computed (``BOTMM_SWEEP_JOBS``) or the sweeper's
    ``n_trials``."""

    last: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepDir.last = Path(config.hydra.sweep.dir)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        hydra = config.hydra
        if hydra.mode != RunMode.MULTIRUN:
            return
        total = os.environ.get(SWEEP_JOBS_ENV) or hydra.sweeper.get("n_trials") or "?"
        status = "ok"
        if job_return.status != JobStatus.COMPLETED:
            status = stop_status(job_return._return_value)  # the property would raise the job's error
            (Path(hydra.runtime.output_dir) / ERROR_FILE).write_text(status + "\n")
        overrides = " ".join(hydra.overrides.task)
        print(f"[sweep] job {hydra.job.num + 1}/{total} {status}: {overrides}", file=sys.stderr, flush=True)


def summarise_sweep(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rank every job under ``sweep_dir``, write summary.csv/.parquet there, print the table, return the rows."""
    rows = [job_row(path.parent.parent) for path in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))]
    rank_rows(rows)
    _write(rows, sweep_dir)
    _print(rows, sweep_dir)
    return rows


def rank_rows(rows: list[dict[str, Any]]) -> None:
    """Sort ``rows`` best first (jobs that traded, then ``no trades``, then ``stopped``, each by score; then the rest,
    unranked) and number the complete ones."""
    order = {"ok": 0, NO_TRADES: 1, STOPPED: 2}
    rows.sort(key=lambda r: (order.get(r["status"], 2), -r["score"] if r["status"] in order else 0.0))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank if row["status"] in order else None


def job_row(job_dir: Path) -> dict[str, Any]:
    """One job of a sweep: its overrides, status, score and the figures it was scored on (see the module doc)."""
    overrides = _yaml(job_dir / ".hydra" / "overrides.yaml")
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides), "status": "interrupted",
                           "score": None, "score_spread": None, "scored_on": None}
    row.update({key: None for key in SHOWN})
    error_file, result_file = job_dir / ERROR_FILE, job_dir / "result.json"
    if error_file.is_file():
        row["status"] = error_file.read_text().strip()
    elif result_file.is_file():
        result = json.loads(result_file.read_text())
        if not result.get("complete", True):
            row["status"] = result.get("status", "interrupted")
            return row
        cfg = OmegaConf.create(_yaml(job_dir / ".hydra" / "config.yaml"))  # keeps interpolations resolvable
        weights = to_params(SummaryWeights, cfg.get("summary", {}), "summary")
        figures, total, spread, scored_on = judged(result, weights)
        row.update({key: figures[key] for key in SHOWN}, scored_on=scored_on, score=round(total, 6),
                   score_spread=None if spread is None else round(spread, 6),
                   status=STOPPED if "stopped" in result else "ok" if figures["fills"] >= weights.min_fills
                   else NO_TRADES)
    return row


def _yaml(path: Path) -> Any:
    """A job's saved YAML as plain data, read by libyaml when PyYAML has it: a sweep of hundreds of jobs reads one
    config each, and OmegaConf's loader takes ~10 ms a file where libyaml takes under 1."""
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _write(rows: list[dict[str, Any]], sweep_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    columns = ["rank", "job", "status", "score", "score_spread", "scored_on", *SHOWN, "overrides"]
    table = pa.table({c: [row[c] for row in rows] for c in columns})
    pcsv.write_csv(table, sweep_dir / "summary.csv")
    pq.write_table(table, sweep_dir / "summary.parquet")


def _print(rows: list[dict[str, Any]], sweep_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sweep summary ({sweep_dir}/summary.csv)")
    for col in ("rank", "overrides", "status", "score", "score_spread", *SHOWN):
        table.add_column(col, justify="left" if col in ("overrides", "status") else "right")
    for row in rows:
        cells = [row["rank"], row["overrides"], row["status"], row["score"], row["score_spread"],
                 *(row[c] for c in SHOWN)]
        table.add_row(*("-" if v is None and row["rank"] is None else _cell(v) for v in cells))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(table)
