"""Walk-forward re-optimisation on the FTX month: ``botmm reoptimize`` with rolling folds, then its folds, each
fold's choice and out-of-sample (test window) score beside the incumbent's, the decision and the wall time.

    python benchmarks/walk_forward.py                      # 4 rolling folds, spreads 4, 10, 30, 60 bps
    python benchmarks/walk_forward.py --folds 3 --anchored
    python benchmarks/walk_forward.py --sweep quoter.spread_bps=5,20 --sweep quoter.inventory_skew_factor=0.25,1

The bars are the month of FTX BTC-PERP 1-minute candles in the shared data folder (``$BOTMM_SHARED_DATA`` or
``shared/data`` beside the repository); without them the benchmark says so and stops. The incumbent is the default
quoter (an empty live params file). Everything is written to a temporary folder, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FTX = "candles/ftx_btc-perp_20211231-20220201_1m.csv"


def shared_data() -> Path:
    env = os.environ.get("BOTMM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--test", type=float, default=0.1, help="each test window, a fraction of the month")
    parser.add_argument("--train", type=float, default=0.3, help="each rolling training window, a fraction")
    parser.add_argument("--purge", default="1h")
    parser.add_argument("--anchored", action="store_true")
    parser.add_argument("--sweep", action="append", default=None, help="a quoter.<key>=<values> override")
    args = parser.parse_args()
    ftx = shared_data() / FTX
    if not ftx.is_file():
        sys.exit(f"the FTX month is not at {ftx} (set BOTMM_SHARED_DATA to the shared data folder)")
    sweep = args.sweep or ["quoter.spread_bps=4,10,30,60"]
    with tempfile.TemporaryDirectory() as work:
        command = [sys.executable, "-m", "botmm", "reoptimize", "feed=candles_file", f"feed.path={ftx}",
                   "feed.volume_unit=quote", "asset=btc", "backtest.split=null",
                   f"backtest.walk_forward.folds={args.folds}", f"backtest.walk_forward.test={args.test}",
                   f"backtest.walk_forward.train={args.train}", f"backtest.walk_forward.purge={args.purge}",
                   f"backtest.walk_forward.anchored={str(args.anchored).lower()}",
                   "reoptimize.sweep=[" + ",".join(f'"{o}"' for o in sweep) + "]", "hydra.run.dir=run",
                   "logging.console=false"]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode:
            sys.exit(f"botmm reoptimize failed:\n{proc.stderr[-3000:]}")
        record = json.loads((Path(work) / "run" / "decision.json").read_text())
        incumbent = json.loads((Path(work) / "run" / "incumbent" / "result.json").read_text())
    kind = "anchored" if args.anchored else f"rolling (train {args.train:g} of the month)"
    print(f"FTX BTC-PERP month, {args.folds} {kind} folds, test windows {args.test:g} of the month each, purge "
          f"{args.purge}; sweep {' '.join(sweep)}; incumbent: the default quoter")
    print(f"{'fold':>4}  {'test window (UTC)':<35} {'chosen on training window':<40} {'test score':>10} "
          f"{'incumbent':>10} {'test pnl':>9}")
    for k, fold in enumerate(record["folds"], 1):
        window = _window(incumbent["folds"][k - 1]["window_ms"]["test"])
        params = ", ".join(f"{key}={value}" for key, value in fold["params"].items())
        print(f"{k:>4}  {window:<35} {params:<40} {fold['test']:>10.3f} {fold['incumbent_test']:>10.3f} "
              f"{fold['test_pnl']:>9.2f}")
    print(f"mean out-of-sample score: chosen {record['candidate']['out_of_sample']:.3f}, incumbent "
          f"{record['incumbent']['out_of_sample']:.3f}; beaten in {record['wins']}/{len(record['folds'])} folds; "
          f"out-of-sample pnl {record['oos_pnl']:.2f}")
    print(f"decision: {record['decision'].upper()} ({record['reason']})")
    print(f"wall time: {wall:.1f} s ({record['jobs_ok']} sweep jobs + the incumbent, one process)")


def _window(edges: list[int]) -> str:
    from datetime import datetime, timezone

    return " -> ".join(datetime.fromtimestamp(t / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M") for t in edges)


if __name__ == "__main__":
    main()
