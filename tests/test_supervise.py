"""``botmm supervise``: per-asset backtests, allocation from the in-sample part, portfolio against equal weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobs import cli

from botmm.core.metrics import split_index
from botmm.runners.supervise import cap, weights


def test_cap_moves_the_excess_to_the_others_in_proportion() -> None:
    np.testing.assert_allclose(cap(np.array([0.7, 0.2, 0.1]), 0.5), [0.5, 0.2 + 0.2 * 2 / 3, 0.1 + 0.2 / 3])
    np.testing.assert_allclose(cap(np.array([0.9, 0.1]), 0.5), [0.5, 0.5])
    np.testing.assert_allclose(cap(np.array([1.0]), 0.6), [0.6])  # one asset: the rest stays in cash
    np.testing.assert_allclose(cap(np.array([0.3, 0.3, 0.4]), 0.6), [0.3, 0.3, 0.4])


def test_weights_by_method() -> None:
    returns = {"a": np.array([0.01, -0.01, 0.01, -0.01]), "b": np.array([0.02, -0.02, 0.02, -0.02])}
    assert weights("equal", returns, {"a": 1.0, "b": 1.0}, 1.0) == {"a": 0.5, "b": 0.5}
    risk_parity = weights("risk_parity", returns, {"a": 0.0, "b": 0.0}, 1.0)
    assert risk_parity["a"] == pytest.approx(2 / 3) and risk_parity["b"] == pytest.approx(1 / 3)
    sharpe = weights("sharpe", returns, {"a": 3.0, "b": -1.0}, 0.8)
    assert sharpe == {"a": 0.8, "b": 0.0}  # capped; a negative Sharpe gets nothing; the rest is cash
    assert weights("sharpe", returns, {"a": -1.0, "b": 0.0}, 1.0) == {"a": 0.0, "b": 0.0}


def test_supervise_three_assets(tmp_path: Path) -> None:
    out = tmp_path / "sup"
    proc = cli(tmp_path, "supervise", "assets=[btc,eth,sol]", "feed.bars=2000", "allocation.max_weight=0.5",
               f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "supervise.json").read_text())
    assert list(report["assets"]) == ["btc", "eth", "sol"]
    assert [a["symbol"] for a in report["assets"].values()] == ["BTC", "ETH", "SOL"]
    chosen = report["portfolios"]["risk_parity"]["weights"]
    assert all(0 <= w <= 0.5 for w in chosen.values()) and sum(chosen.values()) == pytest.approx(1.0, abs=1e-5)
    assert report["portfolios"]["equal"]["weights"] == {n: pytest.approx(1 / 3, abs=1e-6) for n in chosen}
    vols = {n: a["in_sample_vol"] for n, a in report["assets"].items()}
    uncapped = [n for n, w in chosen.items() if w < 0.5 - 1e-6]
    if len(uncapped) == 2:  # inverse-volatility ratio between the uncapped assets
        a, b = uncapped
        assert chosen[a] / chosen[b] == pytest.approx(vols[b] / vols[a], rel=1e-3)
    # stdout: per-asset allocations, then portfolio figures for both weightings
    for name in ("btc", "eth", "sol"):
        assert f"{chosen[name]:.4f}" in proc.stdout
    assert "allocation by risk_parity (in-sample)" in proc.stdout
    assert "risk_parity (cash 0.00)" in proc.stdout and "equal (cash 0.00)" in proc.stdout
    # the portfolio equity is the weighted sum of the assets' equity curves (each held at its last value)
    portfolio = pq.read_table(out / "portfolio.parquet")
    ts = portfolio.column("ts").cast(pa.int64()).to_numpy()
    expected = np.zeros(len(ts))
    for name, w in chosen.items():
        table = pq.read_table(out / name / "equity.parquet")
        asset_ts = table.column("ts").cast(pa.int64()).to_numpy()
        i = np.searchsorted(asset_ts, ts, side="right") - 1
        expected += w * np.where(i < 0, 10_000.0, table.column("equity").to_numpy()[np.maximum(i, 0)])
    # (weights in supervise.json are rounded to 6 decimals)
    np.testing.assert_allclose(portfolio.column("equity_risk_parity").to_numpy(), expected, rtol=1e-8)
    whole = report["portfolios"]["risk_parity"]["whole"]
    assert whole["pnl"] == pytest.approx(expected[-1] - 10_000.0, abs=1e-4)
    oos = report["portfolios"]["risk_parity"]["out_of_sample"]
    k = split_index(ts, 0.5)
    assert oos["pnl"] == pytest.approx(expected[-1] - expected[k - 1], abs=1e-4)
    assert report["split_ms"] == int(ts[k - 1])


def test_one_price_series_for_several_assets_is_refused_in_one_line(tmp_path: Path, candles_csv) -> None:
    csv = candles_csv(bars=400)
    proc = cli(tmp_path, "supervise", "assets=[btc,eth]", "feed=candles_file", f"feed.path={csv}",
               "hydra.run.dir=sup")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines == ["botmm: assets: btc and eth ran on the same price series; give each "
                                              "asset its own data (feed=candles reads each asset's symbol from the "
                                              "dataset)"], proc.stderr
    assert not (tmp_path / "sup" / "supervise.json").exists()
