"""``botmm supervise``: per-asset backtests, allocation from the in-sample part, portfolio against equal weights."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from click.testing import CliRunner
from jobs import cli

from botmm.core.metrics import split_index
from botmm.data.importing import import_candles
from botmm.runners.supervise import cap, per_unit_of_capital, weights


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


def test_risk_parity_weights_from_known_volatilities() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal(5000)
    base = (base - base.mean()) / base.std()  # volatility exactly 1
    vols = {"x": 0.003, "y": 0.0012, "z": 0.0005}
    found = weights("risk_parity", {n: v * base for n, v in vols.items()}, dict.fromkeys(vols, 0.0), 1.0)
    inverse = {"x": 1 / 0.003, "y": 1 / 0.0012, "z": 1 / 0.0005}  # 333.3, 833.3, 2000 of 3166.7
    assert found == pytest.approx({n: v / sum(inverse.values()) for n, v in inverse.items()}, rel=1e-9)
    assert found == pytest.approx({"x": 0.105263158, "y": 0.263157895, "z": 0.631578947}, rel=1e-8)
    # an asset that held no position in sample cannot be sized: nothing, by every method
    unsized = {"x": vols["x"] * base, "y": np.empty(0)}
    for method in ("risk_parity", "equal", "sharpe"):
        assert weights(method, unsized, {"x": 1.0, "y": 2.0}, 1.0) == {"x": 1.0, "y": 0.0}


@settings(max_examples=60, deadline=None)
@given(pnl=st.lists(st.floats(-50, 50), min_size=2, max_size=40),
       exposure=st.lists(st.one_of(st.just(0.0), st.floats(1, 5000)), min_size=2, max_size=40),
       factor=st.floats(0.01, 100))
def test_scaling_an_assets_orders_leaves_its_returns_per_unit_of_capital(pnl: list[float], exposure: list[float],
                                                                         factor: float) -> None:
    """Orders ``factor`` times larger: PnL and exposure both ``factor`` times larger, the same returns per unit of the
    capital used (so the same risk-parity weight); no exposure at all: the asset cannot be sized."""
    n = min(len(pnl), len(exposure))
    equity, held = 10_000.0 + np.cumsum(pnl[:n]), np.asarray(exposure[:n])
    used, returns = per_unit_of_capital(equity, held)
    scaled_equity = 10_000.0 + factor * (equity - 10_000.0)
    scaled_used, scaled = per_unit_of_capital(scaled_equity, factor * held)
    if used == 0:
        assert scaled_used == 0 and len(returns) == 0 and len(scaled) == 0
    else:
        assert scaled_used == pytest.approx(factor * used, rel=1e-12)
        # a change of equity is known to a few ulps of the equity itself: tiny PnL scaled down loses digits to that
        rounding = 8 * np.spacing(np.abs(scaled_equity).max()) / scaled_used
        np.testing.assert_allclose(scaled, returns, rtol=1e-7, atol=max(rounding, 1e-12))
        np.testing.assert_allclose(returns * used, np.diff(equity), rtol=1e-12, atol=1e-9)


def test_supervise_three_assets(tmp_path: Path) -> None:
    """The assets' own order sizes (200, 100, 50 USD) and the same sizes for all: the weights barely move (they no
    longer follow the sizes 1:2:4); the portfolio is each asset's PnL scaled to its capital; both allocations are
    judged out of sample after the stated split."""
    runs = {"own": (), "same": ("quoter.order_size_usd=100", "risk.max_position_usd=1000")}
    with ThreadPoolExecutor(2) as pool:
        procs = dict(zip(runs, pool.map(lambda r: cli(tmp_path, "supervise", "assets=[btc,eth,sol]", "feed.bars=1000",
                                                      "allocation.max_weight=0.5", *runs[r],
                                                      f"hydra.run.dir={tmp_path / r}"), runs)))
    for proc in procs.values():
        assert proc.returncode == 0, proc.stderr[-2000:]
    out, proc = tmp_path / "own", procs["own"]
    report = json.loads((out / "supervise.json").read_text())
    same = json.loads((tmp_path / "same" / "supervise.json").read_text())
    assert list(report["assets"]) == ["btc", "eth", "sol"]
    assert [a["symbol"] for a in report["assets"].values()] == ["BTC", "ETH", "SOL"]
    # each asset on a market of its own: 0.7-correlated returns, not one path three times
    mids = {n: pq.read_table(out / n / "equity.parquet").column("mid").to_numpy() for n in report["assets"]}
    corr = np.corrcoef([np.diff(np.log(m)) for m in mids.values()])
    assert 0.5 < corr[0, 1] < 0.9 and 0.5 < corr[0, 2] < 0.9 and 0.5 < corr[1, 2] < 0.9
    chosen = report["portfolios"]["risk_parity"]["weights"]
    assert all(0 <= w <= 0.5 for w in chosen.values()) and sum(chosen.values()) == pytest.approx(1.0, abs=1e-5)
    assert report["portfolios"]["equal"]["weights"] == {n: pytest.approx(1 / 3, abs=1e-6) for n in chosen}
    # halving BTC's orders and doubling SOL's: capital used follows, the weights do not (the old artefact: 1:2:4)
    used = {n: a["capital_used"] for n, a in report["assets"].items()}
    assert used["btc"] > 1.5 * used["eth"] > 2.25 * used["sol"] > 0
    assert same["assets"]["btc"]["capital_used"] == pytest.approx(used["btc"] / 2, rel=0.1)
    assert same["assets"]["sol"]["capital_used"] == pytest.approx(used["sol"] * 2, rel=0.1)
    assert same["portfolios"]["risk_parity"]["weights"] == {n: pytest.approx(w, abs=0.02) for n, w in chosen.items()}
    vols = {n: a["in_sample_vol"] for n, a in report["assets"].items()}
    uncapped = [n for n, w in chosen.items() if w < 0.5 - 1e-6]
    assert len(uncapped) >= 2
    for a, b in zip(uncapped, uncapped[1:]):  # inverse-volatility ratio between the uncapped assets
        assert chosen[a] / chosen[b] == pytest.approx(vols[b] / vols[a], rel=1e-3)
    # stdout: per-asset allocations, the split, then both weightings out of sample and over the whole run
    for name in ("btc", "eth", "sol"):
        assert f"{chosen[name]:.4f}" in proc.stdout
    assert "allocation by risk_parity from the in-sample part (backtest.split=0.5: in sample up to" in proc.stdout
    for label in ("risk_parity", "equal"):
        for part in ("out_of_sample", "whole"):
            figures = report["portfolios"][label][part]
            shown = [f"{figures[key]:.4f}" for key in ("pnl", "return_pct", "max_drawdown_pct")]
            row = next(line for line in proc.stdout.splitlines()
                       if f"{label} (cash 0.00)" in line and part.replace("_", "-") in line)
            assert all(value in row for value in shown) and "n/a" in row  # 1 day: no annualised Sharpe
    # the portfolio: each asset's PnL scaled by weight x capital at work / its capital used, on common timestamps
    assert report["capital_at_work"] == pytest.approx(sum(used.values()), rel=1e-6)
    portfolio = pq.read_table(out / "portfolio.parquet")
    ts = portfolio.column("ts").cast(pa.int64()).to_numpy()
    k = split_index(ts, 0.5)
    assert report["split"] == "0.5" and report["split_ms"] == int(ts[k - 1])
    for label in ("risk_parity", "equal"):
        w = report["portfolios"][label]["weights"]
        expected = np.full(len(ts), 10_000.0)
        for name in w:
            table = pq.read_table(out / name / "equity.parquet")
            asset_ts = table.column("ts").cast(pa.int64()).to_numpy()
            i = np.searchsorted(asset_ts, ts, side="right") - 1
            equity = np.where(i < 0, 10_000.0, table.column("equity").to_numpy()[np.maximum(i, 0)])
            held = np.where(i < 0, 0.0, np.abs(table.column("position").to_numpy() * table.column("mid").to_numpy())
                            [np.maximum(i, 0)])
            expected += w[name] * report["capital_at_work"] / held[:k].mean() * (equity - 10_000.0)
        # (weights and capital used in supervise.json are rounded to 6 decimals)
        np.testing.assert_allclose(portfolio.column(f"equity_{label}").to_numpy() - 10_000.0, expected - 10_000.0,
                                   rtol=1e-5, atol=1e-6)
        figures = report["portfolios"][label]
        assert figures["whole"]["pnl"] == pytest.approx(expected[-1] - 10_000.0, rel=1e-5)
        assert figures["out_of_sample"]["pnl"] == pytest.approx(expected[-1] - expected[k - 1], rel=1e-5)
        assert figures["out_of_sample"]["pnl"] != 0


def test_one_price_series_for_several_assets_is_refused_in_one_line(tmp_path: Path, candles_csv) -> None:
    csv = candles_csv(bars=400)
    proc = cli(tmp_path, "supervise", "assets=[btc,eth]", "feed=candles_file", f"feed.path={csv}",
               "hydra.run.dir=sup")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines == ["botmm: assets: btc and eth ran on the same price series; give each "
                                              "asset its own data (feed=candles reads each asset's symbol from the "
                                              "dataset)"], proc.stderr
    assert not (tmp_path / "sup" / "supervise.json").exists()


def test_each_asset_reads_its_own_candles_from_the_dataset(tmp_path: Path, candles_csv) -> None:
    eth = candles_csv(bars=400)
    lines = eth.read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    btc = tmp_path / "btc.csv"  # another path: ETH's bars in reverse order, 20 times the price, on the same times
    btc.write_text("\n".join([lines[0], *(",".join([ts, *(f"{20 * float(v):.2f}" for v in bar[1:5]), bar[5]])
                                          for (ts, *_), bar in zip(rows, reversed(rows)))]) + "\n")
    for path, symbol in ((eth, "ETH"), (btc, "BTC")):
        imported = CliRunner().invoke(import_candles, [str(path), "--venue", "mine", "--symbol", symbol, "--root",
                                                       str(tmp_path / "data")])
        assert imported.exit_code == 0, imported.output
    proc = cli(tmp_path, "supervise", "assets=[btc,eth]", "feed=candles", "feed.root=data", "feed.venue=mine",
               "hydra.run.dir=sup")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name, path in (("eth", eth), ("btc", btc)):
        closes = [float(line.split(",")[4]) for line in path.read_text().splitlines()[1:]]
        mids = pq.read_table(tmp_path / "sup" / name / "equity.parquet").column("mid").to_numpy()
        np.testing.assert_allclose(mids, closes, rtol=1e-12)  # candle files have no book: mid is the close
    report = json.loads((tmp_path / "sup" / "supervise.json").read_text())
    assert [a["symbol"] for a in report["assets"].values()] == ["BTC", "ETH"]
    assert set(report["portfolios"]) == {"risk_parity", "equal"}
    assert all(p["out_of_sample"]["pnl"] != 0 for p in report["portfolios"].values())
