"""Checks that run before anything trades: every number finite and in range (named in the error), ``duration``
meaning the same in every mode, files that must exist, feeds the venue cannot use; and what the pipeline says when
it changes a value (an order lifted to the venue's minimum)."""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs import backtest_strategy, compose_job

from botmm.job_commands import _check
from botmm.config import QuoteParams, to_params
from botmm.errors import BotmmError, ConfigError
from botmm.pipeline import Run, Pipeline
from botmm.runners.simulate import drive

QUOTE_FLOATS = [f.name for f in fields(QuoteParams) if f.type in (float, "float")]


def check(*overrides: str, name: str = "backtest") -> str:
    """The one-line error the CLI prints for ``botmm <name> <overrides>`` (without the ``botmm: `` prefix)."""
    with pytest.raises(BotmmError) as info:
        _check(name, compose_job(*overrides, name=name))
    return str(info.value)


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(QUOTE_FLOATS), value=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_non_finite_quote_knob_is_refused_naming_it(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        to_params(QuoteParams, {"name": "avellaneda", key: value}, "quoter")
    assert str(info.value) == f"quoter.{key}={value}: must be a finite number"


@pytest.mark.parametrize(("overrides", "line"), [
    (["capital=nan"], "capital=nan: must be a finite number"),
    (["capital=inf"], "capital=inf: must be a finite number"),
    (["quoter.spread_bps=inf"], "quoter.spread_bps=inf: must be a finite number"),
    (["quoter.order_size_usd=inf"], "quoter.order_size_usd=inf: must be a finite number"),
    (["exchange.maker_fee=nan"], "exchange.maker_fee=nan: must be a finite number"),
    (["asset.quote.spread_bps=-inf"], "asset.quote.spread_bps=-inf: must be a finite number"),
    (["fill_model.volume_cap=inf"], "fill_model.volume_cap=inf: must be a finite number"),
    (["duration=abc"], "duration=abc: expected a positive duration such as 15s, 2m, 1h or 500ms"),
    (["duration=-5s"], "duration=-5s: expected a positive duration such as 15s, 2m, 1h or 500ms"),
    (["strategy.params_file=missing.yaml"],
     "strategy.params_file=missing.yaml: no such file (botmm reoptimize writes one; or write "
     "{quoter: {spread_bps: 5.0}} into it)"),
    (["feed=synthetic_l2"],
     "feed=synthetic_l2: an L2 feed needs the order-book replay (botmm replay); exchange=sim fills against bars, "
     "from a bar feed (feed=synthetic, candles_file, candles, hyperliquid)"),
])
def test_a_bad_backtest_value_is_one_line_naming_it(overrides: list[str], line: str) -> None:
    assert check(*overrides) == line


def test_run_refuses_a_bad_duration_and_an_l2_feed_before_starting() -> None:
    assert check("duration=1x", name="run").startswith("duration=1x: expected a positive duration")
    assert check("feed=synthetic_l2", name="run").startswith("feed=synthetic_l2: an L2 feed needs the order-book")


def test_duration_stops_a_backtest_after_that_much_data_time(tmp_path: Path) -> None:
    cfg = compose_job("feed.bars=500")
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, tmp_path))
    drive(strategy, duration_ms=3_600_000)
    assert strategy.outcome["ticks"] == 60  # 1-minute bars: the ticks less than an hour after the first
    assert strategy.outcome["end_ms"] - strategy.outcome["start_ms"] == 59 * 60_000


def test_duration_stops_a_replay_after_that_much_data_time(tmp_path: Path) -> None:
    cfg = compose_job("interval=100ms", name="replay")
    strategy = Pipeline(cfg, Run(cfg, "replay", cfg.asset.symbol, tmp_path))
    drive(strategy, duration_ms=5_000)
    assert strategy.outcome["ticks"] == 50


def test_an_order_lifted_to_the_venue_minimum_is_said_once(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="botmm.plugins.sizers.fixed"):
        strategy = backtest_strategy(tmp_path, "feed.bars=300", "quoter.order_size_usd=0.01")
    assert [r.getMessage() for r in caplog.records] == [
        "quoter.order_size_usd=0.01: an order of 0 notional (after lot rounding and any sizer scaling) is raised to "
        "asset.min_notional=10 (said once)"]
    assert strategy.outcome["fills"] > 0
    assert strategy.outcome["volume"] / strategy.outcome["fills"] >= 10.0 - 1e-9


def test_plugins_piped_prints_one_full_line_per_component() -> None:
    from click.testing import CliRunner

    from botmm.cli import cli

    lines = CliRunner().invoke(cli, ["plugins"]).output.splitlines()
    assert "book_imbalance botmm 0.1.0 signal:book_imbalance" in lines
    assert "avellaneda botmm 0.1.0 quoter:avellaneda" in lines
    assert all(len(line.split()) == 4 for line in lines), lines


def test_console_log_lines_go_to_the_stream_of_the_moment(tmp_path: Path) -> None:
    """A rich progress display swaps sys.stdout while it is live; log lines must go through its proxy."""
    import contextlib
    import io

    from botmm.logs import setup_logging

    setup_logging({"file": None, "color": False}, tmp_path)
    swapped = io.StringIO()
    with contextlib.redirect_stdout(swapped):
        logging.getLogger("botmm.test").warning("through the display")
    assert swapped.getvalue().endswith("through the display\n")


@pytest.mark.parametrize(("asset", "warned"), [("btc", True), ("eth", False)])
def test_a_candle_file_far_off_the_assets_price_is_warned_about(tmp_path: Path, candles_csv, caplog, asset: str,
                                                                 warned: bool) -> None:
    path = candles_csv(bars=50)  # prices around 3000: ETH's scale, not BTC's
    with caplog.at_level(logging.WARNING, logger="botmm.plugins.feeds.files"):
        backtest_strategy(tmp_path, "feed=candles_file", f"feed.path={path}", f"asset={asset}")
    expected = [f"feed.path={path}: prices around 3005 do not fit asset=btc (typically 60000); is asset= right?"]
    assert [r.getMessage() for r in caplog.records] == (expected if warned else [])
