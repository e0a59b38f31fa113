"""The cost of one ``Pipeline.step`` with all default components; with the touch quoter, the pipeline's
counterpart of the replay comparison's touch quoter (one level a side at the mid rounded out to the tick: no minimum
spread, no volatility widening, no inventory skew, so the quoter's own arithmetic is least and the step's fixed
costs show); and with the adaptive strategy's full set (dynamic sizer, toxicity, book imbalance and directional
signals), in microseconds per tick. The last setup runs
the defaults while the status server (:mod:`botmm.status`) serves the strategy and is asked for its page and
metrics every 0.5 s, as a browser and a busy Prometheus would (its CPU figure includes the server's threads).

    python benchmarks/step_cost.py
    python benchmarks/step_cost.py --setup "touch quoter" --ticks 4000   # one setup, another length

On a busy machine even CPU time drifts by tens of percent; machine instructions do not. Run one setup under
``valgrind --tool=callgrind`` at two lengths: the difference of the two totals over the difference of the ticks is
the instructions of one step, start-up and imports cancelled out (docs/performance.md).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from botmm import speedups
from botmm.pipeline import Run, Pipeline
from botmm.registry import load_plugins
from botmm.status import open_server, serve_run

TOUCH = ["quoter.spread_bps=1e-9", "quoter.vol_multiplier=0", "quoter.inventory_skew_factor=0", "quoter.num_levels=1"]
SETUPS = {"default": [], "touch quoter": TOUCH, "adaptive + glft": ["strategy=adaptive", "quoter=glft"],
          "default, status served": []}
BARS = 30_000
ASKED_EVERY_S = 0.5


@contextmanager
def status_asked(strategy: Pipeline) -> Iterator[None]:
    """Serve ``strategy`` on a free port and ask for the page and the metrics every ``ASKED_EVERY_S``."""
    server = open_server(OmegaConf.create({"server": {"port": 0}}), "benchmark")
    serve_run(server, [strategy], {})
    done = threading.Event()

    def ask() -> None:
        while not done.wait(ASKED_EVERY_S):
            for path in ("", "metrics"):
                urllib.request.urlopen(server.url + path, timeout=10).read()

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        yield
    finally:
        done.set()
        asker.join()
        server.close()


def per_tick(overrides: list[str], served: bool = False, bars: int = BARS) -> tuple[float, float]:
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose("backtest", overrides=[f"feed.bars={bars}", *overrides])
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, Path(tempfile.mkdtemp())))
    strategy.start()
    venue, step = strategy.venue, strategy.step
    ticks = 0
    with status_asked(strategy) if served else nullcontext():
        wall, cpu = time.perf_counter(), time.process_time()
        while (now := venue.next_tick()) is not None:
            step(now)
            ticks += 1
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    strategy.stop()
    return 1e6 * wall / ticks, 1e6 * cpu / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=list(SETUPS), help="run only this setup [all]")
    parser.add_argument("--ticks", type=int, default=BARS, help=f"synthetic bars, one tick each [{BARS}]")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(f"botmm's {speedups.describe()} (BOTMM_PURE_PYTHON=1: the pure-Python one)")
    load_plugins()
    for name, overrides in SETUPS.items():
        if args.setup in (None, name):
            wall, cpu = per_tick(overrides, "status" in name, args.ticks)
            print(f"Pipeline.step, {name}: {wall:.1f} us wall, {cpu:.1f} us CPU per tick "
                  f"(synthetic, {args.ticks:,} ticks)")


if __name__ == "__main__":
    main()
