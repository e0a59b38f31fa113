"""Backtests: the data's own clock calls ``Strategy.step`` once per bar, as fast as the machine goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from botmm.errors import ConfigError
from botmm.pipeline import Run, Strategy


def backtest(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run one backtest over the whole feed and return its result (also written into ``output_dir``)."""
    return drive(Strategy(cfg, Run(cfg, "backtest", cfg.asset.symbol, output_dir)))


def drive(strategy: Strategy) -> dict[str, Any]:
    """Tick ``strategy`` at every bar close of its simulated venue until the data ends."""
    venue = strategy.venue
    if not hasattr(venue, "next_tick"):
        raise ConfigError(f"exchange={strategy.run.cfg.exchange.name}: not a simulated venue; backtests need one")
    with strategy.session():
        while (now := venue.next_tick()) is not None:
            strategy.step(now)
    return strategy.outcome
