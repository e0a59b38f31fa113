"""Backtests: the data's own clock calls ``Pipeline.step`` once per bar (or replay interval), as fast as the machine
goes, with a progress bar when the terminal is interactive (``progress=true|false`` forces it). A backtest ends
early when risk stops the account (ruin): ``result.json`` then says why in ``stopped``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from omegaconf import DictConfig

from botmm.config import check_job, parse_duration
from botmm.errors import ConfigError
from botmm.pipeline import Run, Pipeline
from botmm.protocols import SimulatedVenue

_PROGRESS_EVERY = 2048  # ticks between progress-bar updates: cheap enough to vanish in the loop


def backtest(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run one backtest over the feed, or its first ``duration`` of data time, and return its result (also written
    into ``output_dir``)."""
    check_job(cfg)
    show = sys.stderr.isatty() if cfg.progress is None else bool(cfg.progress)
    mode = "replay" if cfg.fill_model.name == "orderbook" else "backtest"
    duration_ms = None if cfg.duration is None else round(parse_duration(cfg.duration, "duration") * 1000)
    return drive(Pipeline(cfg, Run(cfg, mode, cfg.asset.symbol, output_dir)), progress=show, duration_ms=duration_ms)


def drive(strategy: Pipeline, progress: bool = False, duration_ms: int | None = None,
          after_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Tick ``strategy`` at every step of its simulated venue's clock until the data ends, risk stops it (ruin) or,
    with ``duration_ms``, at the ticks less than that after the first one (``duration=1h`` on 1-minute bars: 60
    ticks). ``after_step(now)`` taps each tick once it is done (training data reads the strategy's state there)."""
    if not isinstance(strategy.venue, SimulatedVenue):
        raise ConfigError(f"exchange={strategy.run.cfg.exchange.name}: not a simulated venue; backtests need one")
    step, next_tick, risk = strategy.step, strategy.venue.next_tick, strategy.risk
    with strategy.session(), _bar(progress, f"{strategy.run.mode} {strategy.run.symbol}") as show:
        ticks = 0
        end: int | None = None
        while (now := next_tick()) is not None:
            if end is None and duration_ms is not None:
                end = now + duration_ms
            if end is not None and now >= end:
                break
            step(now)
            if after_step is not None:
                after_step(now)
            if risk.stopped:
                break
            ticks += 1
            if show is not None and ticks % _PROGRESS_EVERY == 0:
                show(ticks)
    return strategy.outcome


@contextmanager
def _bar(show: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """Yields a function that shows the tick count in a rich progress display (the feed's length may be unknown),
    or None when there is no display."""
    if not show:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"{label}: {{task.completed:,}} ticks"), TimeElapsedColumn(),
                  transient=True) as progress:
        task = progress.add_task("ticks", total=None)
        yield lambda ticks: progress.update(task, completed=ticks)
