"""Candle backtest speed: bars per second through the full default pipeline, and the speedup of a 12-job sweep
with the joblib launcher at 2 workers against 1.

    python benchmarks/candle_backtest.py            # both figures
    python benchmarks/candle_backtest.py --no-sweep # bars per second only
    python benchmarks/candle_backtest.py --repeat 3 # each sweep 3 times, 1 and 2 workers alternating
    python benchmarks/candle_backtest.py --months 12 --no-sweep  # a synthetic year: bars/s and peak memory
    python benchmarks/candle_backtest.py --no-sweep --profile    # where the time goes, by component (cProfile)

The bars are the month of FTX BTC-PERP 1-minute candles in the shared data folder (``$BOTMM_SHARED_DATA`` or
``shared/data`` beside the repository) when present, else a synthetic month. Timing covers the tick loop only
(``Pipeline.step`` and the candle venue), after the job is built, on one core; process CPU time is printed beside
wall time because a busy machine slows wall time alone. For the same reason each sweep runs ``--repeat`` times (1
and 2 workers alternating, so a slow spell hits both) and the speedup is taken between the fastest of each; every run
also shows when its first and last job ended (``[sweep]`` lines) — the serial head (start-up, pre-validation, worker
start) and tail (summary) around the jobs — and the CPU time of the sweep's processes.

``--months N`` runs N synthetic months (43,800 one-minute bars each: a year is 525,600) instead, on a capital of
1,000,000 so that the default strategy's steady loss does not end the run at the drawdown limit before the data
does. Every run prints the process's peak resident memory (outputs written included); a year's target is 300 MB.

``--profile`` runs the tick loop under cProfile and prints each component's own time (the functions of each source
file, the interpreter's built-ins apart) as a share of the loop: cProfile slows the loop, so its bars/s is not the
figure to quote.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_module

from botmm import speedups
from botmm.pipeline import Run, Pipeline
from botmm.registry import load_plugins

FTX = "candles/ftx_btc-perp_20211231-20220201_1m.csv"
BARS_PER_MONTH = 43_800  # a twelfth of a 365-day year of 1-minute bars


def shared_data() -> Path:
    env = os.environ.get("BOTMM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def month_overrides() -> tuple[list[str], str]:
    ftx = shared_data() / FTX
    if ftx.is_file():
        return ["feed=candles_file", f"feed.path={ftx}", "feed.volume_unit=quote", "asset=btc"], f"FTX file {ftx.name}"
    print(f"shared FTX candles not found at {ftx}: using a synthetic month", file=sys.stderr)
    return ["feed.bars=44640"], "synthetic month"


def bars_per_second(overrides: list[str], profile: bool = False) -> tuple[int, float, float]:
    load_plugins()
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose("backtest", overrides=overrides)
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, Path(tempfile.mkdtemp())))
    strategy.start()
    venue, step = strategy.venue, strategy.step
    venue.next_tick()  # the feed is read at the first tick: keep file parsing out of the loop's timing
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    ticks = 0
    while (now := venue.next_tick()) is not None:
        step(now)
        ticks += 1
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    strategy.stop()
    if profiler:
        print_components(pstats.Stats(profiler))
    return ticks, wall, cpu


def print_components(stats: pstats.Stats) -> None:
    """Own time per source file of the project (path from the repository), the rest by file name."""
    root = str(Path(__file__).resolve().parents[1]) + os.sep
    own: dict[str, float] = {}
    for (path, _, _), (_, _, seconds, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = "built-ins" if path == "~" else path[len(root):] if path.startswith(root) else Path(path).name
        own[name] = own.get(name, 0.0) + seconds
    total = sum(own.values())
    for name, seconds in sorted(own.items(), key=lambda item: -item[1])[:14]:
        print(f"  {name:<40} {100 * seconds / total:5.1f} %")


@dataclass
class Sweep:
    """One timed sweep: wall seconds, when its first and last job ended, CPU seconds of all its processes."""

    wall: float
    first_job: float
    last_job: float
    cpu: float

    def __str__(self) -> str:
        return (f"{self.wall:.1f} s (jobs ended {self.first_job:.1f}..{self.last_job:.1f} s, "
                f"{self.cpu:.1f} s CPU)")


def sweep(workers: int, overrides: list[str]) -> Sweep:
    spreads = ",".join(str(s) for s in range(1, 13))
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryFile("w+") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "botmm", "-m", "backtest", f"quoter.spread_bps={spreads}", *overrides,
             "hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"],
            cwd=cwd, stdout=out, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None
        ended, stderr = [], []
        for line in proc.stderr:
            if line.startswith("[sweep] job "):
                ended.append(time.perf_counter() - start)
            stderr.append(line)
        if proc.wait():
            out.seek(0)
            sys.exit(f"sweep with {workers} worker(s) failed:\n{out.read()}{''.join(stderr[-20:])}")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return Sweep(wall, min(ended, default=wall), max(ended, default=wall), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sweep", action="store_true", help="skip the 12-job sweep timing")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each sweep; the fastest counts [2]")
    parser.add_argument("--months", type=float, help="synthetic months of 1-minute bars instead of one month")
    parser.add_argument("--profile", action="store_true", help="print each component's share of the loop's time")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(f"botmm's {speedups.describe()} (BOTMM_PURE_PYTHON=1: the pure-Python one)")
    if args.months:
        bars = round(args.months * BARS_PER_MONTH)
        overrides, source = [f"feed.bars={bars}", "capital=1000000"], f"synthetic {args.months:g} months"
    else:
        overrides, source = month_overrides()
    ticks, wall, cpu = bars_per_second(overrides, args.profile)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"candle backtest, {source}: {ticks:,} bars in {wall:.3f} s wall / {cpu:.3f} s CPU "
          f"= {ticks / wall:,.0f} bars/s ({1e6 * cpu / ticks:.1f} us CPU per bar); peak memory {peak_mb:,.0f} MB")
    if not args.no_sweep:
        runs: dict[int, list[Sweep]] = {1: [], 2: []}
        for _ in range(max(args.repeat, 1)):
            for workers, done in runs.items():
                done.append(sweep(workers, overrides))
                print(f"  {workers} worker(s): {done[-1]}", file=sys.stderr)
        one, two = (min(s.wall for s in done) for done in runs.values())
        print(f"12-job sweep, joblib: 1 worker {one:.1f} s, 2 workers {two:.1f} s, speedup {one / two:.2f}x")


if __name__ == "__main__":
    main()
