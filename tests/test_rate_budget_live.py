"""The rate budget in a live run against the loopback server (tests/hl_server.py), in-process: with a tiny IP
budget or a tiny address allowance the bot degrades (wider tolerance, then only cancels and reduce-only orders)
before the exchange refuses anything. The server counts every 429 and address refusal it sent: zero."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from jobs import compose_job

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


@pytest.mark.parametrize("server_and_events", [{}], indirect=True)
def test_a_tiny_ip_budget_degrades_before_any_refusal(server_and_events: tuple, tmp_path: Path) -> None:
    """Reads (5 ticks a second) outgrow a budget of 200 a minute: quoting degrades before the limiter first holds a
    request back, no order goes out once actions are nearly out of room, the exchange never answers 429, and the
    stop still verifies that nothing rests."""
    server, events = server_and_events
    result = run(compose_job("exchange=hl_testnet", f"exchange.base_url={server.url}", "duration=6s",
                             "exchange.weight_budget=200", *FAST, name="run"), tmp_path)
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
    result = run(compose_job("exchange=hl_testnet", f"exchange.base_url={server.url}", "duration=5s",
                             "order_manager.budget_band_bps=1", *FAST, name="run"), tmp_path)
    assert server.address_limited == 0 and result["budget"]["rate_limited"] == 0
    assert events.modes()[:2] == ["widened", "reduce_only"]
    assert orders_sent_after(server, events.first("rate_budget", mode="reduce_only")) == []
    assert result["budget"]["address_requests"] == server._account(USER).requests_used  # counted as the exchange
    assert [o for o in server.resting(USER) if o.cloid] == [] and result["status"] == "ok"
