"""The live runner on the Hyperliquid venue's websocket path (``exchange.websocket=true``), in-process, through the real
SDK against both sides of the loopback exchange (tests/hl_server.py over HTTP, tests/hl_ws.py pushing): steps are
triggered by book changes (coalesced, at most one per ``min_interval``, and every ``interval`` on a silent book), and
after each websocket fault the bot's orders, position and fills (by trade id) equal the exchange's."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from hl_ws import HLWebsocket, ws_exchange
from jobs import compose_job, wait_for

from botmm.runners.live import run

USER = Account.from_key(TEST_KEY).address.lower()
FAST = ["quoter.spread_bps=1", "quoter.vol_multiplier=0", "exchange.timeout_s=0.5", "risk.cooldown_seconds=0.5"]


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HLServer, HLWebsocket]]:
    monkeypatch.setenv("HL_PRIVATE_KEY", TEST_KEY)
    with ws_exchange(step_s=0.2) as both:
        yield both


def run_bot(exchange: tuple[HLServer, HLWebsocket], out: Path, *overrides: str, duration: str = "3s",
            during: Optional[Callable[[], None]] = None) -> dict[str, Any]:
    server, ws = exchange
    cfg = compose_job("exchange=hl_testnet", f"exchange.base_url={server.url}", f"exchange.ws_url={ws.url}",
                      "asset=eth", f"duration={duration}", *FAST, *overrides, name="run")
    if during is not None:
        threading.Thread(target=during, daemon=True).start()
    return run(cfg, out)


def assert_matches_exchange(server: HLServer, out: Path, result: dict[str, Any]) -> None:
    """None of the bot's orders rests, the position is the exchange's and the result holds exactly the account's
    fills of the bot's orders, by trade id."""
    assert [o for o in server.resting(USER) if o.cloid is not None] == []
    fills = [f for f in server.fills(USER) if f.get("cloid")]
    rows = pq.read_table(out / "fills.parquet").to_pylist()
    assert Counter(r["tid"] for r in rows) == Counter(f["tid"] for f in fills)
    assert result["fills"] == len(fills)
    assert result["final_position"] == pytest.approx(server.position(USER, "ETH"), abs=1e-9)
    assert server.violations == [] and server.rule_failures == []


def test_book_changes_trigger_steps_throttled_by_min_interval(exchange, tmp_path: Path) -> None:
    server, ws = exchange
    result = run_bot(exchange, tmp_path, "interval=1s", "min_interval=100ms")
    # the book moves every 0.2 s: about 5 steps a second instead of the interval's 1, and never more than 10
    assert 8 <= result["ticks"] <= 3 / 0.1 + 2
    kinds = Counter(r["type"] for r in server.requests)
    # no book or position polling; fills over HTTP only for the baseline, the first reconciliation and the stop
    assert (kinds["l2Book"], kinds["userFillsByTime"]) == (0, 3)
    assert kinds["clearinghouseState"] == 1, kinds  # the first reconciliation only: no per-tick position read
    assert_matches_exchange(server, tmp_path, result)


def test_a_silent_book_is_still_stepped_every_interval(exchange, tmp_path: Path) -> None:
    server, ws = exchange
    server.move_prob = 0.0
    ws.book_s = 60.0  # nothing pushed after the first book
    result = run_bot(exchange, tmp_path, "interval=0.5s", "risk.max_data_age=60s")
    assert 5 <= result["ticks"] <= 8  # 3 s of 0.5 s housekeeping ticks (plus a few pushed order and fill changes)
    assert_matches_exchange(server, tmp_path, result)


MAX_DATA_AGE_S = 1.0
ROUND_TRIP_S = 0.5  # exchange.timeout_s: the longest one request can take
FAULTS: dict[str, Callable[[HLWebsocket], None]] = {
    "drop": lambda ws: ws.drop(),
    "stall": lambda ws: ws.stall(2.0),
    "duplicate": lambda ws: ws.duplicate(200),
    "reorder": lambda ws: ws.reorder(200),
    "slow consumer": lambda ws: (setattr(ws, "max_queue", 3), ws.slow(2.0)),
}


def _ours(server: HLServer) -> list[Any]:
    return [o for o in server.resting(USER) if o.cloid is not None]


@pytest.mark.parametrize("fault", FAULTS)
def test_after_each_websocket_fault_orders_position_and_fills_equal_the_exchanges(fault: str, exchange,
                                                                                   tmp_path: Path) -> None:
    server, ws = exchange

    def during() -> None:
        assert wait_for(lambda: len(_ours(server)) >= 2, 20)
        FAULTS[fault](ws)
        for ticks in (4, -4, -4, 4):  # trades through the bot's quotes while the fault lasts: fills to count
            server.shift("ETH", ticks)
        assert wait_for(lambda: not ws.stalled(), 10)

    result = run_bot(exchange, tmp_path, "interval=0.2s", f"risk.max_data_age={MAX_DATA_AGE_S:g}s",
                     "exchange.reconcile_s=1", duration="5s", during=during)
    assert result["fills"] > 0
    if fault in ("drop", "slow consumer"):
        assert ws.connections >= 2  # reconnected
    if fault == "slow consumer":
        assert ws.slow_disconnects >= 1
    assert_matches_exchange(server, tmp_path, result)
    assert_no_order_rested_blind(server, ws)


def assert_no_order_rested_blind(server: HLServer, ws: HLWebsocket) -> None:
    """No order of the bot rested longer than ``max_data_age`` plus one round trip after the last book written to
    the bot's connection."""
    books = sorted(ws.book_times)
    limit_ms = (MAX_DATA_AGE_S + ROUND_TRIP_S) * 1000
    blind = [(fresh + limit_ms, following) for fresh, following in zip(books, books[1:])
             if following - fresh > limit_ms]
    for start, end, cloid in server.lifetimes(USER):
        for begin, until in blind if cloid else ():
            assert not (start < until and (end is None or end > begin)), (
                f"order {cloid} rested [{start}, {end}) while the bot was blind [{begin:.0f}, {until})")
