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
from jobs import compose_job

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
