"""The live runner on the Hyperliquid venue against the loopback server, in-process, with injected faults per
test: the bot keeps quoting (or stops safely), nothing is left resting and every fill reaches the result once.
Also: reconciliation at start, the dead man's switch heartbeat, the metadata monitor and the error breaker."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer, make_venue
from jobs import compose_job, wait_for

from botmm.model import QuoteLevel, Side
from botmm.runners.live import run

USER = Account.from_key(TEST_KEY).address.lower()
FAST = ["interval=0.2s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", "exchange.timeout_s=0.5",
        "risk.cooldown_seconds=0.5"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HLServer]:
    monkeypatch.setenv("HL_PRIVATE_KEY", TEST_KEY)
    srv = HLServer(step_s=0.4, move_prob=0.6).start()
    yield srv
    srv.stop()


def run_bot(server: HLServer, out: Path, *overrides: str, duration: str = "4s",
            during: Optional[Callable[[], None]] = None) -> dict[str, Any]:
    cfg = compose_job("exchange=hl_testnet", "exchange.websocket=false",
                      f"exchange.base_url={server.url}", "asset=eth", f"duration={duration}",
                      *FAST, *overrides, name="run")
    if during is not None:
        threading.Thread(target=during, daemon=True).start()
    return run(cfg, out)


def assert_safe(server: HLServer, out: Path, result: dict[str, Any], levels: int = 1) -> None:
    """None of the bot's orders rests, none was ever duplicated, and the result holds exactly the account's fills
    of the bot's orders (by trade id)."""
    assert [o for o in server.resting(USER) if o.cloid is not None] == []
    bids, asks = server.peak_resting(USER, "ETH")
    assert bids <= levels and asks <= levels
    bot_fills = [f for f in server.fills(USER) if f.get("cloid")]
    server_fills = Counter((f["tid"], f["oid"], float(f["px"]), float(f["sz"]), 1 if f["side"] == "B" else -1)
                           for f in bot_fills)
    rows = pq.read_table(out / "fills.parquet").to_pylist()
    ours = Counter((r["tid"], r["oid"], r["price"], r["size"], r["side"]) for r in rows)
    assert ours == server_fills
    assert result["fills"] == len(bot_fills)
    assert server.rule_failures == [] and server.violations == []


def quoting_after(server: HLServer, ms: int) -> int:
    """Order actions the bot sent after ``ms`` (it kept quoting)."""
    return len([r for r in server.exchange_requests("order", "batchModify") if r["time"] > ms and r["status"] == 200])


def fault_time(server: HLServer, status: Any) -> int:
    return max(r["time"] for r in server.requests if r["status"] == status)


def test_5xx_answers(server: HLServer, tmp_path: Path) -> None:
    server.inject("5xx", path="/exchange", types=("order", "batchModify"), after=2, times=2)
    server.inject("5xx", path="/info", types=("l2Book",), after=5, times=2)
    result = run_bot(server, tmp_path)
    assert len([r for r in server.requests if r["status"] == 502]) == 4
    assert result["venue_errors"] >= 3
    assert quoting_after(server, fault_time(server, 502)) > 0
    assert_safe(server, tmp_path, result)


def test_timeouts_with_the_action_executed(server: HLServer, tmp_path: Path) -> None:
    server.inject("timeout", path="/exchange", types=("order", "batchModify"), after=1, times=2, delay_s=0.8)
    result = run_bot(server, tmp_path)
    assert len([r for r in server.requests if r["status"] == "timeout"]) == 2
    assert result["venue_errors"] >= 2
    assert quoting_after(server, fault_time(server, "timeout")) > 0
    assert_safe(server, tmp_path, result)


def test_429_with_a_null_body(server: HLServer, tmp_path: Path) -> None:
    server.inject("429", path="/exchange", types=("batchModify", "order"), after=1, times=1)
    server.inject("429", path="/info", types=("l2Book",), after=8, times=1)
    result = run_bot(server, tmp_path, duration="5s")
    assert len([r for r in server.requests if r["status"] == 429]) == 2
    assert server.rate_limited == 0  # no 429 of the bot's own making: it kept within the weight budget
    assert quoting_after(server, fault_time(server, 429)) > 0
    assert_safe(server, tmp_path, result)


def test_post_only_rejections(server: HLServer, tmp_path: Path) -> None:
    server.inject("alo_reject", after=0, times=4)
    result = run_bot(server, tmp_path, duration="3s")
    assert result["venue_errors"] == 0  # a post-only rejection is not an error
    assert len(server.resting(USER)) == 0 and len([e for e in server.order_log if e["what"] == "order"]) > 4
    assert_safe(server, tmp_path, result)


def test_partial_batch_failure(server: HLServer, tmp_path: Path) -> None:
    server.inject("partial_batch", times=1)
    result = run_bot(server, tmp_path, "quoter.num_levels=2", duration="3s")
    first = server.exchange_requests("order")[0]
    assert quoting_after(server, first["time"]) > 0
    assert_safe(server, tmp_path, result, levels=2)


def test_changed_sz_decimals_mid_run(server: HLServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def change() -> None:
        wait_for(lambda: len(server.order_log) >= 4, 5.0)
        server.set_sz_decimals("ETH", 2)

    with caplog.at_level(logging.INFO):
        result = run_bot(server, tmp_path, "exchange.metadata_refresh_s=1", during=change)
    changed = [e for e in server.order_log if e["szDecimals"] == 2]
    assert changed and all(len(e["sz"].partition(".")[2]) <= 2 for e in changed if "error" not in e)
    assert any("error" not in e for e in changed)  # quoting resumed with the new rounding
    assert "metadata changed: szDecimals 4 -> 2" in caplog.text  # seen by the venue or the runner's monitor
    failures, server.rule_failures = server.rule_failures, []
    assert all(f["error"] == "Order has invalid size." for f in failures)  # only orders sent before it was seen
    assert_safe(server, tmp_path, result)


def test_repeated_errors_trip_the_breaker_which_cancels_and_resumes(server: HLServer, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    server.inject("5xx", path="/info", types=("l2Book",), after=6, times=5)
    with caplog.at_level(logging.INFO):
        result = run_bot(server, tmp_path, "risk.max_api_errors=5", duration="5s")
    blind = min(r["time"] for r in server.requests if r["status"] == 502)  # stale data trips the breaker first
    cancels = [r for r in server.exchange_requests("cancel") if r["time"] >= blind]
    assert cancels, "the circuit break cancelled every order"
    assert quoting_after(server, cancels[0]["time"]) > 0, "quoting resumed after the cooldown"
    assert_safe(server, tmp_path, result)


def test_start_reconciles_resting_orders_and_position(server: HLServer, tmp_path: Path) -> None:
    crashed = make_venue(server.url)
    crashed.connect()
    server.move_prob = 0.0
    crashed.place_orders([QuoteLevel(Side.BUY, 2999.5, 0.02), QuoteLevel(Side.SELL, 2950.0 + 100, 0.05)], 1)
    server.shift("ETH", -10)  # the bid fills: long 0.02
    crashed.disconnect()  # a crash: the 3050 ask stays behind
    leftover = server.resting(USER)[0].oid
    result = run_bot(server, tmp_path, duration="2s")
    actions = server.exchange_requests("batchModify", "cancel")
    assert actions, "the leftover order was modified or cancelled"
    assert leftover not in {o.oid for o in server.resting(USER)}
    assert result["final_position"] == pytest.approx(0.02 + sum(
        (1 if f["side"] == "B" else -1) * float(f["sz"]) for f in server.fills(USER)[1:]))
    assert server.resting(USER) == []


def test_heartbeat_keeps_the_switch_armed_and_the_stop_disarms_it(server: HLServer, tmp_path: Path) -> None:
    armed: list[Optional[int]] = []

    def watch() -> None:
        wait_for(lambda: len(server.exchange_requests("scheduleCancel")) >= 3, 5.0)
        armed.append(server.accounts[USER].schedule)

    result = run_bot(server, tmp_path, "exchange.dead_mans_switch_s=10", "exchange.heartbeat_s=0.5", duration="3s",
                     during=watch)
    assert armed and armed[0] is not None
    assert len(server.exchange_requests("scheduleCancel")) >= 4  # start, heartbeats, disarm
    assert server.accounts[USER].schedule is None
    assert server.triggers == 0
    assert_safe(server, tmp_path, result)


def test_truncated_answers_and_a_foreign_order(server: HLServer, tmp_path: Path) -> None:
    foreign = server.place_foreign(USER, "ETH", True, "1500.0", "0.01")
    server.inject("truncated", path="/exchange", types=("order",), after=0, times=1)
    server.inject("truncated", path="/exchange", types=("batchModify",), after=1, times=1)
    server.inject("truncated", path="/exchange", types=("cancel",), after=0, times=1)
    result = run_bot(server, tmp_path, duration="4s")
    assert len([r for r in server.requests if r["status"] == "truncated"]) >= 2
    assert [o.oid for o in server.resting(USER)] == [foreign]  # untouched, and none of the bot's rests
    assert [e for e in server.order_log if e["cloid"] is None] == []
    first = min(r["time"] for r in server.requests if r["status"] == "truncated")
    assert quoting_after(server, first) > 0  # resolved by cloid, then quoting went on
    assert_safe(server, tmp_path, result)


def test_a_400_with_an_odd_body_is_a_counted_error_not_a_crash(server: HLServer, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    server.inject("bad_400", path="/exchange", types=("order", "batchModify"), after=1, times=1)
    server.inject("bad_400", path="/info", types=("l2Book",), after=4, times=1)
    with caplog.at_level(logging.INFO):
        result = run_bot(server, tmp_path, duration="3s")
    assert len([r for r in server.requests if r["status"] == 400]) == 2
    assert result["venue_errors"] >= 2
    assert "unexpected answer from the exchange (KeyError" in caplog.text and "Traceback" not in caplog.text
    assert quoting_after(server, fault_time(server, 400)) > 0
    assert_safe(server, tmp_path, result)
