"""A full day of synthetic L2 order flow through the replay venue: events per second and peak memory.

    python benchmarks/replay_synthetic_day.py [--hours 24] [--interval-ms 100] [--pipeline]

The synthetic feed (botmm.data.synthetic_l2) is generated and replayed chunk by chunk, so memory stays flat however
long the run. By default the touch quoter of botmm.sim.differential quotes every interval (one post-only bid and ask
at the touch, cancel and repost); ``--pipeline`` runs the whole Pipeline.step instead (the default ``botmm replay``
components), whose per-tick Python dominates the time. Peak memory is this process's peak resident set.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def touch_quoter(hours: float, interval_ms: int) -> tuple[int, int, int, float]:
    from botmm.data.synthetic_l2 import SyntheticL2Params
    from botmm.plugins.feeds.l2 import SyntheticL2Feed
    from botmm.sim.differential import TouchParams, run_botmm

    feed = SyntheticL2Feed(SyntheticL2Params(duration_s=hours * 3600.0), "ETH")
    result = run_botmm(feed, TouchParams(interval_ns=interval_ms * 1_000_000, qty_lots=10, max_lots=100))
    return result.events, result.steps, result.filled_buy + result.filled_sell, result.seconds


def pipeline(hours: float, interval_ms: int) -> tuple[int, int, int, float]:
    from hydra import compose, initialize_config_module

    from botmm.pipeline import Run, Pipeline
    from botmm.registry import load_plugins
    from botmm.runners.simulate import drive

    load_plugins()
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose(config_name="replay", overrides=[f"feed.duration={hours}h", f"interval={interval_ms}ms"])
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, Path(tempfile.mkdtemp())))
    start = time.thread_time()
    drive(strategy)
    seconds = time.thread_time() - start
    stats = strategy.venue.fill_stats()
    return stats["events_exchange"], stats["ticks"], stats["fills"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--pipeline", action="store_true", help="run Pipeline.step rather than the touch quoter")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the pipeline's risk notices would flood the figures
    from botmm.data.synthetic_l2 import SyntheticL2Params, synthetic_l2
    from botmm.sim.differential import TouchParams, run_botmm
    from botmm.data.l2 import MemoryL2Feed
    from botmm.data.synthetic_l2 import synthetic_meta

    warm = SyntheticL2Params(duration_s=60.0)  # compile (or load from cache) the generator and the replay
    run_botmm(MemoryL2Feed(synthetic_l2(warm), synthetic_meta(warm, "ETH")), TouchParams())
    baseline = peak_mb()
    runner = pipeline if args.pipeline else touch_quoter
    events, ticks, fills, seconds = runner(args.hours, args.interval_ms)
    what = "Pipeline.step (botmm replay defaults)" if args.pipeline else "touch quoter"
    print(f"{args.hours:g} h of synthetic ETH order flow, {what} every {args.interval_ms} ms")
    print(f"  {events:,} events, {ticks:,} ticks, {fills:,} fills in {seconds:.1f} CPU s: "
          f"{events / seconds / 1e6:.2f} M events/s, {ticks / seconds:,.0f} ticks/s")
    print(f"  peak memory {peak_mb():.0f} MB ({peak_mb() - baseline:.0f} MB above the process after imports and "
          f"compilation); target < 300 MB")


if __name__ == "__main__":
    main()
