"""The rate budget in a live run against the loopback server (tests/hl_server.py), in-process: with a tiny IP
budget or a tiny address allowance the bot degrades (wider tolerance, then only cancels and reduce-only orders)
before the exchange refuses anything. The server counts every 429 and address refusal it sent: zero."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from jobs import compose_job, wait_for

from botmm.registry import hookimpl, load_plugins
from botmm.runners.live import run

USER = Account.from_key(TEST_KEY).address.lower()
FAST = ["asset=eth", "interval=0.2s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", "exchange.timeout_s=0.5",
        "risk.max_api_errors=1000"]
ORDER_ACTIONS = ("order", "batchModify")


class Events:
    """Every event of the job, stamped with the loopback exchange's clock."""

    def __init__(self, server: HLServer) -> None:
        self.server = server
        self.seen: list[tuple[int, str, dict[str, Any]]] = []

    @hookimpl
    def botmm_event(self, run: Any, event: str, data: dict[str, Any]) -> None:
        self.seen.append((self.server.now_ms(), event, dict(data)))

    def modes(self) -> list[str]:
        return [data["mode"] for _, event, data in self.seen if event == "rate_budget"]

    def first(self, event: str, **match: str) -> int:
        return next(ms for ms, name, data in self.seen if name == event and all(
            value in str(data.get(key)) for key, value in match.items()))


@pytest.fixture
def server_and_events(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    monkeypatch.setenv("HL_PRIVATE_KEY", TEST_KEY)
    server = HLServer(step_s=0.2, move_prob=0.9, **request.param).start()
    events = Events(server)
    load_plugins().register(events, name="test-rate-budget-events")
    yield server, events
    load_plugins().unregister(name="test-rate-budget-events")
    server.stop()


def orders_sent_after(server: HLServer, ms: int) -> list[dict]:
    return [r for r in server.requests if r["type"] in ORDER_ACTIONS and r["time"] > ms]


def run_until_reduce_only(server: HLServer, events: Events, out: Path, ticks_after: Callable[[int], int],
                          *overrides: str) -> dict[str, Any]:
    """Run the bot until it quotes reduce-only and ``ticks_after(ms of that event)`` counts 5 ticks since, then
    stop it with SIGINT (``duration`` only bounds a run that never gets there). A failed wait fails the test."""
    failure: list[BaseException] = []

    def watch() -> None:
        try:
            assert wait_for(lambda: "reduce_only" in events.modes(), 40)
            since = events.first("rate_budget", mode="reduce_only")
            assert wait_for(lambda: ticks_after(since) >= 5, 20)
        except BaseException as exc:
            failure.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()
    result = run(compose_job("exchange=hl_testnet", f"exchange.base_url={server.url}", "exchange.websocket=false",
                             "duration=90s", *FAST,
                             *overrides, name="run"), out)
    if failure:
        raise failure[0]
    return result


@pytest.mark.parametrize("server_and_events", [{}], indirect=True)
def test_a_tiny_ip_budget_degrades_before_any_refusal(server_and_events: tuple, tmp_path: Path) -> None:
    """Reads (5 ticks a second) outgrow a budget of 200 a minute: quoting degrades before the limiter first holds a
    request back, no order goes out once actions are nearly out of room, the exchange never answers 429, and the
    stop still verifies that nothing rests."""
    server, events = server_and_events

    def refused_ticks(ms: int) -> int:  # reads held back by the limiter, one venue error a tick
        return len([t for t, name, _ in events.seen if name == "venue_error" and t > ms])

    result = run_until_reduce_only(server, events, tmp_path, refused_ticks, "exchange.weight_budget=200")
    assert server.rate_limited == 0 and result["budget"]["rate_limited"] == 0  # no 429 was ever sent
    assert events.modes()[:2] == ["widened", "reduce_only"]
    refusals = [ms for ms, name, data in events.seen if name == "venue_error" and "spent" in data["error"]]
    assert refusals and all(ms > events.first("rate_budget", mode="widened") for ms in refusals)
    assert orders_sent_after(server, events.first("rate_budget", mode="reduce_only")) == []  # flat: none reduces
    assert result["budget"]["ip_limit"] == 200 and result["budget"]["ip_peak_pct"] >= 90.0
    assert json.loads((tmp_path / "result.json").read_text())["budget"] == result["budget"]
    assert [o for o in server.resting(USER) if o.cloid] == [] and result["status"] == "ok"


@pytest.mark.parametrize("server_and_events", [{"address_buffer": 30}], indirect=True)
def test_a_tiny_address_allowance_degrades_before_any_refusal(server_and_events: tuple, tmp_path: Path) -> None:
    """An address allowed 30 actions (a new address has 10,000) spends them on a moving book, a narrow band
    keeping the modifies going: it degrades and stops sending orders before the exchange refuses one."""
    server, events = server_and_events

    def books_read(ms: int) -> int:
        return len([r for r in server.requests if r["type"] == "l2Book" and r["time"] > ms])

    result = run_until_reduce_only(server, events, tmp_path, books_read, "order_manager.budget_band_bps=1")
    assert server.address_limited == 0 and result["budget"]["rate_limited"] == 0
    assert events.modes()[:2] == ["widened", "reduce_only"]
    assert orders_sent_after(server, events.first("rate_budget", mode="reduce_only")) == []
    assert result["budget"]["address_requests"] == server._account(USER).requests_used  # counted as the exchange
    assert [o for o in server.resting(USER) if o.cloid] == [] and result["status"] == "ok"
