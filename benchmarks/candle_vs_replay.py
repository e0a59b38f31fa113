"""How close the candle backtest comes to the order-book replay on the same market: the realism figure.

    python benchmarks/candle_vs_replay.py                 # 4 h of synthetic L2 and the real captures, 2-20 bps
    python benchmarks/candle_vs_replay.py --hours 2 --spreads 5,10
    python benchmarks/candle_vs_replay.py --markets real  # only the real captures (or: synthetic)

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

The real captures of the shared data folder (``$BOTMM_SHARED_DATA`` or ``shared/data`` beside the repository; see
:data:`CAPTURES`) are too short for 1-minute bars: each is converted to an L2 dataset, replayed, and its trades
aggregated into 1-second bars and, where the capture is long enough for :data:`MIN_BARS` of them, 10-second bars.
Each market and bar length gets its table and its ranking.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from botmm.config import AssetConfig, to_params
from botmm.data.l2 import KIND_TRADE
from botmm.pipeline import Run, Pipeline
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
CAPTURES = {
    "Binance USD-M BTCUSDT, 344 s": ("binance", ["binance_usdm/btcusdt_20240808.gz"], {"sequence": "binance"}),
    "Binance spot BTCUSDT, 650 s": ("binance", ["binance_spot/btcusdt_20240808.gz", "binance_spot/btcusdt_20240809.gz"],
                                    {"sequence": "none"}),
    "Hyperliquid BTC, 26 s": ("hyperliquid", ["hyperliquid/btcusd_20250126.gz"], {}),
}
"""The shared real captures: converter, files (one stream, in order) and converter options (the spot capture has no
update-id chain across its two files, see docs/replay.md)."""
REAL_BARS_S = (1, 10)
MIN_BARS = 30
"""Fewest bars a capture must make at a bar length for that length to be compared."""


def shared_data() -> Path:
    env = os.environ.get("BOTMM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
    return drive(Pipeline(cfg, Run(cfg, mode, cfg.asset.symbol, out)))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def stray(a: float, b: float) -> float:
    """|log(a / b)|: 0 when equal (both 0 too), infinite when the signs differ or one is 0."""
    if a == b:
        return 0.0
    return abs(math.log(a / b)) if a * b > 0 else math.inf


def compare(market: list[str], csv: Path, spreads: list[float], work: Path, replays: dict[float, dict]) -> None:
    """The table of one market (``market``: the replay's overrides; ``csv``: its candles) and its ranking.
    ``replays`` keeps the replay's result by spread, for the market's other bar lengths."""
    # the candle backtest quotes with the replay preset's components; only the venue and the clock differ
    shared = ["quoter=avellaneda", "sizer=fixed", "strategy=basic", f"asset={market_asset(market)}"]
    print(f"{'spread':>6} {'candle setting':<26} {'replay fills':>12} {'candle fills':>12} {'fills c/r':>9} "
          f"{'replay pnl':>11} {'candle pnl':>11} {'pnl c/r':>8}")
    strays: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    for spread in spreads:
        quote = [f"quoter.spread_bps={spread:g}"]
        if spread not in replays:
            replays[spread] = run("replay", [*market, *quote, *shared], work / f"replay-{spread:g}")
        replay = replays[spread]
        for n, (name, setting) in enumerate(SETTINGS.items()):
            candle = run("backtest", ["feed=candles_file", f"feed.path={csv}", "feed.volume_unit=base",
                                      "progress=false", *setting, *quote, *shared], work / f"candle-{spread:g}-{n}")
            strays[name].append((stray(candle["fills"], replay["fills"]), stray(candle["pnl"], replay["pnl"])))
            print(f"{spread:>6g} {name:<26} {replay['fills']:>12} {candle['fills']:>12} "
                  f"{ratio(candle['fills'], replay['fills']):>9} {replay['pnl']:>11.4f} {candle['pnl']:>11.4f} "
                  f"{ratio(candle['pnl'], replay['pnl']):>8}")
    print("candle settings by distance from the replay (mean |log candle/replay| over the spreads; lower is closer)")
    ranked = sorted(strays, key=lambda k: (np.mean([f for f, _ in strays[k]]), np.mean([p for _, p in strays[k]])))
    for name in ranked:
        fills, pnl = np.mean([f for f, _ in strays[name]]), np.mean([p for _, p in strays[name]])
        print(f"  {name:<26} fills {fills:.3f}   pnl {pnl:.3f}")


def market_asset(market: list[str]) -> str:
    return next((o.split("=", 1)[1] for o in market if o.startswith("asset=")), "eth")


def synthetic(hours: float, spreads: list[float], work: Path) -> None:
    market = [f"feed.duration={hours:g}h", "progress=false"]
    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = compose("replay", overrides=market)
    feed = build("feed", cfg.feed, BuildContext(cfg=cfg, asset=to_params(AssetConfig, cfg.asset, "asset")))
    candles = trade_candles(feed)
    csv = work / "candles.csv"
    write_csv(candles, csv)
    print(f"synthetic L2 market: {hours:g} h, {cfg.asset.symbol}, seed {cfg.seed}; "
          f"{len(candles['ts'])} one-minute candles, {int((candles['volume'] == 0).sum())} without trades")
    compare([*market, "asset=eth"], csv, spreads, work, {})


def real(spreads: list[float], work: Path) -> None:
    from botmm.data.convert import convert_binance, convert_hyperliquid
    from botmm.data.l2 import read_meta
    from botmm.plugins.feeds.l2 import L2FileFeed

    converters = {"binance": convert_binance, "hyperliquid": convert_hyperliquid}
    for n, (name, (kind, files, options)) in enumerate(CAPTURES.items()):
        paths = [shared_data() / f for f in files]
        if not all(p.is_file() for p in paths):
            print(f"\n{name}: not found under {shared_data()} (set BOTMM_SHARED_DATA): skipped")
            continue
        data = work / f"capture-{n}"
        converters[kind](paths if len(paths) > 1 else paths[0], data, **options)
        meta = read_meta(data)
        market = [f"feed.path={data}", "asset=btc", "progress=false"]
        replays: dict[float, dict] = {}
        for seconds in REAL_BARS_S:
            candles = trade_candles(L2FileFeed(str(data)), seconds * 1000)
            if len(candles["ts"]) < MIN_BARS:
                print(f"\n{name}: {len(candles['ts'])} {seconds}-second bars, fewer than {MIN_BARS}: not compared")
                continue
            csv = work / f"capture-{n}-{seconds}s.csv"
            write_csv(candles, csv)
            print(f"\n{name} ({meta.symbol}, tick {meta.tick_size:g}): {len(candles['ts'])} {seconds}-second "
                  f"candles, {int((candles['volume'] == 0).sum())} without trades")
            compare(market, csv, spreads, work / f"runs-{n}", replays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="length of the synthetic L2 market [4]")
    parser.add_argument("--spreads", default="2,5,10,20", help="quoter.spread_bps values [2,5,10,20]")
    parser.add_argument("--markets", default="synthetic,real", help="synthetic, real or both [synthetic,real]")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    load_plugins()
    spreads = [float(s) for s in args.spreads.split(",")]
    markets = set(args.markets.split(","))
    if markets - {"synthetic", "real"}:
        parser.error(f"--markets={args.markets}: names are synthetic and real")
    work = Path(tempfile.mkdtemp(prefix="candle_vs_replay-"))
    if "synthetic" in markets:
        synthetic(args.hours, spreads, work)
    if "real" in markets:
        real(spreads, work)


if __name__ == "__main__":
    main()
