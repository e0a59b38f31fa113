"""The cost of one ``Strategy.step`` with all default components, and with the adaptive strategy's full set
(dynamic sizer, toxicity, book imbalance and directional signals), in microseconds per tick.

    python benchmarks/step_cost.py
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from botmm.pipeline import Run, Strategy
from botmm.registry import load_plugins

SETUPS = {"default": [], "adaptive + glft": ["strategy=adaptive", "quoter=glft"]}
BARS = 30_000


def per_tick(overrides: list[str]) -> tuple[float, float]:
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose("backtest", overrides=[f"feed.bars={BARS}", *overrides])
    strategy = Strategy(cfg, Run(cfg, "backtest", cfg.asset.symbol, Path(tempfile.mkdtemp())))
    strategy.start()
    venue, step = strategy.venue, strategy.step
    ticks = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while (now := venue.next_tick()) is not None:
        step(now)
        ticks += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    strategy.stop()
    return 1e6 * wall / ticks, 1e6 * cpu / ticks


def main() -> None:
    logging.disable(logging.INFO)
    load_plugins()
    for name, overrides in SETUPS.items():
        wall, cpu = per_tick(overrides)
        print(f"Strategy.step, {name}: {wall:.1f} us wall, {cpu:.1f} us CPU per tick (synthetic, {BARS:,} ticks)")


if __name__ == "__main__":
    main()
