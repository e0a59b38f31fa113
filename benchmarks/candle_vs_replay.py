"""How close the candle backtest comes to the order-book replay on the same market: the realism figure.

    python benchmarks/candle_vs_replay.py                 # 4 h of synthetic L2, spreads 2, 5, 10, 20 bps
    python benchmarks/candle_vs_replay.py --hours 2 --spreads 5,10

One synthetic market is generated at the L2 level (``feed=synthetic_l2``, the job's seed); its trades are aggregated
into 1-minute candles (open/high/low/close of the trade prices, base volume; a minute without trades repeats the
last close with volume 0). The same strategy (the replay preset's components, ``quoter.spread_bps`` swept) then runs
by the order-book replay (queue position, latency, partial fills) and by the candle backtest on those candles, in
each candle setting of :data:`SETTINGS`: the fill rule, and the volume cap with each candle path (without a cap every
order a bar reaches fills in full and the path only orders the fills, so it cannot change them). The table gives
fills and PnL of each, and their ratios candle/replay: 1.0 is a candle backtest that tells the replay's story. The
last table ranks the settings by how far their ratios stray from 1 over all spreads (mean |log ratio|, fills and PnL
apart; a PnL of the other sign than the replay's counts as infinitely far). The replay is the reference, not the
truth: it is the most detailed model botmm has of the same market.
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from botmm.config import AssetConfig, to_params
from botmm.data.l2 import KIND_TRADE
from botmm.pipeline import Run, Strategy
from botmm.registry import BuildContext, build, load_plugins
from botmm.runners.simulate import drive

SETTINGS = {
    "through, no cap": ["fill_model.rule=through", "fill_model.volume_cap=null"],
    "through, cap 0.1, adverse": ["fill_model.rule=through", "fill_model.volume_cap=0.1", "fill_model.path=adverse"],
    "through, cap 0.1, OHLC": ["fill_model.rule=through", "fill_model.volume_cap=0.1",
                               "fill_model.path=open-high-low-close"],
    "through, cap 0.1, OLHC": ["fill_model.rule=through", "fill_model.volume_cap=0.1",
                               "fill_model.path=open-low-high-close"],
    "touch, no cap": ["fill_model.rule=touch", "fill_model.volume_cap=null"],
    "touch, cap 0.1, adverse": ["fill_model.rule=touch", "fill_model.volume_cap=0.1", "fill_model.path=adverse"],
}
"""The candle settings compared with the replay, by name."""
BAR_MS = 60_000


def trade_candles(feed, bar_ms: int = BAR_MS) -> dict[str, np.ndarray]:
    """1-minute OHLCV (base volume) of the trades of an L2 feed, on the exchange clock; empty minutes flat."""
    ts, price, size = [], [], []
    for batch in feed.batches():
        trades = batch.kind == KIND_TRADE
        ts.append(batch.ts_exchange[trades] // 1_000_000)
        price.append(batch.price[trades])
        size.append(batch.size[trades])
    ts, price, size = np.concatenate(ts), np.concatenate(price), np.concatenate(size)
    bar = ts // bar_ms
    first, last = int(bar[0]), int(bar[-1])
    n = last - first + 1
    index = bar - first
    starts = np.flatnonzero(np.r_[True, np.diff(index) > 0])
    ends = np.r_[starts[1:], len(index)]
    close = np.full(n, np.nan)
    close[index[starts]] = price[ends - 1]
    filled = np.maximum.accumulate(np.where(np.isnan(close), 0, np.arange(n)))
    close = close[filled]
    candles = {"ts": (first + np.arange(n)) * bar_ms, "open": np.r_[price[0], close[:-1]].astype(float),
               "high": close.copy(), "low": close.copy(), "close": close, "volume": np.zeros(n)}
    candles["open"][index[starts]] = price[starts]
    candles["high"][index[starts]] = np.maximum.reduceat(price, starts)
    candles["low"][index[starts]] = np.minimum.reduceat(price, starts)
    candles["volume"][index[starts]] = np.add.reduceat(size, starts)
    return candles


def write_csv(candles: dict[str, np.ndarray], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    pcsv.write_csv(pa.table(candles), path)


def run(config: str, overrides: list[str], out: Path) -> dict:
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose(config, overrides=overrides)
    mode = "replay" if config == "replay" else "backtest"
    return drive(Strategy(cfg, Run(cfg, mode, cfg.asset.symbol, out)))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def stray(a: float, b: float) -> float:
    """|log(a / b)|: 0 when equal, infinite when the signs differ or one is 0."""
    return abs(math.log(a / b)) if a * b > 0 else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="length of the synthetic L2 market [4]")
    parser.add_argument("--spreads", default="2,5,10,20", help="quoter.spread_bps values [2,5,10,20]")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    load_plugins()
    market = [f"feed.duration={args.hours:g}h", "progress=false"]
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose("replay", overrides=market)
    feed = build("feed", cfg.feed, BuildContext(cfg=cfg, asset=to_params(AssetConfig, cfg.asset, "asset")))
    work = Path(tempfile.mkdtemp(prefix="candle_vs_replay-"))
    candles = trade_candles(feed)
    csv = work / "candles.csv"
    write_csv(candles, csv)
    print(f"synthetic L2 market: {args.hours:g} h, {cfg.asset.symbol}, seed {cfg.seed}; "
          f"{len(candles['ts'])} one-minute candles, {int((candles['volume'] == 0).sum())} without trades")
    # the candle backtest quotes with the replay preset's components; only the venue and the clock differ
    shared = ["quoter=avellaneda", "sizer=fixed", "strategy=basic", "asset=eth"]
    header = (f"{'spread':>6} {'candle setting':<26} {'replay fills':>12} {'candle fills':>12} {'fills c/r':>9} "
              f"{'replay pnl':>11} {'candle pnl':>11} {'pnl c/r':>8}")
    print(header)
    strays: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    for spread in (float(s) for s in args.spreads.split(",")):
        quote = [f"quoter.spread_bps={spread:g}"]
        replay = run("replay", [*market, *quote, *shared], work / f"replay-{spread:g}")
        for n, (name, setting) in enumerate(SETTINGS.items()):
            candle = run("backtest", ["feed=candles_file", f"feed.path={csv}", "feed.volume_unit=base",
                                      "progress=false", *setting, *quote, *shared], work / f"candle-{spread:g}-{n}")
            strays[name].append((stray(candle["fills"], replay["fills"]), stray(candle["pnl"], replay["pnl"])))
            print(f"{spread:>6g} {name:<26} {replay['fills']:>12} {candle['fills']:>12} "
                  f"{ratio(candle['fills'], replay['fills']):>9} {replay['pnl']:>11.4f} {candle['pnl']:>11.4f} "
                  f"{ratio(candle['pnl'], replay['pnl']):>8}")
    print("\ncandle settings by distance from the replay (mean |log candle/replay| over the spreads; lower is closer)")
    ranked = sorted(strays, key=lambda k: (np.mean([f for f, _ in strays[k]]), np.mean([p for _, p in strays[k]])))
    for name in ranked:
        fills, pnl = np.mean([f for f, _ in strays[name]]), np.mean([p for _, p in strays[name]])
        print(f"  {name:<26} fills {fills:.3f}   pnl {pnl:.3f}")


if __name__ == "__main__":
    main()
