"""The ranked summary of a multirun: ``summary.csv`` and ``summary.parquet`` in the sweep directory, and a console
table, each job scored by :mod:`botmm.runners.score`.

Only complete jobs are ranked. Each row has a ``status``: ``ok``; ``no trades`` when the scored figures have fewer
than ``summary.min_fills`` fills (ranked below every job that traded: doing nothing scores 0, which beats any loss);
``stopped`` when risk ended the job (ruin: ``stopped`` in its ``result.json``; ranked after every job that ran to
the end, with its figures);
``interrupted`` (Ctrl-C, or a job that started and never ended); ``failed: <one line>`` with the error. Interrupted
and failed jobs come last with no rank and no score, so a sweep with failures still gets its table.
"""

from __future__ import annotations

import json
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
from botmm.pipeline import stop_status
from botmm.runners.result_table import cell
from botmm.runners.score import judged

SWEEP_JOBS_ENV = "BOTMM_SWEEP_JOBS"
ERROR_FILE = "error.txt"  # a failed job's one-line status, written into its output dir when it ends
NO_TRADES = "no trades"
STOPPED = "stopped"
SHOWN = ("pnl", "return_pct", "sharpe", "max_drawdown_pct", "fills", "volume", "fees")  # a sweep row's figures


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
        config = _yaml(job_dir / ".hydra" / "config.yaml")
        summary = config.get("summary") or {}
        if "${" in str(summary):  # an interpolation: resolved in the whole config (30 ms a job, so only then)
            summary = OmegaConf.create(config).get("summary", {})
        weights = to_params(SummaryWeights, summary, "summary")
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
        table.add_row(*("-" if v is None and row["rank"] is None else cell(v) for v in cells))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(table)
