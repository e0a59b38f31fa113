"""The notification catalogue and notifier=console: every lifecycle hook and event worded by the catalogue."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from botmm.model import Fill, Side
from botmm.notify import CATALOGUE, notification
from botmm.pipeline import Run
from botmm.plugins.notifiers.console import ConsoleNotifier, ConsoleParams

SAMPLES = {
    "start": {"mode": "run", "output_dir": "outputs/run/x"},
    "stop": {"mode": "run", "pnl": 12.5, "fills": 48},
    "error": {"error": "venue unreachable"},
    "fill": {"side": 1, "size": 0.0333, "price": 3001.9, "fee": 0.015, "maker": True},
    "daily_report": {"date": "2025-01-26", "pnl": -3.25, "return_pct": -0.0325, "fills": 12, "volume": 2400.0,
                     "max_drawdown_pct": 0.05, "sharpe": None},
    "risk_state": {"state": "circuit_break", "previous": "safe", "reason": "daily loss 5.1%"},
    "circuit_break": {"reason": "5 API errors in 60s"},
    "venue_error": {"error": "HTTP 502"},
    "dead_mans_switch": {"armed": False, "fallback": "guardian", "seconds": 60, "reason": "volume too low"},
    "stop_failed": {"error": "ETH: could not verify that no order rests after 4s", "dead_mans_switch": "armed"},
    "reconcile_difference": {"difference": "position: ours 0.1, exchange's 0.2"},
    "foreign_order": {"coin": "ETH", "oid": 77, "side": "B", "price": 1500.0, "size": 0.01},
    "metadata_changed": {"sz_decimals": [4, 3], "recancelled": 2},
    "reconciled": {"coin": "ETH", "open_orders": 2, "position": 0.5, "avg_entry": 3000.5},
    "params_reloaded": {"file": "params.yaml", "changed": {"spread_bps": 6.0}},
    "params_rejected": {"file": "params.yaml", "error": "quoter.spread_bps=-1: must be > 0"},
    "regime": {"regime": "volatile", "previous": "normal", "ratio": 2.3456},
    "auto_tune": {"changed": {"spread_mult": (1.0, 1.1)}, "reason": "fill rate 4.0/h below 20.0/h"},
    "recorder_connected": {"url": "wss://api.hyperliquid.xyz/ws", "coins": ["ETH", "BTC"], "attempt": 2},
    "recorder_disconnected": {"reason": "ConnectionClosedError", "retry_in": 1.5},
    "recorder_gap": {"symbol": "BTC", "seconds": 2.353, "reason": "ConnectionClosedError"},
    "recorder_rotated": {"symbol": "BTC", "file": "data/orderbook/BTC/2025-01-26_19.parquet", "rows": 266_000},
}
TEXTS = {
    "start": "run started (output: outputs/run/x)",
    "stop": "run ended: pnl +12.5000, 48 fills",
    "error": "stopped on error: venue unreachable",
    "fill": "fill BUY 0.0333 @ 3001.9 (maker, fee 0.015000)",
    "daily_report": "daily report 2025-01-26: pnl -3.2500 (-0.033%), 12 fills, volume 2,400.00, max drawdown "
                    "0.050%, sharpe n/a",
    "risk_state": "risk safe -> circuit_break: daily loss 5.1%",
    "circuit_break": "circuit break: every order cancelled, quoting paused (5 API errors in 60s)",
    "venue_error": "venue error: HTTP 502",
    "dead_mans_switch": "dead man's switch refused: volume too low; guardian takes over",
    "stop_failed": "the stop could not verify that no order rests (ETH: could not verify that no order rests after "
                   "4s); dead man's switch armed",
    "reconcile_difference": "reconciliation: position: ours 0.1, exchange's 0.2 (the exchange's truth adopted)",
    "foreign_order": "ETH order 77 is not the bot's: left untouched",
    "metadata_changed": "metadata changed: szDecimals 4 -> 3; 2 orders cancelled for re-rounding",
    "reconciled": "reconciled ETH: 2 resting orders adopted, position 0.5 @ 3000.5",
    "params_reloaded": "params reloaded from params.yaml: spread_bps=6",
    "params_rejected": "params file params.yaml refused, previous params kept: quoter.spread_bps=-1: must be > 0",
    "regime": "regime normal -> volatile (vol ratio 2.3456)",
    "auto_tune": "auto-tune: spread_mult 1 -> 1.1 (fill rate 4.0/h below 20.0/h)",
    "recorder_connected": "recorder subscribed to ETH, BTC at wss://api.hyperliquid.xyz/ws (reconnect #2)",
    "recorder_disconnected": "recorder disconnected (ConnectionClosedError); reconnecting in 1.5s",
    "recorder_gap": "gap of 2.4s marked in the BTC data (ConnectionClosedError)",
    "recorder_rotated": "file finished: data/orderbook/BTC/2025-01-26_19.parquet (266,000 rows)",
}


def test_the_catalogue_has_an_event_type_per_seed_notification() -> None:
    assert len(CATALOGUE) >= 18
    assert set(SAMPLES) == set(CATALOGUE)


@pytest.mark.parametrize("event", sorted(SAMPLES))
def test_every_event_formats_to_a_short_message(event: str) -> None:
    note = notification(event, "ETH", "run", SAMPLES[event])
    assert note.text == TEXTS[event]
    assert len(note.text) <= 160


def test_levels_follow_what_happened() -> None:
    level = {e: notification(e, "ETH", "run", d).level for e, d in SAMPLES.items()}
    assert level["circuit_break"] == level["error"] == level["stop_failed"] == logging.ERROR
    assert level["dead_mans_switch"] == level["recorder_gap"] == logging.WARNING
    assert level["fill"] == level["start"] == logging.INFO
    assert notification("dead_mans_switch", "ETH", "run", {"armed": True, "seconds": 60}).level == logging.INFO
    assert notification("dead_mans_switch", "ETH", "run", {"armed": True, "seconds": 60}).text == \
        "dead man's switch armed (60s)"
    assert notification("risk_state", "ETH", "run", {"state": "safe", "previous": "position_limit"}).level == \
        logging.INFO


def test_a_record_job_is_worded_as_one() -> None:
    start = notification("start", "ETH+BTC", "record",
                         {"mode": "record", "coins": ["ETH", "BTC"], "url": "ws://x", "root": "data"})
    assert start.text == "record started: ETH, BTC from ws://x into data"
    stop = notification("stop", "ETH+BTC", "record", {"mode": "record", "rows": {"ETH": 1000, "BTC": 2000},
                                                      "files": ["a", "b"], "gaps": 1, "reconnects": 2})
    assert stop.text == "record ended: 3,000 rows in 2 files, 1 gaps, 2 reconnects"


def test_unknown_events_and_unexpected_data_are_still_reported() -> None:
    assert notification("my_plugin_alert", "ETH", "run", {"level": 3, "why": "x"}).text == \
        "my_plugin_alert: level=3, why=x"
    broken = notification("fill", "ETH", "run", {"price": 1.0})  # no side: the formatter cannot word it
    assert broken.text == "fill: price=1" and broken.level == logging.INFO


def test_a_symbol_in_the_data_names_the_notification() -> None:
    assert notification("recorder_gap", "ETH+BTC", "record", SAMPLES["recorder_gap"]).symbol == "BTC"
    assert notification("venue_error", "ETH", "run", SAMPLES["venue_error"]).symbol == "ETH"


def _run(mode: str = "run") -> Run:
    return Run(OmegaConf.create({}), mode, "ETH", Path("out"))


def test_console_logs_every_hook_through_the_catalogue(caplog: pytest.LogCaptureFixture) -> None:
    notifier = ConsoleNotifier(ConsoleParams(name="console"))
    run = _run()
    with caplog.at_level(logging.DEBUG, logger="botmm.notify"):
        notifier.botmm_run_start(run=run)
        notifier.botmm_fill(run=run, fill=Fill(1, 7, Side.SELL, 3002.5, 0.5, -0.01, True))
        notifier.botmm_event(run=run, event="circuit_break", data=SAMPLES["circuit_break"])
        notifier.botmm_error(run=run, error=RuntimeError("boom"))
        notifier.botmm_run_end(run=run, result={"pnl": -1.0, "fills": 1, "symbol": "ETH"})
    assert [r.getMessage() for r in caplog.records] == [
        "run started (output: out)", "fill SELL 0.5 @ 3002.5 (maker, fee -0.010000)", TEXTS["circuit_break"],
        "stopped on error: boom", "run ended: pnl -1.0000, 1 fills"]
    assert [r.levelno for r in caplog.records] == [20, 20, 40, 40, 20]
    assert {r.symbol for r in caplog.records} == {"ETH"}
    assert [r.event for r in caplog.records] == ["start", "fill", "circuit_break", "error", "stop"]


def test_console_filters_fills_events_and_levels(caplog: pytest.LogCaptureFixture) -> None:
    fill = Fill(1, 7, Side.BUY, 3000.0, 0.1, 0.0, True)
    quiet = ConsoleNotifier(ConsoleParams(name="console", events=["circuit_break"], min_level="WARNING"))
    with caplog.at_level(logging.DEBUG, logger="botmm.notify"):
        ConsoleNotifier(ConsoleParams(name="console")).botmm_fill(run=_run("backtest"), fill=fill)  # not by default
        ConsoleNotifier(ConsoleParams(name="console", fills=True)).botmm_fill(run=_run("backtest"), fill=fill)
        quiet.botmm_event(run=_run(), event="regime", data=SAMPLES["regime"])
        quiet.botmm_event(run=_run(), event="circuit_break", data=SAMPLES["circuit_break"])
    assert [r.getMessage() for r in caplog.records] == ["fill BUY 0.1 @ 3000 (maker, fee 0.000000)",
                                                        TEXTS["circuit_break"]]
