"""Out-of-sample A/B of the fill-model filter and of the auto-tuner on real data, for docs/ml.md.

    python benchmarks/ml_out_of_sample.py

* **FTX BTC-PERP month** (1-minute bars, candle venue): ``botmm train`` on the month holds out its last 30%; the
  backtests split at the same 70% (``backtest.split=0.7``), so the out-of-sample part is data the model never saw.
  Compared there: the default quoting, the same with the filter (``force_model`` when the model was not found useful,
  at the threshold chosen on the training window), and a wider fixed spread (60 bps) as the control. Then the
  auto-tuner (2 h windows) against a fixed setting equal to the tuner's end state.
* **Binance BTCUSDT capture** (order-book replay, 344 s): the same filter A/B on the replay venue.

The data comes from the shared data folder (``$BOTMM_SHARED_DATA`` or ``shared/data`` beside the repository).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FTX = "candles/ftx_btc-perp_20211231-20220201_1m.csv"
BINANCE = "binance_usdm/btcusdt_20240808.gz"


def shared_data() -> Path:
    env = os.environ.get("BOTMM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def botmm(cwd: Path, *args: str) -> None:
    """Run ``botmm <args>`` in ``cwd``; stop with its error when it fails."""
    cwd.mkdir(parents=True, exist_ok=True)
    quiet = [] if args[0] == "data" else ["logging.console=false"]
    proc = subprocess.run([sys.executable, "-m", "botmm", *args, *quiet], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"botmm {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def oos(cwd: Path, name: str) -> dict:
    return json.loads((cwd / name / "result.json").read_text())["out_of_sample"]


def row(label: str, figures: dict) -> str:
    return f"| {label} | {figures['fills']:,} | {figures['pnl']:+,.2f} | {figures['sharpe']:.2f} | " \
           f"{figures['max_drawdown_pct']:.2f} |"


def ab(cwd: Path, data: list[str], train: list[str], mode: str, wide: str) -> list[str]:
    """Train on the first 70%, then the default, the filter and a wider fixed spread on the last 30%."""
    botmm(cwd, "train", *data, *train, "train.test_fraction=0.3", "hydra.run.dir=train")
    report = json.loads((cwd / "train" / "train_report.json").read_text())
    judged = report["adverse"]
    horizon = f"{report['adverse_horizon_ms'] // 1000}s"
    common = [*data, "backtest.split=0.7"]
    botmm(cwd, mode, *common, "hydra.run.dir=base")
    botmm(cwd, mode, *common, "quoter.fill_model_filter=true", f"quoter.model_path={report['model']}",
          f"quoter.model_horizon={horizon}", "quoter.force_model=true", "hydra.run.dir=filter")
    botmm(cwd, mode, *common, f"quoter.spread_bps={wide}", "quoter.vol_multiplier=0", "hydra.run.dir=wide")
    baselines = ", ".join(f"{k} AUC {v['auc']} / Brier {v['brier']}" for k, v in judged["baselines"].items())
    lines = [f"adverse classifier held out: AUC {judged['auc']} / Brier {judged['brier']} ({baselines}); "
             f"useful: {judged['useful']}; threshold from the training window: {report['max_adverse_risk']}",
             "", "| out of sample | fills | pnl | Sharpe | max drawdown % |", "|---|---|---|---|---|",
             row("default quoting", oos(cwd, "base")), row("default + filter", oos(cwd, "filter")),
             row(f"control: fixed {wide} bps spread", oos(cwd, "wide"))]
    return lines


def autotune(cwd: Path, data: list[str]) -> list[str]:
    """The auto-tuner against a fixed setting equal to its end state, out of sample (the last 30%)."""
    botmm(cwd, "backtest", *data, "backtest.split=0.7", "++strategy.auto_tune.enabled=true",
          "++strategy.auto_tune.window=2h", "hydra.run.dir=tuned")
    state = {"spread_mult": 1.0, "skew_mult": 1.0, "size_mult": 1.0}  # from the notifier's lines (4 digits)
    changes = 0
    for line in (cwd / "tuned" / "botmm.log").read_text().splitlines():
        if "auto-tune:" in line:
            changes += 1
            for part in line.split("auto-tune: ", 1)[1].split(" (", 1)[0].split(", "):
                state[part.split(" ")[0]] = float(part.split(" -> ")[1])
    from omegaconf import OmegaConf

    quoter = OmegaConf.load(cwd / "tuned" / ".hydra" / "config.yaml").quoter
    fixed = [f"quoter.spread_bps={quoter.spread_bps * state['spread_mult']:.6g}",
             f"quoter.vol_multiplier={quoter.vol_multiplier * state['spread_mult']:.6g}",
             f"quoter.inventory_skew_factor={quoter.inventory_skew_factor * state['skew_mult']:.6g}",
             f"quoter.order_size_usd={quoter.order_size_usd * state['size_mult']:.6g}"]
    botmm(cwd, "backtest", *data, "backtest.split=0.7", *fixed, "hydra.run.dir=fixed")
    return [f"auto-tuner: {changes} changes, end state {state}; fixed setting: {' '.join(fixed)}", "",
            "| out of sample | fills | pnl | Sharpe | max drawdown % |", "|---|---|---|---|---|",
            row("auto-tuner (2 h windows)", oos(cwd, "tuned")), row("fixed at its end state", oos(cwd, "fixed"))]


def main() -> None:
    shared = shared_data()
    out: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        cwd = Path(work)
        ftx = shared / FTX
        if ftx.is_file():
            data = ["feed=candles_file", f"feed.path={ftx}", "feed.volume_unit=quote", "asset=btc"]
            out += ["## FTX BTC-PERP month, candle venue", ""]
            out += ab(cwd / "ftx", data, ["fill_model=candle", "train.horizon=5m", "train.adverse_horizon=5m"],
                      "backtest", "60")
            out += ["", "## FTX month: auto-tuner", ""] + autotune(cwd / "ftx", data)
        else:
            print(f"FTX month not at {ftx}: skipped", file=sys.stderr)
        capture = shared / BINANCE
        if capture.is_file():
            (cwd / "bn").mkdir(parents=True)
            botmm(cwd / "bn", "data", "convert", "binance", str(capture), "--out", "orderbook")
            data = ["feed=l2_file", f"feed.path={cwd / 'bn' / 'orderbook' / 'BTCUSDT'}", "asset=btc",
                    "quoter.spread_bps=0.5", "quoter.num_levels=5", "quoter.level_spacing_bps=0.5"]
            out += ["", "## Binance BTCUSDT capture (344 s), order-book replay", ""]
            out += ab(cwd / "bn", data, [], "replay", "2")
        else:
            print(f"Binance capture not at {capture}: skipped", file=sys.stderr)
    print("\n".join(out))


if __name__ == "__main__":
    main()
