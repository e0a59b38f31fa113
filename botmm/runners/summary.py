"""Printing a job's figures, and the ranked summary of a multirun.

The composite score that ranks a sweep's jobs is::

    score = summary.sharpe * sharpe + summary.return_pct * return_pct - summary.max_drawdown_pct * max_drawdown_pct

with the weights from the config's ``summary`` node (defaults 1.0, 0.1, 0.5): risk-adjusted return first, raw return
as a tie-breaker, drawdown as a penalty; a Sharpe that is n/a (a job shorter than ``MIN_DAYS`` days) counts as 0.
When the jobs ran with ``backtest.split`` (walk-forward), the score and the
figures shown are the out-of-sample ones (``scored_on`` says which). Jobs that risk stopped (ruin: ``stopped`` in
their ``result.json``) are listed after every job that ran to the end, with status ``stopped`` and their figures;
failed jobs are listed last with their status, so a sweep with failures still gets its table: ``summary.csv`` and
``summary.parquet`` in the sweep directory, and a console table.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
import yaml
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from botmm.config import SummaryWeights, to_params
from botmm.core.metrics import MIN_DAYS
from botmm.errors import ConfigError

SWEEP_JOBS_ENV = "BOTMM_SWEEP_JOBS"
_RANKED = ("ok", "stopped", "failed")  # statuses in the order the summary lists them
SHOWN = ("pnl", "return_pct", "sharpe", "max_drawdown_pct", "fills", "volume", "fees")
LABELS = {
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


def score(result: dict[str, Any], weights: SummaryWeights) -> float:
    return (
        weights.sharpe * (result["sharpe"] or 0.0)
        + weights.return_pct * result["return_pct"]
        - weights.max_drawdown_pct * result["max_drawdown_pct"]
    )


def objective(result: dict[str, Any], weights: SummaryWeights) -> float:
    """The figure an optimising sweeper maximises or minimises (``summary.objective``), out-of-sample when split.
    NaN for a figure that is n/a on this job (a Sharpe under ``MIN_DAYS`` days): optimisers count it as a failed
    trial, never as a result."""
    figures = result.get("out_of_sample", result)
    if weights.objective == "score":
        return score(figures, weights)
    if weights.objective in figures and figures[weights.objective] is None:
        return math.nan
    if not isinstance(figures.get(weights.objective), (int, float)):
        raise ConfigError(f"summary.objective={weights.objective}: not a figure of result.json; "
                          f"figures: score, {', '.join(k for k, v in figures.items() if isinstance(v, (int, float)))}")
    return float(figures[weights.objective])


def print_result(result: dict[str, Any]) -> None:
    """A short summary of one job on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"botmm {result['mode']} {result['symbol']}", show_header=False)
    keys = ("pnl", "return_pct", "sharpe", "sortino", "max_drawdown_pct", "profitable_days_pct", "fills", "volume",
            "fees", "final_position", "orders_placed", "calls_saved")
    rows = [(key, result.get(key), LABELS[key]) for key in keys]
    for key, value, label in rows:
        table.add_row(key, _cell(value), label)
    for key, value in result.get("venue", {}).items():
        table.add_row(f"venue.{key}", f"{value:,.4f}" if isinstance(value, float) else str(value), "")
    Console().print(table)


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
        status = "ok" if job_return.status == JobStatus.COMPLETED else "failed"
        overrides = " ".join(hydra.overrides.task)
        print(f"[sweep] job {hydra.job.num + 1}/{total} {status}: {overrides}", file=sys.stderr, flush=True)


def summarise_sweep(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rank every job under ``sweep_dir``, write summary.csv/.parquet there, print the table, return the rows."""
    rows = [_job_row(path.parent.parent) for path in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))]
    rows.sort(key=lambda r: (_RANKED.index(r["status"]), -r["score"] if r["score"] is not None else 0.0))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    _write(rows, sweep_dir)
    _print(rows, sweep_dir)
    return rows


def _job_row(job_dir: Path) -> dict[str, Any]:
    overrides = _yaml(job_dir / ".hydra" / "overrides.yaml")
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(overrides), "status": "failed", "score": None,
                           "scored_on": None}
    row.update({key: None for key in SHOWN})
    result_file = job_dir / "result.json"
    if result_file.is_file():
        whole = json.loads(result_file.read_text())
        scored_on = "out_of_sample" if "out_of_sample" in whole else "whole"
        result = whole.get("out_of_sample", whole)
        row["scored_on"] = scored_on
        cfg = OmegaConf.create(_yaml(job_dir / ".hydra" / "config.yaml"))  # keeps interpolations resolvable
        weights = to_params(SummaryWeights, cfg.get("summary", {}), "summary")
        row.update({key: result[key] for key in SHOWN}, status="stopped" if "stopped" in whole else "ok",
                   score=round(score(result, weights), 6))
    return row


def _yaml(path: Path) -> Any:
    """A job's saved YAML as plain data, read by libyaml when PyYAML has it: a sweep of hundreds of jobs reads one
    config each, and OmegaConf's loader takes ~10 ms a file where libyaml takes under 1."""
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _write(rows: list[dict[str, Any]], sweep_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    columns = ["rank", "job", "status", "score", "scored_on", *SHOWN, "overrides"]
    table = pa.table({c: [row[c] for row in rows] for c in columns})
    pcsv.write_csv(table, sweep_dir / "summary.csv")
    pq.write_table(table, sweep_dir / "summary.parquet")


def _cell(value: Any) -> str:
    """A figure as the console shows it: "n/a" for a figure not defined on this run."""
    return "n/a" if value is None else f"{value:,.4f}" if isinstance(value, float) else str(value)


def _print(rows: list[dict[str, Any]], sweep_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sweep summary ({sweep_dir}/summary.csv)")
    for col in ("rank", "overrides", "status", "score", *SHOWN):
        table.add_column(col, justify="left" if col in ("overrides", "status") else "right")
    for row in rows:
        cells = [row["rank"], row["overrides"], row["status"], row["score"], *(row[c] for c in SHOWN)]
        table.add_row(*("-" if v is None and row["status"] == "failed" else _cell(v) for v in cells))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(table)
