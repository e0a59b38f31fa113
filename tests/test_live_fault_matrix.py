"""The live fail-safe fault matrix: each case is a real ``botmm run`` subprocess on the Hyperliquid venue, through the
real SDK, on the websocket path (``exchange.websocket=true``: book, fills and order states pushed by tests/hl_ws.py,
actions and reconciliations over HTTP to tests/hl_server.py), with faults injected. After every case:

* none of the bot's orders rests (after SIGKILL: within the stated deadline);
* the foreign order (placed by hand before the bot started, no client order id) is untouched;
* the bot's position equals the exchange's, and ``result.json``'s fills equal the exchange's by trade id;
* no order of the bot rested longer than ``risk.max_data_age`` plus one round trip while the bot had no fresh data.

docs/live.md lists the cases and their outcomes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from hl_ws import HLWebsocket
from jobs import wait_for

BOTMM = [sys.executable, "-m", "botmm"]
USER = Account.from_key(TEST_KEY).address.lower()
PREFIX = "0xb0770000"
MAX_DATA_AGE_S = 1.0
ROUND_TRIP_S = 0.5  # the HTTP timeout: the longest one request can take
HTTP = ["exchange.websocket=false"]  # cases of the HTTP polling path (its l2Book requests)
SWITCH_S = 10.0  # exchange.dead_mans_switch_s (the exchange wants it at least 5 s ahead)
WIDE = ["quoter.spread_bps=40"]  # quotes the moving book cannot reach in a minute: only a cancel removes them
FOREIGN = ("ETH", True, "1500", "0.01")  # a bid placed by hand, far below the market: never filled, never touched
SETTINGS = ["exchange=hl_testnet", "asset=eth", "interval=0.2s", "quoter.spread_bps=1", "quoter.vol_multiplier=0",
            "exchange.timeout_s=0.5", f"risk.max_data_age={MAX_DATA_AGE_S:g}s", "risk.cooldown_seconds=0.5",
            "exchange.reconcile_s=1", f"exchange.dead_mans_switch_s={SWITCH_S:g}", "exchange.heartbeat_s=2"]


@dataclass
class Case:
    """One row of the matrix: ``setup`` prepares the server before the bot starts, ``during`` runs while it quotes
    (it returns when the fault is over), ``stop`` ends the bot (a signal, or the run's own duration)."""

    name: str
    setup: Callable[[HLServer], None] = lambda server: None
    during: Callable[[HLServer], None] = lambda server: None
    stop: Optional[signal.Signals] = signal.SIGINT
    exit_ok: bool = True  # whether the bot's exit status is 0
    switch_fires: bool = False  # the exchange's scheduled cancel fires (it cancels the foreign order too)
    extra: list[str] = field(default_factory=list)


def _window(kind: str, path: Optional[str], types: tuple[str, ...], seconds: float) -> Callable[[HLServer], None]:
    """A fault on every matching request for ``seconds`` while the bot quotes."""
    def during(server: HLServer) -> None:
        server.inject(kind, path=path, types=types, for_s=seconds)
        assert wait_for(lambda: server.fault_over(kind), seconds + 30)
    return during


def _after_quotes(server: HLServer) -> None:
    assert wait_for(lambda: len(_ours(server.resting(USER))) >= 2, 30)


def _then(*steps: Callable[[HLServer], None]) -> Callable[[HLServer], None]:
    def during(server: HLServer) -> None:
        for step in steps:
            step(server)
    return during


def _inject(kind: str, path: str, types: tuple[str, ...], times: int = 2, **kw: Any) -> Callable[[HLServer], None]:
    def step(server: HLServer) -> None:
        fault = server.inject(kind, path=path, types=types, times=times, **kw)
        assert wait_for(lambda: fault.fired >= times, 30)
    return step


def _late_fill(server: HLServer) -> None:
    """A fill the exchange reports late: its time is 2 s in the past when it appears (the bot has run for 6 s)."""
    assert wait_for(lambda: len(server.websocket.book_times) >= 15, 30)
    order = _ours(server.resting(USER))[0]
    server.fill_now(order.oid, time_shift_ms=-2000)


def _reduces_only(server: HLServer) -> None:
    """Holding 0.5 ETH (about $1500, over the $1000 limit) from before the start, the bot only offers to sell, and
    reduce-only: it never believed it was flat."""
    assert wait_for(lambda: any(not o.is_buy for o in _ours(server.resting(USER))), 30)
    mine = [e for e in server.order_log if str(e.get("cloid") or "").startswith(PREFIX)]
    assert mine and all(not e["is_buy"] and e["reduce_only"] for e in mine)


def _stall(seconds: float) -> Callable[[HLServer], None]:
    """The websocket open but silent for ``seconds`` (no book, no order update, no fill) while the book moves."""
    def during(server: HLServer) -> None:
        server.websocket.stall(seconds)
        assert wait_for(lambda: not server.websocket.stalled(), seconds + 30)
    return during


def _book_moves(server: HLServer) -> None:
    for _ in range(3):
        server.shift("ETH", 4)
        server.shift("ETH", -4)


CASES = [
    Case("l2Book 5xx for 6 s while the book moves (HTTP path)", extra=HTTP,
         during=_then(_after_quotes, _window("5xx", "/info", ("l2Book",), 6.0), _after_quotes)),
    Case("websocket stalled for 6 s while the book moves", during=_then(_after_quotes, _stall(6.0), _after_quotes)),
    Case("429 storm for 4 s", during=_then(_after_quotes, _window("429", None, (), 4.0), _after_quotes)),
    Case("timeouts on /exchange, actions executed",
         during=_then(_after_quotes, _inject("timeout", "/exchange", ("order", "batchModify"), delay_s=0.8),
                      _book_moves, _after_quotes)),
    Case("5xx on /exchange, actions executed",
         during=_then(_after_quotes, _inject("5xx", "/exchange", ("order", "batchModify", "cancel")), _book_moves,
                      _after_quotes)),
    Case("truncated 200 on order, modify and cancel",
         during=_then(_after_quotes, _inject("truncated", "/exchange", ("order", "batchModify", "cancel"), times=3),
                      _book_moves, _after_quotes)),
    Case("truncated 200 on info",
         during=_then(_after_quotes, _inject("truncated", "/info", ("l2Book", "clearinghouseState",
                                                                    "frontendOpenOrders"), times=3), _after_quotes)),
    Case("a 400 with an odd body", during=_then(_after_quotes, _inject("bad_400", "/exchange", ("order",), times=1),
                                                _book_moves, _after_quotes)),
    Case("cancels and open orders failing at stop", stop=signal.SIGTERM, exit_ok=False, switch_fires=True,
         during=_then(_after_quotes, lambda s: s.inject("5xx", path="/exchange", types=("cancel",), for_s=30),
                      lambda s: s.inject("5xx", path="/info", types=("frontendOpenOrders",), for_s=30))),
    Case("SIGINT", during=_after_quotes),
    Case("SIGTERM", during=_after_quotes, stop=signal.SIGTERM),
    Case("SIGKILL, scheduled cancel accepted", during=_after_quotes, stop=signal.SIGKILL, exit_ok=False,
         switch_fires=True, extra=WIDE),
    Case("SIGKILL, scheduled cancel refused", setup=lambda s: setattr(s, "refuse_schedule", True),
         during=_after_quotes, stop=signal.SIGKILL, exit_ok=False, extra=WIDE),
    Case("position held before start, first clearinghouseState unreadable",
         setup=lambda s: (s.set_position(USER, "ETH", "0.5", "3000"),
                          s.inject("truncated", path="/info", types=("clearinghouseState",), times=1)),
         during=lambda s: _reduces_only(s), extra=["risk.max_position_usd=1000"]),
    Case("late fills", during=_then(_after_quotes, _late_fill, _after_quotes)),
]


def _ours(orders: list[Any]) -> list[Any]:
    return [o for o in orders if str(o.cloid or "").lower().startswith(PREFIX)]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(HL_PRIVATE_KEY=TEST_KEY, PYTHONUNBUFFERED="1", COLUMNS="250")
    return env


# a 75 s outage at the matrix's pace (a tick every 0.2 s, a reconciliation every 1 s) spends the whole weight budget
# over HTTP (a reconciliation weighs ~62); at a pace the budget holds, the bot must quote again once books return.
# Blind for longer than the dead man's switch, the bot does not re-arm it: the exchange's scheduled cancel fires
LONG = [pytest.param(Case("l2Book 5xx for 75 s while the book moves", switch_fires=True,
                          extra=[*HTTP, "interval=0.5s", "exchange.reconcile_s=10"],
                          during=_then(_after_quotes, _window("5xx", "/info", ("l2Book",), 75.0), _after_quotes)),
                     id="l2Book 5xx for 75 s while the book moves", marks=pytest.mark.slow)]


@pytest.mark.parametrize("case", [*CASES, *LONG], ids=[c.name for c in CASES] + [p.id for p in LONG])
def test_fault(case: Case, tmp_path: Path) -> None:
    server = HLServer(step_s=0.4, move_prob=0.6, seed=11).start()
    ws = HLWebsocket(server).start()
    try:
        foreign = server.place_foreign(USER, *FOREIGN)
        case.setup(server)
        out = tmp_path / "out"
        args = [*BOTMM, "run", f"exchange.base_url={server.url}", f"exchange.ws_url={ws.url}", *SETTINGS, *case.extra,
                f"risk.state_dir={tmp_path / 'state'}", f"hydra.run.dir={out}"]
        with (tmp_path / "stdout").open("w") as stdout, (tmp_path / "stderr").open("w") as stderr:
            bot = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=stdout, stderr=stderr)
            try:
                case.during(server)
                assert bot.poll() is None, _logs(tmp_path)
                killed_at = server.now_ms()
                bot.send_signal(case.stop)
                code = bot.wait(timeout=60)
            finally:
                if bot.poll() is None:
                    bot.kill()
                    bot.wait()
        logs = _logs(tmp_path)
        assert (code == 0) == case.exit_ok, logs
        assert "Traceback" not in logs, logs
        if case.stop is signal.SIGKILL:
            deadline = SWITCH_S if not server.refuse_schedule else 5.0
            assert wait_for(lambda: _ours(server.resting(USER)) == [], deadline + 5), "orders rest after SIGKILL"
            gone_at = server.now_ms()
            assert gone_at - killed_at <= (deadline + 2 * ROUND_TRIP_S + 1) * 1000
        elif not case.exit_ok:  # a failed stop leaves the dead man's switch armed: the exchange cancels
            assert "the dead man's switch stays armed" in logs, logs
            assert wait_for(lambda: _ours(server.resting(USER)) == [], SWITCH_S + 5)
        assert _ours(server.resting(USER)) == []
        if case.switch_fires:  # the exchange's scheduled cancel takes every order of the account, by its rule
            assert wait_for(lambda: server.resting(USER) == [] and server.triggers == 1, SWITCH_S + 5)
            assert server.finished[foreign][1] == "scheduledCancel"
        else:
            assert [o.oid for o in server.resting(USER)] == [foreign], "the foreign order was touched"
        assert foreign not in server.cancelled_by_request(), "the bot cancelled the foreign order"
        if case.stop is not signal.SIGKILL:
            result = json.loads((out / "result.json").read_text())
            _check_fills_and_position(server, out, result)
        _check_blind_windows(server, killed_at)
        assert server.violations == [] and server.rule_failures == []
    finally:
        ws.stop()
        server.stop()


def _check_fills_and_position(server: HLServer, out: Path, result: dict[str, Any]) -> None:
    exchange = {f["tid"]: f for f in server.fills(USER) if str(f.get("cloid") or "").startswith(PREFIX)}
    rows = pq.read_table(out / "fills.parquet").to_pylist()
    assert sorted(r["tid"] for r in rows) == sorted(exchange), "fills differ from the exchange's by tid"
    assert result["fills"] == len(exchange)
    position = server.position(USER, "ETH")
    assert result["final_position"] == pytest.approx(position, abs=1e-9)


def _check_blind_windows(server: HLServer, stop_ms: int) -> None:
    """Until the bot was told to stop, no order of the bot rested more than ``max_data_age`` plus one round trip
    after the last book the bot read. Over each gap between two books (successful l2Book answers, or books the
    websocket wrote) longer than that, an order
    must have ended by then; where the exchange refused the bot during the gap (a 429 storm refuses cancels too; a
    failed cancel), by the first request the exchange accepted again or the dead man's switch, whichever came
    first."""
    with server.lock:
        requests = list(server.requests)
    books = sorted([r["time"] for r in requests if r["type"] == "l2Book" and r["status"] == 200]
                   + server.websocket.book_times)
    accepted = sorted(r["time"] for r in requests if r["status"] == 200 and r["type"] != "l2Book")
    limit_ms = (MAX_DATA_AGE_S + ROUND_TRIP_S) * 1000
    spans = []
    for fresh, following in zip(books, [*books[1:], stop_ms]):
        begin, until = fresh + limit_ms, min(following, stop_ms)
        if until <= begin:
            continue
        refused = any(r["status"] == 429 or r["path"] == "/exchange" and r["status"] != 200
                      for r in requests if fresh <= r["time"] <= until)
        if refused:
            again = next((t for t in accepted if t > begin), float("inf"))
            begin = min(max(again, begin), fresh + SWITCH_S * 1000) + ROUND_TRIP_S * 1000
        if until > begin:
            spans.append((fresh, begin, until))
    for start, end, cloid in server.lifetimes(USER):
        if not str(cloid or "").startswith(PREFIX):
            continue
        for fresh, begin, until in spans:
            assert not (start < until and (end is None or end > begin)), (
                f"order {cloid} rested [{start}, {end}) past {begin:.0f}; the last fresh book was at {fresh}")


def _logs(tmp_path: Path) -> str:
    return (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
