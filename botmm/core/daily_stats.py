"""The built-in ``daily_stats`` plugin: at the end of every job that traded (its output dir holds ``equity.parquet``),
``botmm_run_end`` writes ``daily_stats.json`` (days and cumulative figures) and ``daily_stats.csv`` (one row per day)
there, from :class:`~botmm.core.daily_metrics.MetricsTracker`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botmm.core.daily_metrics import MetricsTracker
from botmm.registry import hookimpl


@hookimpl
def botmm_run_end(run: Any, result: dict[str, Any]) -> None:
    """Write ``daily_stats.json``/``.csv`` beside ``result.json`` for jobs that traded (see the module docstring)."""
    output_dir = Path(run.output_dir)
    if (output_dir / "equity.parquet").is_file():
        MetricsTracker.from_outputs(output_dir, float(run.cfg.capital)).write(output_dir, run.symbol)
