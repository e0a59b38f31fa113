"""The Hyperliquid client's transport rules: weight budget and 429 backoff, monotonic nonces, HTTP timeouts, the
account fill log (no fill twice, none missed), the shared client per account, and the environment read once."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from eth_account import Account
from hl_server import TEST_KEY, HLServer, make_venue

from botmm.model import QuoteLevel, Side
from botmm.plugins.exchanges.hyperliquid.client import (
    NonceSource,
    RateLimited,
    WeightBudget,
    action_weight,
    fill_key,
    info_weight,
    settle_environment,
)

USER = Account.from_key(TEST_KEY).address.lower()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_weights_follow_the_exchange_table() -> None:
    assert info_weight("l2Book") == 2 and info_weight("clearinghouseState") == 2
    assert info_weight("frontendOpenOrders") == 20 and info_weight("meta") == 20 and info_weight("orderStatus") == 2
    assert info_weight("userFillsByTime", 59) == 22  # +1 per 20 fills returned
    assert info_weight("userFunding", 40) == 22 and info_weight("candleSnapshot", 120) == 22
    assert action_weight(1) == 1 and action_weight(79) == 2


def test_budget_shares_and_window() -> None:
    clock = FakeClock()
    budget = WeightBudget(100, clock)
    budget.acquire(70, share=0.75)
    with pytest.raises(RateLimited, match=r"budget \(100/min\) spent; retry in 60.0s"):
        budget.acquire(10, share=0.75)  # optional reads stop at 75
    budget.acquire(20, share=0.9)  # market reads may go to 90
    budget.acquire(10, share=1.0)  # actions to the whole budget
    budget.spend(5)  # cancels always go out
    assert budget.spent() == 105
    clock.now += 60.0
    assert budget.spent() == 0


def test_429_closes_the_gate_with_doubling_backoff() -> None:
    clock = FakeClock()
    budget = WeightBudget(1200, clock)
    assert [budget.penalise() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    with pytest.raises(RateLimited, match="retrying in 60.0s"):
        budget.acquire(2)
    clock.now += 60.0
    budget.relieve()
    budget.acquire(2)
    assert budget.penalise() == 1


def test_budget_waits_for_room_when_allowed() -> None:
    budget = WeightBudget(10)
    budget.acquire(10)
    budget._spent[0] = (time.monotonic() - 59.7, 10)  # expires in 0.3 s
    started = time.monotonic()
    budget.acquire(5, wait_s=2.0)
    assert 0.2 < time.monotonic() - started < 1.5


def test_nonces_strictly_increase_across_threads_within_one_millisecond() -> None:
    source = NonceSource(clock=lambda: 1_700_000_000.0005)  # a frozen clock: every call in the same ms
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(200):
            n = source.next()
            with lock:
                seen.append(n)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 800
    assert min(seen) == 1_700_000_000_000 and max(seen) == 1_700_000_000_799


def test_fill_key_prefers_the_trade_id() -> None:
    assert fill_key({"tid": 7, "oid": 1, "time": 5}) == ("tid", 7, 1)
    assert fill_key({"hash": "0xab", "oid": 1, "time": 5, "px": "1", "sz": "2"}) == ("0xab", 1, 5, "1", "2")


def test_actions_carry_increasing_nonces_and_fills_are_logged_once(tmp_path) -> None:
    server = HLServer(move_prob=0.0).start()
    try:
        venue = make_venue(server.url, fills_poll_s=0.05)
        venue.connect()
        client = venue.client
        for i in range(6):
            venue.place_orders([QuoteLevel(Side.BUY, 2999.0 - i, 0.01)], 1)
        server.shift("ETH", -80)  # fills all six
        for _ in range(5):  # overlapping windows return the same fills again: deduplicated
            client.poll_fills(force=True)
        assert len(client.fill_log) == 6
        assert sorted(f["tid"] for f in client.fill_log) == sorted(f["tid"] for f in server.fills(USER))
        nonces = server.nonces[USER]
        assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces) == 6
        venue.disconnect()
    finally:
        server.stop()


def test_venues_of_one_account_share_one_client_and_meta_load() -> None:
    server = HLServer(move_prob=0.0).start()
    try:
        eth, btc = make_venue(server.url, "ETH"), make_venue(server.url, "BTC")
        eth.connect()
        btc.connect()
        assert eth.client is btc.client and eth.client.users == 2
        assert [r["type"] for r in server.requests].count("meta") == 1
        assert btc.sz_decimals == 5 and eth.sz_decimals == 4
        assert eth.arm_dead_mans_switch() and btc.arm_dead_mans_switch()
        assert len(server.exchange_requests("scheduleCancel")) == 1  # coalesced per account
        eth.cancel_all_orders()
        eth.disarm_dead_mans_switch()
        eth.disconnect()
        assert server.accounts[USER].schedule is not None  # BTC has not verified its stop: the switch stays armed
        btc.cancel_all_orders()
        btc.disarm_dead_mans_switch()  # the last venue of the account verified its stop: cleared
        assert server.accounts[USER].schedule is None
        btc.disconnect()
    finally:
        server.stop()


def test_http_timeout_applies_to_reads() -> None:
    server = HLServer(move_prob=0.0).start()
    try:
        venue = make_venue(server.url, timeout_s=0.5)
        venue.connect()
        server.inject("timeout", path="/info", types=("l2Book",), delay_s=1.5)
        started = time.monotonic()
        with pytest.raises(Exception, match="l2Book: no answer within 0.5s"):
            venue.poll(1)
        assert time.monotonic() - started < 1.2
        venue.disconnect()
    finally:
        server.stop()


def test_fills_before_the_start_are_never_delivered_and_late_ones_are_not_missed() -> None:
    server = HLServer(move_prob=0.0).start()
    try:
        now = int(time.time() * 1000)
        for age_s in (300, 64, 61, 2):  # fills of earlier runs, some just inside the first poll's overlap
            server.add_fill(USER, "ETH", True, "2999.0", "0.01", 1, now - age_s * 1000)
        venue = make_venue(server.url, fills_poll_s=0.05)
        venue.connect()
        client = venue.client
        client.poll_fills(force=True)
        assert client.fill_log == []
        newest = server.add_fill(USER, "ETH", False, "3001.0", "0.01", 2)
        client.poll_fills(force=True)
        late = server.add_fill(USER, "ETH", False, "3002.0", "0.01", 3, newest["time"] - 3000)  # visible late
        client.poll_fills(force=True)
        assert [f["tid"] for f in client.fill_log] == [newest["tid"], late["tid"]]
        client.poll_fills(force=True)
        assert len(client.fill_log) == 2
        venue.disconnect()
    finally:
        server.stop()


def test_venues_of_one_account_share_the_account_reads_of_their_full_reconciliations() -> None:
    """Position, fills, funding and open orders are per account: two venues reconciling after both connected read
    each once (62 + 20 weight, not twice that); each takes its own coin's part. A later reconciliation reads again."""
    server = HLServer(move_prob=0.0).start()
    try:
        eth, btc = make_venue(server.url, "ETH"), make_venue(server.url, "BTC")
        eth.connect()
        btc.connect()
        eth.place_orders([QuoteLevel(Side.BUY, 2999.0, 0.01)], 1)
        server.shift("ETH", -80)  # fills the bid
        server.add_funding(USER, "ETH", "-0.25")
        kinds = ("clearinghouseState", "userFillsByTime", "userFunding", "frontendOpenOrders")

        def reads() -> list[int]:
            return [[r["type"] for r in server.requests].count(kind) for kind in kinds]

        before = reads()
        eth_found, btc_found = eth.reconcile(), btc.reconcile()
        assert [n - b for n, b in zip(reads(), before)] == [1, 1, 1, 1]
        assert eth_found.position == pytest.approx(0.01) and btc_found.position == 0.0
        assert [f.tid for f in eth.fills] == [f["tid"] for f in server.fills(USER)] and btc.fills == []
        assert [p.amount for p in eth.funding.payments] == [pytest.approx(0.25)] and btc.funding.payments == []
        before = reads()
        eth.reconcile()  # reconciled before, on the HTTP path: reads afresh
        assert [n - b for n, b in zip(reads(), before)] == [1, 1, 1, 1]
        eth.disconnect()
        btc.disconnect()
    finally:
        server.stop()


def test_the_environment_is_read_once_and_its_proxy_and_ca_bundle_kept(tmp_path, monkeypatch) -> None:
    proxy = HLServer().start()  # records the CONNECT of an HTTPS request sent through it
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        session = requests.Session()
        settle_environment(session, "https://api.hyperliquid.xyz")
        assert (session.proxies, session.verify, session.trust_env) == ({"https": proxy.url}, str(bundle), False)
        monkeypatch.delenv("HTTPS_PROXY")  # read once: a later change of the environment does not matter
        with pytest.raises(requests.RequestException):
            session.post("https://api.hyperliquid.xyz/info", json={}, timeout=3)
        assert [r["path"] for r in proxy.requests] == ["api.hyperliquid.xyz:443"]  # it went through the proxy
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "api.hyperliquid.xyz")  # a host the environment exempts goes direct
        direct = requests.Session()
        settle_environment(direct, "https://api.hyperliquid.xyz")
        assert direct.proxies == {}
    finally:
        proxy.stop()
