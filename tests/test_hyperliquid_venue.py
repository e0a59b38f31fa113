"""The Hyperliquid venue driving the real SDK over HTTP against the loopback server (tests/hl_server.py): orders on
the wire, the local mirror, fills, faults, the dead man's switch, metadata changes, agent wallets. Client order ids,
unknown outcomes and reconciliation are in test_hyperliquid_failsafe.py."""

from __future__ import annotations

import time
from typing import Iterator

import pytest
from eth_account import Account
from hl_server import AGENT_KEY, TEST_KEY, HLServer, connected_venue, make_venue

from jobs import wait_for
from botmm.errors import ConfigError, VenueError
from botmm.model import QuoteLevel, Side
from botmm.plugins.exchanges.hyperliquid.client import RateLimited, Uncertain

USER = Account.from_key(TEST_KEY).address.lower()


@pytest.fixture
def server() -> Iterator[HLServer]:
    srv = HLServer(move_prob=0.0).start()  # a still book unless a test shifts it
    yield srv
    srv.stop()


@pytest.fixture
def venue(server: HLServer):
    v = connected_venue(server.url)
    yield v
    if v.client is not None:
        v.disconnect()


def bid(price: float, size: float = 0.01) -> QuoteLevel:
    return QuoteLevel(Side.BUY, price, size)


def ask(price: float, size: float = 0.01) -> QuoteLevel:
    return QuoteLevel(Side.SELL, price, size)


def test_orders_on_the_wire_are_rounded_alo_and_signed_by_the_wallet(server: HLServer, venue) -> None:
    assert server.book("ETH") == (3000.0, 3000.1)
    placed = venue.place_orders([bid(2999.87, 0.033337), ask(3000.23, 0.033337), bid(2999.5, 0.0033)], 1)
    assert [(o.side, o.price, o.size) for o in placed] == [(Side.BUY, 2999.8, 0.0333), (Side.SELL, 3000.3, 0.0333)]
    wire = [(e["is_buy"], e["px"], e["sz"], e["tif"]) for e in server.order_log]
    assert wire == [(True, "2999.8", "0.0333", "Alo"), (False, "3000.3", "0.0333", "Alo")]  # $9.90 bid not sent
    assert venue.stats["skipped"] == 1
    assert server.rule_failures == [] and server.violations == []
    assert set(server.signers) == {USER}
    assert sorted(o.oid for o in server.resting(USER)) == sorted(o.oid for o in venue.get_open_orders())


def test_post_only_rejection_is_left_out_not_raised(server: HLServer, venue) -> None:
    placed = venue.place_orders([bid(3000.1), ask(3000.3)], 1)  # the bid would take the 3000.1 ask
    assert [o.side for o in placed] == [Side.SELL]
    assert venue.stats["alo_rejected"] == 1
    assert len(server.resting(USER)) == 1


def test_modify_sends_only_what_changed_in_batches_of_20(server: HLServer, venue) -> None:
    levels = [bid(2990.0 - i, 0.01) for i in range(25)]
    placed = venue.place_orders(levels, 1)
    assert len(placed) == 25 and len(server.exchange_requests("order")) == 1  # one bulk action
    unchanged = [(o.oid, bid(o.price + 0.04, 0.01)) for o in placed[:3]]  # rounds back down to the same price
    assert venue.modify_orders(unchanged, 2) == placed[:3]
    assert server.exchange_requests("batchModify") == []
    moved = [(o.oid, bid(o.price - 0.5, 0.01)) for o in placed]
    replaced = venue.modify_orders(moved, 3)
    assert [len(r) for r in _batches(server)] == [20, 5]
    assert sorted(o.price for o in replaced) == sorted(o.price - 0.5 for o in placed)
    assert not {o.oid for o in replaced} & {o.oid for o in placed}  # cancel-and-replace: new oids
    assert sorted(o.oid for o in server.resting(USER)) == sorted(o.oid for o in venue.get_open_orders())


def _batches(server: HLServer) -> list[list[dict]]:
    mods = [e for e in server.order_log if e["what"] == "modify"]
    sizes = []
    for request in server.exchange_requests("batchModify"):
        sizes.append(mods[:20] if len(mods) >= 20 else mods)
        mods = mods[len(sizes[-1]):]
    return sizes


def test_fill_reaches_the_venue_exactly_once(server: HLServer, venue) -> None:
    venue.poll(1)
    [order] = venue.place_orders([bid(2999.5, 0.02)], 1)
    server.shift("ETH", -10)  # the book trades down through the bid
    seen: list = []
    cursor = 0

    def poll() -> int:
        nonlocal cursor
        venue.poll(2)
        fills, cursor = venue.fills_since(cursor)
        seen.extend(fills)
        return len(seen)

    assert wait_for(poll, 10)  # the position read (at most account_poll_s old) shows the fill
    for _ in range(3):  # later polls deliver nothing twice
        poll()
    [server_fill] = server.fills(USER)
    assert [(f.oid, f.side, f.price, f.size) for f in seen] == [(order.oid, Side.BUY, 2999.5, 0.02)]
    assert seen[0].fee == float(server_fill["fee"]) and seen[0].maker
    assert venue.get_open_orders() == []
    assert venue.get_position().size == 0.02


def test_timeout_on_place_is_resolved_by_a_resync(server: HLServer, venue) -> None:
    venue.poll(1)
    server.inject("timeout", path="/exchange", types=("order",), delay_s=1.5)
    with pytest.raises(Uncertain, match="no answer within 1s"):
        venue.place_orders([bid(2999.0, 0.01)], 1)
    assert venue.get_open_orders() == []  # the answer was lost...
    assert len(server.resting(USER)) == 1  # ...but the order rests
    venue.poll(2)
    assert [o.price for o in venue.get_open_orders()] == [2999.0]
    assert venue.cancel_all_orders() == 1
    assert server.resting(USER) == []


def test_429_backs_off_without_sending(server: HLServer, venue) -> None:
    server.inject("429", path="/info", types=("l2Book",))
    with pytest.raises(RateLimited, match="HTTP 429"):
        venue.poll(1)
    sent = len(server.requests)
    with pytest.raises(RateLimited, match="retrying in"):
        venue.client.info({"type": "l2Book", "coin": "ETH"}, wait_s=0.0)
    assert len(server.requests) == sent  # the cooldown keeps requests off the wire
    assert venue.poll(2) is not None  # waits out the 1 s cooldown within the timeout


def test_5xx_on_cancel_is_retried_until_verified(server: HLServer, venue) -> None:
    venue.place_orders([bid(2999.0), ask(3001.0)], 1)
    server.inject("5xx", path="/exchange", types=("cancel",))
    assert venue.cancel_all_orders() >= 0
    assert server.resting(USER) == []
    assert len(server.exchange_requests("cancel")) >= 1


def test_partial_batch_failure_keeps_the_accepted_orders(server: HLServer, venue) -> None:
    server.inject("partial_batch")
    placed = venue.place_orders([bid(2999.0), bid(2998.0), ask(3001.0), ask(3002.0)], 1)
    assert [o.price for o in placed] == [2999.0, 3001.0]
    assert venue.stats["order_errors"] == 2
    assert sorted(o.oid for o in server.resting(USER)) == sorted(o.oid for o in placed)


def test_changed_sz_decimals_refused_then_refreshed_and_rerounded(server: HLServer, venue) -> None:
    venue.poll(1)
    venue.place_orders([bid(2999.0, 0.0337)], 1)
    server.set_sz_decimals("ETH", 2)
    with pytest.raises(VenueError, match="every order refused .Order has invalid size"):
        venue.place_orders([ask(3001.0, 0.0337)], 2)
    venue.poll(3)  # the refusal scheduled a metadata refresh
    [(event, data)] = [e for e in venue.events if e[0] == "metadata_changed"]
    assert data == {"coin": "ETH", "sz_decimals": [4, 2], "recancelled": 1}
    assert server.resting(USER) == []  # the 0.0337 bid no longer fits: cancelled
    [order] = venue.place_orders([ask(3001.0, 0.0037)], 4)
    assert order.size == 0.01  # $11.10 wanted, 0.00 after rounding: lifted to the smallest size worth $10
    assert server.order_log[-1]["sz"] == "0.01" and server.order_log[-1]["szDecimals"] == 2


def test_refresh_metadata_reports_nothing_when_nothing_changed(server: HLServer, venue) -> None:
    assert venue.refresh_metadata() == {}


def test_dead_mans_switch_is_armed_and_only_a_verified_stop_clears_it(server: HLServer, venue) -> None:
    before = int(time.time() * 1000)
    assert venue.arm_dead_mans_switch() is True
    schedule = server.accounts[USER].schedule
    assert before + 60_000 <= schedule <= before + 61_000  # dead_mans_switch_s ahead
    venue.place_orders([bid(2999.0)], 1)
    venue.cancel_all_orders()
    venue.disarm_dead_mans_switch()
    assert server.accounts[USER].schedule is None


def test_disconnect_never_clears_the_switch(server: HLServer, venue) -> None:
    venue.arm_dead_mans_switch()
    venue.place_orders([bid(2999.0)], 1)
    venue.disconnect()  # e.g. after a failed stop: the exchange still cancels when the time comes
    assert server.accounts[USER].schedule is not None
    assert len(server.exchange_requests("scheduleCancel")) == 1


def test_refused_switch_returns_false_and_names_the_guardian(server: HLServer, venue) -> None:
    server.refuse_schedule = True
    venue.place_orders([bid(2999.0)], 1)
    assert venue.arm_dead_mans_switch() is False
    [(event, data)] = venue.events
    assert event == "dead_mans_switch" and data["armed"] is False and data["fallback"] == "guardian"
    assert len(server.resting(USER)) == 1  # nothing in this process cancels behind the runner's back
    spec = venue.guardian()
    assert spec.module == "botmm.plugins.exchanges.hyperliquid.guardian" and spec.env == ["HL_PRIVATE_KEY"]
    assert spec.settings == {"base_url": server.url, "account": Account.from_key(TEST_KEY).address,
                             "coins": ["ETH"], "cloid_prefix": "b0770000", "timeout_s": 1.0, "is_mainnet": False,
                             "key_env": "HL_PRIVATE_KEY", "key_file": None}
    assert TEST_KEY[2:] not in repr(spec)
    assert venue.state_key == f"{USER}-ETH"


def test_exchange_fires_the_scheduled_cancel_when_the_bot_goes_quiet(server: HLServer, venue) -> None:
    venue.place_orders([bid(2999.0)], 1)
    server.accounts[USER].schedule = int(time.time() * 1000) + 300  # as if armed 5 s ago and never re-armed
    assert wait_for(lambda: not server.resting(USER), 10)
    assert server.triggers == 1


def test_reconcile_adopts_resting_orders_and_position(server: HLServer) -> None:
    first = make_venue(server.url)
    first.connect()
    first.place_orders([bid(2999.5, 0.02), ask(3002.0, 0.02)], 1)
    server.shift("ETH", -10)  # fills the bid: the account is long 0.02
    first.disconnect()  # a crash: the ask stays behind
    second = make_venue(server.url)
    second.connect()
    try:
        found = second.reconcile()
        assert (found.open_orders, found.position, found.avg_entry, found.differences) == (1, 0.02, 2999.5, [])
        assert [(o.side, o.price) for o in second.get_open_orders()] == [(Side.SELL, 3002.0)]
        second.poll(1)
        assert second.fills_since(0) == ([], 0)  # the fill before the start is in the position, not re-counted
    finally:
        second.cancel_all_orders()
        second.disconnect()
    assert server.resting(USER) == []


def test_agent_wallet_trades_for_its_account(tmp_path) -> None:
    agent = Account.from_key(AGENT_KEY).address
    srv = HLServer(move_prob=0.0, agents={agent: USER}).start()
    try:
        v = make_venue(srv.url, key=AGENT_KEY, account_address=Account.from_key(TEST_KEY).address)
        v.connect()
        v.place_orders([bid(2999.0)], 1)
        assert set(srv.signers) == {agent.lower()}
        assert len(srv.resting(USER)) == 1 and srv.resting(agent) == []
        assert v.reconcile().open_orders == 1  # reads are for the account, not the agent
        v.cancel_all_orders()
        v.disconnect()
        assert srv.resting(USER) == []
    finally:
        srv.stop()


def test_unknown_symbol_fails_at_connect_in_one_line(server: HLServer) -> None:
    v = make_venue(server.url, symbol="DOGEUSDT")
    with pytest.raises(ConfigError, match=r"^asset.symbol=DOGEUSDT: not a Hyperliquid perp; 4 known, e.g. BTC, ETH"):
        v.connect()


def test_symbol_forms_reach_the_same_coin(server: HLServer) -> None:
    for symbol in ("ETHUSDT", "ETH-PERP", "eth"):
        v = make_venue(server.url, symbol=symbol)
        v.connect()
        assert v.coin == "ETH" and v.sz_decimals == 4
        v.disconnect()
