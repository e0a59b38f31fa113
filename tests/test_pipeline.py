import json

import pyarrow.parquet as pq
import pytest
from jobs import backtest_strategy, compose_job

from botmm.pipeline import Run, Pipeline
from botmm.registry import hookimpl, load_plugins
from botmm.runners.simulate import drive
from conftest import shared_file


def test_backtest_writes_consistent_outputs(tmp_path):
    strategy = backtest_strategy(tmp_path, "feed.bars=3000")
    result = json.loads((tmp_path / "result.json").read_text())
    fills = pq.read_table(tmp_path / "fills.parquet")
    equity = pq.read_table(tmp_path / "equity.parquet")
    assert result["fills"] == fills.num_rows == len(strategy.venue.fills) > 0
    assert result["ticks"] == equity.num_rows == 3000
    assert result["fees"] == pytest.approx(sum(fills.column("fee").to_pylist()), abs=1e-5)
    assert result["pnl"] == pytest.approx(equity.column("equity").to_pylist()[-1] - 10_000, abs=1e-5)
    signed = sum(s * q for s, q in zip(fills.column("side").to_pylist(), fills.column("size").to_pylist()))
    assert strategy.inventory.position == pytest.approx(signed) == pytest.approx(strategy.venue.get_position().size)
    assert strategy.venue.get_open_orders() == []  # stop() cancelled everything


def test_same_seed_same_result_and_other_seed_differs(tmp_path):
    a = backtest_strategy(tmp_path / "a", "feed.bars=2000").outcome
    b = backtest_strategy(tmp_path / "b", "feed.bars=2000").outcome
    c = backtest_strategy(tmp_path / "c", "feed.bars=2000", "seed=8").outcome
    assert a == b
    assert (a["pnl"], a["fills"]) != (c["pnl"], c["fills"])


def test_max_position_caps_the_position(tmp_path):
    strategy = backtest_strategy(
        tmp_path, "feed.bars=6000", "risk.max_position_usd=300", "quoter.inventory_skew_factor=0"
    )
    eq = pq.read_table(tmp_path / "equity.parquet").to_pydict()
    exposure = [abs(p) * m for p, m in zip(eq["position"], eq["mid"])]
    order = 100.0 * 1.02  # one order's notional (order_size_usd) plus price drift within a bar
    assert max(exposure) <= 300 + order
    assert max(exposure) > 300 - order, "the limit was never reached, so the test shows nothing"
    assert strategy.risk.limits.max_position_usd == 300


def test_modify_threshold_saves_calls_and_the_result_reports_them(tmp_path):
    exact = backtest_strategy(tmp_path / "exact", "feed.bars=2000").outcome
    loose = backtest_strategy(tmp_path / "loose", "feed.bars=2000", "order_manager.modify_threshold_bps=3").outcome
    assert loose["calls_saved"] > exact["calls_saved"]
    assert loose["orders_modified"] < exact["orders_modified"]
    sent = lambda r: r["orders_placed"] + r["orders_modified"] + r["orders_cancelled"]  # noqa: E731
    assert sent(loose) < sent(exact)


def test_lifecycle_hooks_fire_once_per_event_not_per_tick(tmp_path):
    seen = {"start": 0, "fill": 0, "end": 0}

    class Listener:
        @hookimpl
        def botmm_run_start(self, run):
            seen["start"] += 1

        @hookimpl
        def botmm_fill(self, run, fill):
            seen["fill"] += 1

        @hookimpl
        def botmm_run_end(self, run, result):
            seen["end"] += 1
            seen["result_fills"] = result["fills"]

    pm = load_plugins()
    pm.register(Listener(), name="test-listener")
    try:
        strategy = backtest_strategy(tmp_path, "feed.bars=2000")
    finally:
        pm.unregister(name="test-listener")
    assert seen["start"] == 1 and seen["end"] == 1
    assert seen["fill"] == seen["result_fills"] == len(strategy.venue.fills) > 0


def test_backtest_refuses_a_venue_without_a_simulated_clock(tmp_path):
    from botmm.errors import ConfigError

    cfg = compose_job("feed.bars=10")
    strategy = Pipeline(cfg, Run(cfg, "backtest", "ETH", tmp_path))
    strategy.venue = object()
    with pytest.raises(ConfigError, match="not a simulated venue"):
        drive(strategy)


def test_funding_comes_out_of_pnl_and_nothing_else_changes(tmp_path):
    free = backtest_strategy(tmp_path / "free", "feed.bars=3000").outcome
    strategy = backtest_strategy(tmp_path / "paid", "feed.bars=3000", "exchange.funding_rate=0.0005")
    paid, payments = strategy.outcome, strategy.venue.funding.payments
    assert len(payments) == 3000 // 60  # hourly over 50 hours of 1-minute bars
    assert any(p.position > 0 for p in payments) and any(p.position < 0 for p in payments)
    assert paid["funding"] == pytest.approx(sum(p.amount for p in payments), abs=1e-6)
    assert paid["funding"] == pytest.approx(sum(p.position * p.mark * 0.0005 for p in payments), abs=1e-6)
    assert abs(paid["funding"]) > 0.01, "too little funding for the test to show anything"
    assert (paid["fills"], paid["final_position"]) == (free["fills"], free["final_position"])
    assert free["pnl"] - paid["pnl"] == pytest.approx(paid["funding"], abs=1e-5)


@pytest.mark.parametrize("override, message", [
    ("exchange.taker_fee=4.5", r"^exchange\.taker_fee=4\.5: must be a fraction of notional"),
    ("exchange.funding_hours=0", r"^exchange\.funding_hours=0(\.0)?: must be > 0$"),
    ("fill_model.path=random", r"^fill_model\.path=random: must be one of open-high-low-close, "),
])
def test_bad_costs_and_fill_model_values_fail_in_one_line(override, message):
    from botmm.errors import ConfigError
    from botmm.pipeline import build_components

    with pytest.raises(ConfigError, match=message):
        build_components(compose_job(override))


def test_on_real_candles_wider_quotes_fill_less_and_the_bot_unwinds(tmp_path):
    """FTX BTC-PERP 1-minute bars (no book in the file): a sanity check of the whole candle path on real data."""
    path = shared_file("candles/ftx_btc-perp_20211231-20220201_1m.csv")
    results = {spread: backtest_strategy(tmp_path / str(spread), "feed=candles_file", f"feed.path={path}",
                                         "feed.volume_unit=quote", "asset=btc", f"quoter.spread_bps={spread}").outcome
               for spread in (2, 8)}
    tight, wide = results[2], results[8]
    assert tight["fills"] > wide["fills"] > 1000
    assert tight["venue"]["post_only_rejected"] == wide["venue"]["post_only_rejected"] == 0
    assert tight["time_at_limit_pct"] < 1 and wide["time_at_limit_pct"] < 1  # inventory skew unwinds the position


def test_the_fill_hook_runs_only_when_a_notifier_or_plugin_listens(tmp_path, caplog):
    import logging

    quiet = backtest_strategy(tmp_path / "quiet", "feed.bars=500")
    assert quiet._fill_hook is None and quiet.outcome["fills"] > 0  # a backtest's console notifier skips fills
    with caplog.at_level(logging.DEBUG, logger="botmm.notify"):
        told = backtest_strategy(tmp_path / "told", "feed.bars=500", "notifier.fills=true")
    fill_lines = [r for r in caplog.records if getattr(r, "event", None) == "fill"]
    assert told._fill_hook is not None and len(fill_lines) == told.outcome["fills"] == quiet.outcome["fills"]
