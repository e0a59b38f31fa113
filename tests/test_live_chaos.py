"""A seeded chaos run of the live fail-safe: the live runner on the Hyperliquid venue, in-process, against the loopback
exchange, while a seeded schedule injects random faults (5xx, timeouts and truncated answers with the action
executed, 429s, odd 400s, unreadable answers, outages of the book) and moves the book hard.

At every reconciliation the venue's view is checked against the exchange's: no fill counted twice or unknown to the
exchange, none the exchange had when the reconciliation began left out, no order of the bot resting unknown to it,
none it believes in that the exchange does not know. At the end, the fault matrix's invariants (docs/live.md): none
of the bot's orders rests, the foreign order is untouched, position and fills (by trade id) equal the exchange's,
and no duplicate order ever rested. A ten-minute variant runs with the slow tests (``python -m pytest -m slow``).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from jobs import compose_job

from botmm.plugins.exchanges.hyperliquid.execution import HyperliquidVenue
from botmm.runners.live import run

USER = Account.from_key(TEST_KEY).address.lower()
PREFIX = "0xb0770000"
ENDPOINTS = {"/info": ("l2Book", "frontendOpenOrders", "clearinghouseState", "userFillsByTime", "orderStatus"),
             "/exchange": ("order", "batchModify", "cancel")}
KINDS = ("5xx", "timeout", "truncated", "429", "bad_400", "unreadable")
CALM_S = 8.0  # the run's last seconds without new faults: its stop is judged on a calm exchange


def _ours(cloid: Any) -> bool:
    return str(cloid or "").lower().startswith(PREFIX)


class Chaos(threading.Thread):
    """Every 1.5 s for ``seconds``: one random fault (or a book outage of 1-3 s) and a random move of the book; then
    the faults not yet spent are withdrawn, so the bot's own stop meets a calm exchange."""

    def __init__(self, server: HLServer, seed: int, seconds: float):
        super().__init__(daemon=True)
        self.server, self.rng, self.seconds = server, random.Random(seed), seconds
        self.injected: list[tuple[str, str, str]] = []

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(1.5)
            path = self.rng.choice(sorted(ENDPOINTS))
            kind = self.rng.choice([k for k in KINDS if path == "/info" or k != "unreadable"])
            if self.rng.random() < 0.1:
                self.server.inject("5xx", path="/info", types=("l2Book",), for_s=self.rng.uniform(1, 3))
                self.injected.append(("outage", "/info", "l2Book"))
            else:
                endpoint = self.rng.choice(ENDPOINTS[path])
                self.server.inject(kind, path=path, types=(endpoint,), times=self.rng.randint(1, 2), delay_s=0.6)
                self.injected.append((kind, path, endpoint))
            self.server.shift("ETH", self.rng.choice((-6, -3, -1, 1, 3, 6)))
        with self.server.lock:
            self.server.faults.clear()


class Checks:
    """Wraps :meth:`HyperliquidVenue.reconcile` to check the venue against the exchange after each one."""

    def __init__(self, server: HLServer):
        self.server, self.count, self.failures = server, 0, []

    def wrap(self, reconcile: Any) -> Any:
        checks = self

        def checked(venue: HyperliquidVenue) -> Any:
            before = {f["tid"] for f in checks.server.fills(USER) if _ours(f.get("cloid"))}
            resting_before = {o.oid for o in checks.server.resting(USER) if _ours(o.cloid)}
            found = reconcile(venue)
            checks.check(venue, before, resting_before)
            return found

        return checked

    def check(self, venue: HyperliquidVenue, fills_before: set[int], resting_before: set[int]) -> None:
        self.count += 1
        with self.server.lock:
            exchange = {f["tid"]: f for f in self.server._account(USER).fills}
            resting_now = {o.oid for o in self.server.orders.values() if o.user == USER and _ours(o.cloid)}
            finished = set(self.server.finished)
        tids = [f.tid for f in venue.fills]
        problems = []
        if len(tids) != len(set(tids)):
            problems.append("a fill counted twice")
        if set(tids) - set(exchange):
            problems.append(f"fills unknown to the exchange: {sorted(set(tids) - set(exchange))}")
        if fills_before - set(tids):
            problems.append(f"fills left out: {sorted(fills_before - set(tids))}")
        unknown = (resting_before & resting_now) - set(venue.orders)
        if unknown:
            problems.append(f"orders of the bot resting unknown to it: {sorted(unknown)}")
        phantom = set(venue.orders) - resting_now - finished
        if phantom:
            problems.append(f"orders the exchange does not know: {sorted(phantom)}")
        if problems:
            self.failures.append(f"reconciliation {self.count}: " + "; ".join(problems))


@pytest.mark.parametrize("seconds", [60.0, pytest.param(600.0, marks=pytest.mark.slow)], ids=["60s", "10min"])
def test_chaos_keeps_the_invariants_at_every_reconciliation(seconds: float, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_PRIVATE_KEY", TEST_KEY)
    server = HLServer(step_s=0.4, move_prob=0.6, seed=23).start()
    foreign = server.place_foreign(USER, "ETH", True, "1500", "0.01")
    checks = Checks(server)
    monkeypatch.setattr(HyperliquidVenue, "reconcile", checks.wrap(HyperliquidVenue.reconcile))
    chaos = Chaos(server, seed=7, seconds=seconds - CALM_S)
    cfg = compose_job("exchange=hl_testnet", "exchange.websocket=false",
                      f"exchange.base_url={server.url}", "asset=eth", f"duration={seconds:g}s",
                      "interval=0.5s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", "exchange.timeout_s=0.5",
                      "risk.max_data_age=1.5s", "risk.cooldown_seconds=0.5", "exchange.reconcile_s=3",
                      "exchange.dead_mans_switch_s=10", "exchange.heartbeat_s=2", f"risk.state_dir={tmp_path}",
                      name="run")
    try:
        chaos.start()
        result = run(cfg, tmp_path)
        chaos.join()
        assert checks.failures == [], checks.failures[:5]
        assert checks.count >= seconds / 15, "the bot reconciled too rarely"
        assert len(chaos.injected) >= (seconds - CALM_S) / 2
        if server.triggers:  # the exchange's scheduled cancel fired (a blind bot stops re-arming it): by its rule it
            assert server.finished[foreign][1] == "scheduledCancel"  # takes every order of the account
        else:
            assert [o.oid for o in server.resting(USER)] == [foreign]
        assert foreign not in server.cancelled_by_request(), "the bot cancelled the foreign order"
        exchange = {f["tid"] for f in server.fills(USER) if _ours(f.get("cloid"))}
        assert sorted(r["tid"] for r in pq.read_table(tmp_path / "fills.parquet").to_pylist()) == sorted(exchange)
        assert result["fills"] == len(exchange) > 0
        assert result["final_position"] == pytest.approx(server.position(USER, "ETH"), abs=1e-9)
        assert server.peak_resting(USER, "ETH") == (1, 1)  # one level a side: never a duplicate order
        assert server.violations == [] and server.rule_failures == []
    finally:
        server.stop()
