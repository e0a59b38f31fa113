"""``botmm replay``: the same Pipeline.step on the replay venue, from the synthetic feed or a converted dataset, on
the command line and in a sweep over queue models."""

from __future__ import annotations

import csv
import json
import logging

import pytest
from jobs import cli, compose_job, last_sweep

from botmm.data.l2 import L2Writer
from botmm.data.synthetic_l2 import SyntheticL2Params, iter_synthetic_l2, synthetic_meta
from botmm.errors import ConfigError
from botmm.pipeline import Run, Pipeline, build_components
from botmm.runners.simulate import drive
from botmm.sim.replay import ReplayVenue


def run(tmp_path, *overrides: str) -> Pipeline:
    cfg = compose_job(*overrides, name="replay")
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, tmp_path))
    drive(strategy)
    return strategy


def test_the_pipeline_runs_on_the_replay_venue_and_logs_its_settings(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="botmm.sim.replay")
    strategy = run(tmp_path, "feed.duration=10m", "fill_model.entry_latency=5ms", "fill_model.queue=prob")
    venue = strategy.venue
    assert isinstance(venue, ReplayVenue) and venue.interval_ns == 100_000_000
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ticks"] == venue.fill_stats()["ticks"] == 5999
    assert result["fills"] == len(venue.fills) > 0
    assert strategy.inventory.position == pytest.approx(venue.get_position().size)
    text = caplog.text
    assert "queue=prob(power, n=2)" in text and "latency constant entry 5 ms, response 10 ms" in text
    assert "events_exchange=" in text and "post_only_rejected=" in text


def test_a_converted_dataset_replays_through_feed_path(tmp_path):
    params = SyntheticL2Params(duration_s=300.0, start_price=3000.0)
    with L2Writer(tmp_path / "orderbook", synthetic_meta(params, "ETH")) as writer:
        for chunk in iter_synthetic_l2(params):
            writer.write(chunk)
    strategy = run(tmp_path / "out", f"feed.path={tmp_path / 'orderbook'}")
    assert strategy.venue.feed.path == str(tmp_path / "orderbook")
    assert strategy.venue.fill_stats()["events_exchange"] == sum(len(c) for c in iter_synthetic_l2(params))
    assert strategy.outcome["ticks"] == 2999


def test_bad_replay_settings_fail_in_one_line():
    with pytest.raises(ConfigError, match=r"fill_model.queue=fifo: must be risk_averse or prob"):
        build_components(compose_job("fill_model.queue=fifo", name="replay"))
    with pytest.raises(ConfigError, match=r"fill_model.entry_latency=soon: expected a duration"):
        build_components(compose_job("fill_model.entry_latency=soon", name="replay"))
    with pytest.raises(ConfigError, match=r"feed=synthetic: fill_model=orderbook needs an L2 feed"):
        build_components(compose_job("feed=synthetic", name="replay"))
    with pytest.raises(ConfigError, match=r"^feed.path=nowhere: no such file or folder$"):
        build_components(compose_job("feed.path=nowhere", name="replay"))


def test_botmm_replay_runs_out_of_the_box_and_prints_its_queue_and_latency_settings(tmp_path):
    done = cli(tmp_path, "replay", "feed.duration=2m")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "queue=risk_averse" in out and "latency constant entry 10 ms, response 10 ms" in out
    assert "pnl" in out and "fills" in out


def test_a_sweep_compares_queue_models(tmp_path):
    done = cli(tmp_path, "-m", "replay", "fill_model.queue=risk_averse,prob", "feed.duration=1m")
    assert done.returncode == 0, done.stderr
    with (last_sweep(tmp_path, "replay") / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["overrides"].split()[0] for r in rows) == ["fill_model.queue=prob",
                                                              "fill_model.queue=risk_averse"]
    assert all(r["status"] == "ok" for r in rows)
