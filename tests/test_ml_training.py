"""Training data from the pipeline: rows, features and labels checked against the fills the venue made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobs import compose_job

from botmm.ml.predictor import FEATURES
from botmm.ml.training import LABELS, evaluate, generate_training_data, label_rows, read_training_data, time_split
from botmm.model import Fill, Side
from botmm.pipeline import Run, Pipeline
from botmm.runners.simulate import drive


def _fills(folder: Path) -> dict[int, list[tuple[int, float, float]]]:
    table = pq.read_table(folder / "fills.parquet")
    by_oid: dict[int, list[tuple[int, float, float]]] = {}
    for ms, oid, price, size in zip(table.column("ts").cast(pa.int64()).to_pylist(), table.column("oid").to_pylist(),
                                    table.column("price").to_pylist(), table.column("size").to_pylist()):
        by_oid.setdefault(oid, []).append((ms, price, size))
    return by_oid


def _check_labels_against_fills(frame, fills, horizon_ms: int) -> None:
    """Every row's fill label agrees with the venue's fills of its order."""
    for row in frame.itertuples():
        within = [f for f in fills.get(row.oid, []) if row.ms < f[0] <= row.ms + horizon_ms]
        assert row.filled == (1.0 if within else 0.0), row
        if within:
            assert row.time_to_fill_ms == within[0][0] - row.ms
            assert row.fill_frac == pytest.approx(min(sum(f[2] for f in within) / row.size, 1.0))
        else:
            assert np.isnan(row.time_to_fill_ms) and np.isnan(row.markout_bps) and np.isnan(row.adverse)


def test_candle_venue_rows_and_labels(tmp_path: Path) -> None:
    cfg = compose_job("feed=synthetic", "fill_model=candle", "feed.bars=1200", "quoter.num_levels=2", name="train")
    data = generate_training_data(cfg, tmp_path / "training.parquet", "3m", "2m")
    columns, info = read_training_data(data.path)
    frame = pd.DataFrame(columns)
    assert info["venue"] == "candle" and "upper bound" in info["honest_labels"]
    assert info["horizon_ms"] == 180_000 and info["adverse_horizon_ms"] == 120_000
    assert list(info["features"]) == list(FEATURES) and list(info["labels"]) == list(LABELS)
    assert data.rows == len(frame) > 2000 and data.fills > 100
    assert set(frame.side) == {1.0, -1.0} and set(frame.level) == {0.0, 1.0}
    assert frame.queue_usd.isna().all()  # the candle venue shows no book
    assert (frame.distance_bps > 0).all()  # resting orders never cross mid
    # bid distance is (mid - price) / mid in bps: recompute it from the run's mid at the row's tick
    equity = pq.read_table(tmp_path / "equity.parquet")
    mid = dict(zip(equity.column("ts").cast(pa.int64()).to_pylist(), equity.column("mid").to_pylist()))
    row = frame.iloc[len(frame) // 2]
    assert row.distance_bps == pytest.approx(row.side * (mid[row.ms] - row.price) / mid[row.ms] * 1e4)
    assert frame.ms.max() + 180_000 <= max(mid)  # rows whose horizon runs past the data are left out
    _check_labels_against_fills(frame, _fills(tmp_path), 180_000)
    filled = frame[frame.filled > 0]
    assert (filled.fill_frac == 1.0).all()  # candles fill the whole order at once
    assert filled.time_to_fill_ms.isin([60_000.0, 120_000.0, 180_000.0]).all()  # whole bars
    # one adverse label per fill: the order's last row before it
    labelled = frame[frame.adverse.notna()]
    assert len(labelled) == labelled.oid.nunique() and len(labelled) > 50
    assert ((labelled.markout_bps < 0) == (labelled.adverse == 1.0)).all()


def test_training_runs_the_backtests_own_loop(tmp_path: Path) -> None:
    """Training data comes from the same step and loop as a backtest: the run it makes writes the backtest's
    fills, equity and result."""
    cfg = compose_job("feed=synthetic", "fill_model=candle", "feed.bars=600", name="train")
    generate_training_data(cfg, tmp_path / "train" / "training.parquet")
    drive(Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, tmp_path / "backtest")))
    for name in ("fills.parquet", "equity.parquet"):
        trained, tested = (pq.read_table(tmp_path / d / name) for d in ("train", "backtest"))
        assert trained.column_names == tested.column_names and trained.num_rows == tested.num_rows > 20
        for column in trained.column_names:  # NaN where nothing was quoted: equal_nan
            np.testing.assert_array_equal(trained.column(column).to_numpy(), tested.column(column).to_numpy(),
                                          err_msg=f"{name}: {column}")
    trained, tested = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("train", "backtest"))
    assert trained["fills"] == tested["fills"] > 20
    assert {k: v for k, v in trained.items() if k not in ("mode", "wall_s")} == {
        k: v for k, v in tested.items() if k not in ("mode", "wall_s")}


def test_replay_venue_knows_the_queue(tmp_path: Path) -> None:
    cfg = compose_job("feed.duration=3m", name="train")
    data = generate_training_data(cfg, tmp_path / "training.parquet", "2s", "2s")
    columns, info = read_training_data(data.path)
    frame = pd.DataFrame(columns)
    assert info["venue"] == "orderbook" and "queue position" in info["honest_labels"]
    assert frame.queue_usd.notna().mean() > 0.9 and (frame.queue_usd.dropna() >= 0).all()
    assert frame.imbalance.notna().all() and frame.imbalance.abs().max() <= 1.0
    assert frame.filled.sum() > 20
    _check_labels_against_fills(frame, _fills(tmp_path), 2_000)
    assert (frame[frame.filled > 0].time_to_fill_ms <= 2_000).all()


def test_label_rows_exact_values() -> None:
    # two orders observed at ticks 0, 1000, 2000 ms; order 1 (bid, size 2) fills 1.0 at 1500 and 1.0 at 2600
    row_ts = np.array([0, 1000, 2000, 0], dtype=np.int64)
    oid = np.array([1, 1, 1, 2], dtype=np.int64)
    side = np.array([1.0, 1.0, 1.0, -1.0])
    size = np.array([2.0, 2.0, 1.0, 1.0])
    fills = [Fill(1500, 1, Side.BUY, 99.0, 1.0, 0.0), Fill(2600, 1, Side.BUY, 99.0, 1.0, 0.0)]
    tick_ts = np.arange(0, 6001, 1000, dtype=np.int64)
    tick_mid = np.array([100.0, 100.0, 98.0, 98.0, 97.0, 99.0, 99.0])
    out = label_rows(row_ts, oid, side, size, fills, tick_ts, tick_mid, horizon_ms=1000, adverse_ms=2000)
    assert out["filled"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert out["fill_frac"].tolist() == [0.0, 0.5, 1.0, 0.0]
    assert out["time_to_fill_ms"][1:3].tolist() == [500.0, 600.0]
    # row 1: fill at 1500 @ 99, mid 2000 ms later (3500 -> tick 3000) is 98: markout (98 - 99) / 99
    assert out["markout_bps"][1] == pytest.approx((98.0 - 99.0) / 99.0 * 1e4)
    # adverse move: mid before the fill (tick 1000: 100) to 98
    assert out["adverse_bps"][1] == pytest.approx(200.0)
    # row 2: fill at 2600 @ 99, mid at 4600 -> tick 4000 = 97
    assert out["markout_bps"][2] == pytest.approx((97.0 - 99.0) / 99.0 * 1e4)
    # each fill labelled once, on the last row before it
    assert np.isnan(out["adverse"][0]) and out["adverse"][1] == 1.0 and out["adverse"][2] == 1.0
    # a fill marked after the end of the data has no markout
    late = label_rows(row_ts[:1], oid[:1], side[:1], size[:1], [Fill(5500, 1, Side.BUY, 99.0, 2.0, 0.0)],
                      tick_ts, tick_mid, horizon_ms=6000, adverse_ms=1000)
    assert late["filled"][0] == 1.0 and np.isnan(late["markout_bps"][0]) and np.isnan(late["adverse"][0])


def test_time_split_holds_out_the_end_and_purges_the_horizon() -> None:
    ms = np.arange(0, 100_000, 1000, dtype=np.int64)
    fit, held, cut = time_split(ms, 0.3, purge_ms=5000)
    assert cut == 69_300 and ms[held].min() == 70_000 and ms[fit].max() == 64_000
    assert not (fit & held).any()


def test_evaluate_auc_brier_and_calibration() -> None:
    prob = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 0.95])
    label = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    ev = evaluate(prob, label, bins=10)
    assert ev["auc"] == pytest.approx(6 / 9, abs=1e-4)  # 9 pairs: 5 ordered right, 2 ties, 2 wrong
    assert ev["brier"] == pytest.approx(float(np.mean((prob - label) ** 2)), abs=1e-4)
    assert [row["bin"] for row in ev["calibration"]] == ["0.0-0.1", "0.1-0.2", "0.8-0.9", "0.9-1.0"]
    assert ev["calibration"][1] == {"bin": "0.1-0.2", "rows": 2, "predicted": 0.15, "observed": 0.5}
    expected_ece = (1 * 0.05 + 2 * 0.35 + 1 * 0.15 + 2 * 0.45) / 6
    assert ev["ece"] == pytest.approx(expected_ece, abs=1e-4)
    assert evaluate(prob, np.ones(6), bins=10)["auc"] is None  # one class: no AUC


def test_training_data_file_refused_in_one_line(tmp_path: Path) -> None:
    from botmm.errors import DataError

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"ts": [1, 2]}), other)
    with pytest.raises(DataError, match=r"not training data, lacks column\(s\) side"):
        read_training_data(other)
    with pytest.raises(DataError, match="no such file"):
        read_training_data(tmp_path / "missing.parquet")
