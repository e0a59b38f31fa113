"""botmm's order-book replay against hftbacktest 2.4.4 on every shared Binance capture, with the same touch quoter:
fills, position and PnL side by side, then events per second of both engines (peak memory on the first capture).

    python benchmarks/replay_vs_hftbacktest.py [--repeat 3] [--profile]

Needs the shared data (``$BOTMM_SHARED_DATA`` or ``shared/data`` beside the repository) and hftbacktest
(``pip install 'botmm[validate]'``). Speed is the CPU time of the strategy loop alone (data in memory, code compiled),
the best of ``--repeat`` interleaved runs; ``events`` are the dataset's source events (each replayed on the exchange
and the local side). Loading and converting the data is outside the timing for both engines: each loop starts on
its engine's data in memory. botmm runs the touch quoter twice: compiled against its kernel, as hftbacktest's loop
is (``run_botmm_compiled``), and through the venue's Python methods that ``Pipeline.step`` uses (``run_botmm``).
Spot captures go to hftbacktest through the reference normalisation (``botmm.sim.differential.normalise_spot``).
Peak memory is the resident set of a fresh process that loads and replays the file once. ``--profile`` adds, per
capture, where the Python loop's time goes (cProfile, by function: the kernel call, the venue's methods, the quoter).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import logging
import os
import pstats
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# every shared Binance capture; a spot capture that continues another (no snapshot) is replayed after it, as one stream
CAPTURES = {
    "USD-M btcusdt_20240808": ("binance_usdm/btcusdt_20240808.gz",),
    "spot btcusdt_20240808": ("binance_spot/btcusdt_20240808.gz",),
    "spot btcusdt_20240808+09": ("binance_spot/btcusdt_20240808.gz", "binance_spot/btcusdt_20240809.gz"),
}


def shared_data() -> Path:
    env = os.environ.get("BOTMM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rss_mb() -> float:
    """This process's peak resident set since start (or since ``reset_peak``), MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start the peak-memory count afresh (Linux): a child made by fork inherits its parent's peak."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def child(engine: str, path: str) -> None:
    """Replay ``path`` once in this fresh process and print its peak memory as JSON."""
    import numpy as np

    from botmm.data.l2 import read_meta
    from botmm.plugins.feeds.l2 import L2FileFeed
    from botmm.sim.differential import TouchParams, run_botmm, run_hftbacktest

    reset_peak()
    if engine == "botmm":
        feed = L2FileFeed(path)
        baseline = rss_mb()
        result = run_botmm(feed, TouchParams())
    else:
        meta = read_meta(os.environ["BOTMM_BENCH_META"])
        baseline = rss_mb()
        data = np.load(path)["data"]
        result = run_hftbacktest(data, meta, TouchParams())
    print(json.dumps({"peak_mb": rss_mb(), "baseline_mb": baseline, "fills": result.filled_buy + result.filled_sell}))


def peak_memory(engine: str, path: Path, meta_path: Path) -> dict:
    env = {**os.environ, "BOTMM_BENCH_META": str(meta_path)}
    out = subprocess.run([sys.executable, __file__, "--child", engine, str(path)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fills_table(name: str, rows: list[tuple[str, str, Any]]) -> None:
    print(f"\n{name}: touch quoter, 100 ms interval, 10 ms + 10 ms latency, 1 lot, cap 10 lots, no fees")
    print(f"{'engine':<32}{'queue':<13}{'buy':>5}{'sell':>6}{'position':>10}{'cash':>12}{'equity PnL':>12}"
          f"{'bids':>6}{'asks':>6}{'rejected':>9}{'steps':>7}")
    for label, queue, r in rows:
        print(f"{label:<32}{queue:<13}{r.filled_buy:>5}{r.filled_sell:>6}{r.final_position:>10.3f}{r.cash:>12.4f}"
              f"{r.equity_pnl:>12.4f}{r.bids_posted:>6}{r.asks_posted:>6}{r.rejected:>9}{r.steps:>7}")


def best_seconds(events: Any, meta: Any, hbt: Any, p: Any, repeat: int) -> dict[str, float]:
    """The fastest of ``repeat`` interleaved runs of each engine, CPU seconds of the strategy loop: botmm's touch
    quoter compiled against its kernel (like hftbacktest's) and through the venue's Python methods."""
    from botmm.data.l2 import MemoryL2Feed
    from botmm.sim.differential import run_botmm, run_botmm_compiled, run_hftbacktest

    times: dict[str, list[float]] = {"botmm": [], "botmm python": [], "hftbacktest": []}
    for _ in range(repeat):
        times["botmm"].append(run_botmm_compiled(MemoryL2Feed(events, meta), p).seconds)
        times["botmm python"].append(run_botmm(MemoryL2Feed(events, meta), p).seconds)
        if hbt is not None:
            times["hftbacktest"].append(run_hftbacktest(hbt, meta, p).seconds)
    return {engine: min(t) for engine, t in times.items() if t}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile the Python loop on each capture")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    if args.child:
        child(*args.child)
        return
    missing = [shared_data() / f for files in CAPTURES.values() for f in files if not (shared_data() / f).is_file()]
    if missing:
        print(f"shared data not found: {missing[0]} is absent (set BOTMM_SHARED_DATA to the shared data folder)")
        sys.exit(1)
    import numpy as np

    from botmm.data.convert import convert_binance
    from botmm.data.l2 import KIND_DELTA, L2Events, MemoryL2Feed, read_l2, read_meta
    from botmm.sim.differential import (TouchParams, hftbacktest_data, normalise_spot, run_botmm, run_botmm_compiled,
                                        run_hftbacktest, warm_up)

    with_hbt = importlib.util.find_spec("hftbacktest") is not None
    if not with_hbt:
        print("hftbacktest is not installed (pip install 'botmm[validate]'): showing botmm's figures only")
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (name, files) in enumerate(CAPTURES.items()):
            paths = [shared_data() / f for f in files]
            source = paths[0] if len(paths) == 1 else paths
            spot = "spot" in files[0]
            hbt = None
            if with_hbt:
                hbt = hftbacktest_data(normalise_spot(paths, Path(tmp) / f"spot{number}.gz") if spot else paths[0])
            datasets = {}
            for sequence in ("none",) if spot else ("none", "binance"):
                out = Path(tmp) / f"{number}-{sequence}"
                convert_binance(source, out, sequence=sequence)
                datasets[sequence] = (out, read_l2(out), read_meta(out))
            _, events, meta = datasets["none"]
            if number == 0:
                warm_up(events, meta, hbt)
            variants = [("sequence=none", events, meta)]
            if not spot:
                # sequence=binance drops the diffs received before the snapshot, so its clock starts at the first
                # trade, 24 ms after hftbacktest's; a no-op row (deleting an empty level) at hftbacktest's start
                # aligns the ticks
                _, bin_events, bin_meta = datasets["binance"]
                t0 = int(events.ts_exchange[0])
                noop = L2Events.build(ts_exchange=[t0], ts_local=[t0], kind=[KIND_DELTA], side=[1], price=[1.0],
                                      size=[0.0])
                variants += [("sequence=binance", bin_events, bin_meta),
                             ("binance, clock aligned", L2Events.concat([noop, bin_events]), bin_meta)]
            rows = []
            for queue in ("risk_averse", "power2"):
                p = TouchParams(queue=queue)
                if hbt is not None:
                    rows.append(("hftbacktest 2.4.4", queue, run_hftbacktest(hbt, meta, p)))
                rows.append(("botmm (compiled loop)", queue, run_botmm_compiled(MemoryL2Feed(events, meta), p)))
                rows += [(f"botmm ({label})", queue, run_botmm(MemoryL2Feed(ev, m), p)) for label, ev, m in variants]
            fills_table(name, rows)

            n = len(events)
            print(f"\nspeed: {n:,} source events (hftbacktest's file has {len(hbt) if hbt is not None else 0:,} "
                  f"rows), best of {args.repeat} interleaved runs, CPU time of the strategy loop")
            ratios = {}
            for label, p in (("touch quoter", TouchParams()),
                             ("replay alone (quoting nothing)", TouchParams(max_lots=0))):
                best = best_seconds(events, meta, hbt, p, args.repeat)
                print(f"  {label}")
                for engine, seconds in best.items():
                    print(f"    {engine:<12} {seconds * 1e3:8.1f} ms  {n / seconds / 1e6:6.2f} M events/s")
                if "hftbacktest" in best:
                    for engine in ("botmm", "botmm python"):
                        ratios[label, engine] = best["hftbacktest"] / best[engine]
                        print(f"    ratio {engine} / hftbacktest throughput: {ratios[label, engine]:.2f}")
            summary.append((name, n, rows[-1][2].steps, ratios))
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(run_botmm, MemoryL2Feed(events, meta), TouchParams())
                print("\n  the Python loop by function (cProfile adds its own cost per call: compare shares)")
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(10)

            if number == 0:
                npz = Path(tmp) / "hbt.npz"
                print("\npeak memory (fresh process: imports, compiled code, data, one replay)")
                results = {"botmm": peak_memory("botmm", datasets["none"][0], datasets["none"][0])}
                if hbt is not None:
                    np.savez_compressed(npz, data=hbt)
                    results["hftbacktest"] = peak_memory("hftbacktest", npz, datasets["none"][0])
                for engine, r in results.items():
                    print(f"  {engine:<12} peak {r['peak_mb']:7.1f} MB, {r['peak_mb'] - r['baseline_mb']:6.1f} MB "
                          f"above the process before loading data ({r['fills']} fills)")
    if with_hbt:
        print("\nsummary: botmm / hftbacktest events/s at a 100 ms tick (target >= 2 with the touch quoter); botmm's "
              "loop compiled against its kernel as hftbacktest's is, and through the venue's Python methods")
        print(f"{'capture':<28}{'events':>10}{'steps':>7}{'touch':>9}{'alone':>9}{'touch (python)':>16}"
              f"{'alone (python)':>16}")
        for name, n, steps, ratios in summary:
            cells = [ratios[label, engine] for engine in ("botmm", "botmm python")
                     for label in ("touch quoter", "replay alone (quoting nothing)")]
            print(f"{name:<28}{n:>10,}{steps:>7}{cells[0]:>9.2f}{cells[1]:>9.2f}{cells[2]:>16.2f}{cells[3]:>16.2f}")


if __name__ == "__main__":
    main()
