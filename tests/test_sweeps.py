"""Sweeps: walk-forward ranking, an optimising sweeper and progress, through the real CLI and Hydra multiruns."""

import json
import signal
import subprocess

import pyarrow.csv as pcsv
import pytest
import yaml
from jobs import BOTMM, cli, cli_env, compose_job, last_sweep, wait_for

from botmm.pipeline import Run, Pipeline
from botmm.runners.simulate import drive


def test_walk_forward_sweep_ranks_on_out_of_sample(tmp_path):
    proc = cli(tmp_path, "-m", "backtest", "quoter.spread_bps=2,6,12", "feed.bars=4000", "backtest.split=0.6")
    assert proc.returncode == 0, proc.stderr
    sweep = last_sweep(tmp_path)
    rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    assert [r["scored_on"] for r in rows] == ["out_of_sample"] * 3
    for row in rows:
        result = json.loads((sweep / str(row["job"]) / "result.json").read_text())
        assert row["pnl"] == pytest.approx(result["out_of_sample"]["pnl"])
        assert result["in_sample"]["pnl"] + result["out_of_sample"]["pnl"] == pytest.approx(result["pnl"], abs=1e-4)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert "[sweep] job 3/3 ok" in proc.stderr


def test_optuna_sweeper_optimises_the_chosen_objective(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the sweep extra (hydra-optuna-sweeper) is absent")
    proc = cli(tmp_path, "-m", "backtest", "hydra/sweeper=optuna", "quoter.spread_bps=interval(2,20)",
               "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize", "summary.objective=pnl",
               "feed.bars=2000", "hydra.sweeper.sampler.seed=1")
    assert proc.returncode == 0, proc.stderr
    sweep = last_sweep(tmp_path)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    pnls = [json.loads((sweep / str(i) / "result.json").read_text())["pnl"] for i in range(4)]
    assert best["best_value"] == pytest.approx(max(pnls))
    assert 2 <= best["best_params"]["quoter.spread_bps"] <= 20
    assert len(pcsv.read_csv(sweep / "summary.csv").to_pylist()) == 4


def test_unknown_objective_fails_the_job_with_one_line(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the sweep extra (hydra-optuna-sweeper) is absent")
    proc = cli(tmp_path, "-m", "backtest", "hydra/sweeper=optuna", "quoter.spread_bps=interval(2,20)",
               "hydra.sweeper.n_trials=1", "summary.objective=happiness", "feed.bars=500")
    assert proc.returncode != 0
    assert "summary.objective=happiness: not a figure of result.json" in proc.stderr


def test_strategies_and_quoters_sweep_as_one_grid(tmp_path):
    proc = cli(tmp_path, "-m", "backtest", "strategy=basic,adaptive", "quoter=avellaneda,glft", "feed.bars=1500")
    assert proc.returncode == 0, proc.stderr
    rows = pcsv.read_csv(last_sweep(tmp_path) / "summary.csv").to_pylist()
    assert sorted(r["overrides"] for r in rows) == sorted(
        f"strategy={s} quoter={q} feed.bars=1500" for s in ("basic", "adaptive") for q in ("avellaneda", "glft")
    )
    assert [r["rank"] for r in rows] == [1, 2, 3, 4] and all(r["status"] == "ok" for r in rows)
    assert len({r["pnl"] for r in rows}) == 4  # four different pipelines, four different outcomes


def test_the_default_sweeper_composes_only_jobs_the_cli_has_not_checked():
    from hydra.types import HydraContext
    from omegaconf import OmegaConf

    from hydra_plugins.botmm_sweeper import BotmmSweeper

    composed = []

    class RecordingLoader:  # where Hydra's validation composes each job
        def load_sweep_config(self, master_config, sweep_overrides):
            composed.append(sweep_overrides)

    sweeper = BotmmSweeper(max_batch_size=None)
    sweeper.config, sweeper.hydra_context = OmegaConf.create({}), HydraContext(RecordingLoader(), None)
    BotmmSweeper.checked = {frozenset(["quoter=glft", "asset=btc"]), frozenset(["quoter=avellaneda", "asset=btc"])}
    try:
        sweeper.validate_batch_is_legal([["asset=btc", "quoter=glft"], ["quoter=avellaneda", "asset=eth"],
                                         ["quoter=avellaneda", "asset=btc"]])
    finally:
        BotmmSweeper.checked = set()
    assert composed == [["quoter=avellaneda", "asset=eth"]]


def test_a_sweep_runs_with_the_default_sweeper_and_with_hydras_basic_one(tmp_path):
    for sweeper in ("botmm", "basic"):
        (tmp_path / sweeper).mkdir()
        proc = cli(tmp_path / sweeper, "-m", "backtest", "quoter.spread_bps=2,4", "feed.bars=300",
                   f"hydra/sweeper={sweeper}")
        assert proc.returncode == 0, proc.stderr
        sweep = last_sweep(tmp_path / sweeper)
        assert yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["sweeper"]["_target_"].endswith(
            "BotmmSweeper" if sweeper == "botmm" else "BasicSweeper")
        rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
        assert sorted(r["overrides"].split()[0] for r in rows) == ["quoter.spread_bps=2", "quoter.spread_bps=4"]


def test_optuna_maximises_botmms_score_by_default(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the sweep extra (hydra-optuna-sweeper) is absent")
    proc = cli(tmp_path, "-m", "backtest", "hydra/sweeper=optuna", "quoter.spread_bps=interval(1,20)",
               "hydra.sweeper.n_trials=4", "feed.bars=1500", "hydra.sweeper.sampler.seed=3")
    assert proc.returncode == 0, proc.stderr
    sweep = last_sweep(tmp_path)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    assert len({r["score"] for r in rows}) == 4  # four different outcomes, so "best" means something
    assert rows[0]["rank"] == 1 and best["best_value"] == pytest.approx(rows[0]["score"], abs=1e-5)
    assert best["best_value"] == pytest.approx(max(r["score"] for r in rows), abs=1e-5)


def test_a_crashed_job_is_listed_last_with_its_reason_and_no_score(tmp_path, candles_dataset):
    """A value that fails only when the job runs (a dataset whose month file is not Parquet: checking a config only
    looks for the file); values that are wrong on their face (``inf``) are refused before any job starts."""
    good, bad = candles_dataset("good"), candles_dataset("bad", broken=True)
    proc = cli(tmp_path, "-m", "backtest", "feed=candles", f"feed.root={bad},{good}", "asset=eth")
    sweep = last_sweep(tmp_path)
    rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    assert [r["overrides"].split()[1] for r in rows] == [f"feed.root={good}", f"feed.root={bad}"]
    assert rows[0]["status"] == "ok" and rows[0]["rank"] == 1  # whatever it made, it beats a crash
    assert rows[1]["status"].startswith("failed: DataError: ") and str(bad) in rows[1]["status"]
    assert rows[1]["rank"] is None and rows[1]["score"] is None and rows[1]["pnl"] is None
    assert "[sweep] job 1/2 failed: DataError" in proc.stderr


def test_a_job_that_never_trades_is_ranked_below_one_that_lost(tmp_path):
    proc = cli(tmp_path, "-m", "backtest", "quoter.spread_bps=5000,4", "feed.bars=500")
    assert proc.returncode == 0, proc.stderr
    rows = pcsv.read_csv(last_sweep(tmp_path) / "summary.csv").to_pylist()
    assert [(r["overrides"].split()[0], r["status"]) for r in rows] == [("quoter.spread_bps=4", "ok"),
                                                                         ("quoter.spread_bps=5000", "no trades")]
    assert rows[1]["fills"] == 0 and rows[1]["score"] == 0 and rows[0]["score"] < 0 and rows[1]["rank"] == 2


def test_min_fills_sets_the_no_trades_bar(tmp_path):
    proc = cli(tmp_path, "-m", "backtest", "quoter.spread_bps=4,8", "feed.bars=500", "summary.min_fills=100000")
    assert proc.returncode == 0, proc.stderr
    rows = pcsv.read_csv(last_sweep(tmp_path) / "summary.csv").to_pylist()
    assert [r["status"] for r in rows] == ["no trades", "no trades"] and all(0 < r["fills"] < 100000 for r in rows)


def test_a_summary_setting_may_interpolate_another_key(tmp_path):
    proc = cli(tmp_path, "-m", "backtest", "quoter.spread_bps=2,6", "feed.bars=400", "summary.min_fills=${feed.bars}")
    assert proc.returncode == 0, proc.stderr
    rows = pcsv.read_csv(last_sweep(tmp_path) / "summary.csv").to_pylist()
    assert len(rows) == 2 and min(r["fills"] for r in rows) < 400 <= max(r["fills"] for r in rows), rows
    assert all(r["status"] == ("ok" if r["fills"] >= 400 else "no trades") for r in rows)


def test_ctrl_c_during_a_sweep_leaves_the_unfinished_job_unranked(tmp_path):
    proc = subprocess.Popen([*BOTMM, "-m", "backtest", "feed.bars=300,400,2000000", "progress=false"], cwd=tmp_path,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(list(tmp_path.glob("multirun/backtest/*/*/result.json"))) == 2, timeout=120)
        assert wait_for(lambda: any(tmp_path.glob("multirun/backtest/*/2/botmm.log")), timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "botmm: sweep interrupted" in err
    rows = pcsv.read_csv(last_sweep(tmp_path) / "summary.csv").to_pylist()
    assert [(r["rank"], r["status"]) for r in rows] == [(1, "ok"), (2, "ok"), (None, "interrupted")]
    assert rows[2]["overrides"].startswith("feed.bars=2000000 ")
    assert rows[2]["score"] is None and rows[2]["fills"] is None


def test_an_interrupted_backtest_writes_complete_false(tmp_path):
    cfg = compose_job("feed.bars=2000", "progress=false")
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, tmp_path))
    ticks, next_tick = [0], strategy.venue.next_tick

    def ctrl_c_at_tick_500():  # where Python raises KeyboardInterrupt on SIGINT: between two bytecodes
        ticks[0] += 1
        if ticks[0] == 500:
            raise KeyboardInterrupt
        return next_tick()

    strategy.venue.next_tick = ctrl_c_at_tick_500
    with pytest.raises(KeyboardInterrupt):
        drive(strategy)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["complete"] is False and result["status"] == "interrupted" and 0 < result["ticks"] < 500


def test_a_finished_backtest_is_complete_and_an_interrupted_one_says_so(tmp_path):
    done = cli(tmp_path, "backtest", "feed.bars=300")
    assert done.returncode == 0, done.stderr
    (out,) = tmp_path.glob("outputs/backtest/*/result.json")
    assert json.loads(out.read_text())["complete"] is True
    proc = subprocess.Popen([*BOTMM, "backtest", "feed.bars=2000000", "progress=false", "logging.console=false",
                             "hydra.run.dir=long"], cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "long" / "botmm.log"
        assert wait_for(lambda: log.is_file() and "backtest started" in log.read_text(), timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert last == f'botmm: interrupted: {tmp_path}/long/result.json is marked "complete": false'
    result = json.loads((tmp_path / "long" / "result.json").read_text())
    assert result["complete"] is False and result["status"] == "interrupted" and 0 < result["ticks"] < 2_000_000


def _imported(module: str) -> tuple[int, bool]:
    import os
    import sys

    return os.getpid(), module in sys.modules


def test_a_joblib_sweeps_workers_start_and_import_the_job_before_the_launcher_asks():
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="the sweep extra (hydra-joblib-launcher) is absent")
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    from botmm.runners.sweep_workers import _joblib_settings, start_workers

    assert start_workers("backtest", ["quoter.spread_bps=1,2"]) is None  # Hydra's basic launcher: nothing to start
    assert start_workers("backtest", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"]) is None  # in-process
    assert start_workers("backtest", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=two"]) is None  # Hydra says
    # the record command's runner: a module neither this test module nor the plugins import
    thread = start_workers("record", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "venue=hyperliquid"])
    assert thread is not None
    thread.join()
    try:
        # the launcher's own call, with the settings it derives from the same command line, finds the pool ready:
        # the job's runner is already imported in its workers
        settings = _joblib_settings(["n_jobs=2"])
        assert settings is not None and settings["backend"] == "loky" and settings["max_nbytes"] is None
        answers = Parallel(**settings)(delayed(_imported)("botmm.runners.record") for _ in range(4))
        assert all(loaded for _, loaded in answers), answers
    finally:
        get_reusable_executor().shutdown(kill_workers=True)
