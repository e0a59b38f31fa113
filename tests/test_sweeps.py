"""Sweeps: walk-forward ranking, an optimising sweeper and progress, through the real CLI and Hydra multiruns."""

import json

import pyarrow.csv as pcsv
import pytest
import yaml
from jobs import cli, last_sweep


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
