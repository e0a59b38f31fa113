"""Wall-clock runs (``botmm run``): an asyncio loop ticks ``Strategy.step`` every ``interval`` until ``duration``
elapses or SIGINT/SIGTERM arrives, then cancels every order and writes the results."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from botmm.config import parse_duration
from botmm.pipeline import Run, Strategy


def run(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    interval = parse_duration(cfg.interval, "interval")
    duration = parse_duration(cfg.duration, "duration") if cfg.duration is not None else None
    strategy = Strategy(cfg, Run(cfg, "run", cfg.asset.symbol, output_dir))
    with strategy.session():
        asyncio.run(_tick(strategy, interval, duration))
    return strategy.outcome


async def _tick(strategy: Strategy, interval: float, duration: float | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = None if duration is None else loop.time() + duration
    try:
        while not stop.is_set():
            strategy.step(int(time.time() * 1000))
            wait = interval if deadline is None else min(interval, deadline - loop.time())
            if wait <= 0:
                break
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
