"""``botmm reoptimize`` against a prepared candles dataset: the params file is written only when the out-of-sample
improvement passes the threshold, every decision is recorded, and a running paper bot picks new params up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import T0_MS
from jobs import BOTMM, cli, cli_env
from omegaconf import OmegaConf

from botmm.data.dataset import dataset_dir, write_bars
from botmm.data.synthetic import SyntheticParams, synthetic_candles
from botmm.runners.reoptimize import write_params

LIVE = "quoter:\n  spread_bps: 1.0\n  vol_multiplier: 0.0\n"  # the live params: a spread too tight for this market
SWEEP = 'reoptimize.sweep=["quoter.spread_bps=1,8"]'


def zigzag_bars(n: int = 2000) -> dict[str, np.ndarray]:
    """1-minute ETH bars swinging around 3000: a market where a spread of 8 bps earns and 1 bp loses to fees."""
    i = np.arange(n)
    close = 3000 * (1 + 0.003 * np.sin(i * 1.7) + 0.0005 * np.cos(i * 0.31))
    open_ = np.concatenate([[3000.0], close[:-1]])
    return {"ts": T0_MS + i * 60_000, "open": open_, "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999, "close": close, "volume": np.full(n, 1e6)}


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """A working dir holding a candles dataset (2000 1-minute ETH bars where market making pays, as ``botmm data
    fetch`` writes them) and the bot's live params file."""
    write_bars(dataset_dir(tmp_path / "data", "hyperliquid", "ETH", "1m"), zigzag_bars(), 60_000, "test")
    (tmp_path / "live_params.yaml").write_text(LIVE)
    return tmp_path


@pytest.fixture
def losing(tmp_path: Path) -> Path:
    """As ``prepared``, on synthetic bars where every spread swept loses out of sample."""
    bars = synthetic_candles(SyntheticParams(seed=5, start_price=3000.0), 2000)
    write_bars(dataset_dir(tmp_path / "data", "hyperliquid", "ETH", "1m"),
               {k: getattr(bars, k) for k in ("ts", "open", "high", "low", "close", "volume")}, 60_000, "test")
    (tmp_path / "live_params.yaml").write_text(LIVE)
    return tmp_path


def reoptimize(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(cwd, "reoptimize", "feed=candles", "feed.root=data", SWEEP, "hydra.run.dir=reopt", *extra)


def decisions(cwd: Path) -> list[dict]:
    return [json.loads(line) for line in (cwd / "reoptimize_decisions.jsonl").read_text().splitlines()]


def wait_for(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.is_file() else ""
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path} after {timeout:g} s:\n{content[-3000:]}")


def test_improvement_above_threshold_writes_params_that_a_running_bot_reloads(prepared: Path) -> None:
    bot_dir = prepared / "bot"
    bot_dir.mkdir()
    log = bot_dir / "bot.log"
    bot = subprocess.Popen([*BOTMM, "run", f"strategy.params_file={prepared / 'live_params.yaml'}",
                            "strategy.reload_seconds=0.2", "interval=0.2s", "duration=60s", "hydra.run.dir=out"],
                           cwd=bot_dir, env=cli_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(log, "params reloaded from", 30)  # the bot applied the current live file at start
        # 2000 bars are under MIN_DAYS days: no Sharpe, the score is return and drawdown only
        proc = reoptimize(prepared, "reoptimize.threshold=0.02")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "botmm reoptimize ETH: WRITE (out-of-sample score improved by" in proc.stdout
        assert OmegaConf.to_container(OmegaConf.load(prepared / "live_params.yaml")) == {
            "quoter": {"spread_bps": 8.0, "vol_multiplier": 0.0}}
        content = wait_for(log, "spread_bps=8", 20)
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=20)
    assert "params reloaded from" in content.split("spread_bps=8")[0]
    [record] = decisions(prepared)
    assert record["decision"] == "write" and record["improvement"] >= 0.02
    assert record["candidate"]["params"] == {"spread_bps": 8.0, "vol_multiplier": 0.0}
    assert record["incumbent"]["params"] == {"spread_bps": 1.0}
    assert record["candidate"]["out_of_sample"] - record["incumbent"]["out_of_sample"] == pytest.approx(
        record["improvement"], abs=1e-5)
    run = prepared / "reopt"
    assert json.loads((run / "decision.json").read_text()) == record
    sweep_results = sorted((run / "sweep").glob("*/result.json"))
    assert len(sweep_results) == 2 and all("out_of_sample" in json.loads(p.read_text()) for p in sweep_results)
    assert not list(prepared.glob(".live_params.yaml.*.tmp"))


def test_improvement_below_threshold_keeps_the_file_and_records_why(prepared: Path) -> None:
    live = prepared / "live_params.yaml"
    before = (live.read_bytes(), live.stat().st_mtime_ns)
    proc = reoptimize(prepared, "reoptimize.threshold=1000000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "botmm reoptimize ETH: KEEP (out-of-sample score improved by" in proc.stdout
    assert (live.read_bytes(), live.stat().st_mtime_ns) == before
    [record] = decisions(prepared)
    assert record["decision"] == "keep" and "by >= threshold 1e+06 in only 0/1 folds" in record["reason"]
    assert record["candidate"]["params"]["spread_bps"] == 8.0
    assert 0 < record["improvement"] < 1_000_000


def test_losing_less_than_the_incumbent_is_no_reason_to_write(losing: Path) -> None:
    live = losing / "live_params.yaml"
    # short runs have no Sharpe (under MIN_DAYS days): the score is return and drawdown, so gains are small numbers
    proc = reoptimize(losing, "reoptimize.threshold=0.01")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [record] = decisions(losing)
    assert record["decision"] == "keep" and record["improvement"] >= 0.01 and record["oos_pnl"] < 0
    assert record["reason"] == (f"out-of-sample pnl of the chosen parameters {record['oos_pnl']:g} <= 0: beating "
                                f"the incumbent by losing less is still losing")
    assert live.read_text() == LIVE


def test_walk_forward_folds_decide_by_majority(prepared: Path) -> None:
    proc = reoptimize(prepared, "backtest.walk_forward.folds=3", "backtest.walk_forward.test=0.15",
                      "reoptimize.threshold=0.005")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [record] = decisions(prepared)
    folds = record["folds"]
    assert len(folds) == 3 and record["wins"] == sum(f["beats"] for f in folds) == 3
    results = [json.loads(p.read_text()) for p in sorted((prepared / "reopt" / "sweep").glob("*/result.json"))]
    for fold in folds:  # each fold's choice is the best on its own training window, judged on its test window
        assert fold["params"]["spread_bps"] == 8.0 and fold["test"] - fold["incumbent_test"] >= 0.005
    assert record["oos_pnl"] == pytest.approx(sum(f["test_pnl"] for f in folds)) and record["oos_pnl"] > 0
    assert record["decision"] == "write" and "in 3/3 folds" in record["reason"]
    assert "fold 3: chose spread_bps=8.0" in proc.stdout
    assert all(len(r["folds"]) == 3 for r in results)


def test_older_runs_scratch_is_pruned(tmp_path: Path) -> None:
    from botmm.runners.reoptimize import prune

    for name in ("2026-01-01_00-00-00", "2026-01-02_00-00-00", "2026-01-03_00-00-00"):
        for sub in ("sweep/0", "incumbent"):
            (tmp_path / name / sub).mkdir(parents=True)
        (tmp_path / name / "decision.json").write_text("{}")
    deleted = prune(tmp_path, keep=2)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in deleted) == ["2026-01-01_00-00-00/incumbent",
                                                                          "2026-01-01_00-00-00/sweep"]
    assert (tmp_path / "2026-01-01_00-00-00" / "decision.json").is_file()
    assert all((tmp_path / name / "sweep").is_dir() for name in ("2026-01-02_00-00-00", "2026-01-03_00-00-00"))


def test_fetches_the_latest_days_and_backtests_exactly_them(tmp_path: Path) -> None:
    from candle_servers import HLCandleServer

    with HLCandleServer() as server:
        proc = cli(tmp_path, "reoptimize", "feed=candles", "feed.root=data", "reoptimize.fetch.days=1",
                   f"reoptimize.fetch.base_url={server.url}", SWEEP, "hydra.run.dir=reopt")
        requests = list(server.candle_requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(requests) == 1  # one day of 1-minute bars is one page
    assert list((tmp_path / "data" / "candles" / "hyperliquid" / "ETH" / "1m").glob("*.parquet"))
    [record] = decisions(tmp_path)
    overrides = OmegaConf.load(tmp_path / "reopt" / "sweep" / "0" / ".hydra" / "overrides.yaml")
    start = next(o for o in overrides if o.startswith("feed.start="))
    incumbent = json.loads((tmp_path / "reopt" / "incumbent" / "result.json").read_text())
    job = json.loads((tmp_path / "reopt" / "sweep" / "0" / "result.json").read_text())
    assert (incumbent["start_ms"], incumbent["end_ms"]) == (job["start_ms"], job["end_ms"])  # the same window
    assert 1430 <= job["ticks"] <= 1440 and start.startswith("feed.start=")
    assert record["decision"] in ("write", "keep") and record["jobs_ok"] == 2


def test_only_quoter_keys_can_be_swept(prepared: Path) -> None:
    proc = cli(prepared, "reoptimize", 'reoptimize.sweep=["strategy.reload_seconds=1,2"]', "hydra.run.dir=bad")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1
    assert "only quoter.* keys can be swept" in lines[0]
    assert not (prepared / "reoptimize_decisions.jsonl").exists()


def test_write_params_is_atomic_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "live" / "params.yaml"
    write_params(target, {"spread_bps": 5.0, "num_levels": 2}, "test")
    assert target.read_text().startswith("# test\n")
    assert OmegaConf.to_container(OmegaConf.load(target)) == {"quoter": {"spread_bps": 5.0, "num_levels": 2}}
    assert os.listdir(target.parent) == ["params.yaml"]
