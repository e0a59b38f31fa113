"""The Hyperliquid venue fails safe, through the real SDK against the loopback server (tests/hl_server.py): client
order ids and foreign orders, unknown outcomes resolved by cloid (never a duplicate order), odd answers as one-line
errors, reconciliation of position, orders, fills (by tid) and funding, reduce-only orders, and a stop that cancels
each order once and waits out 429s; a seeded chaos run checks the invariants at every reconciliation."""

from __future__ import annotations

import random
import re
import time
from typing import Iterator

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from hl_server import TEST_KEY, HLServer, connected_venue, make_venue
from jobs import wait_for

from botmm.config import InvalidValue
from botmm.errors import VenueError
from botmm.model import QuoteLevel, Side
from botmm.protocols import FundingLedger, LiveVenue
from botmm.plugins.exchanges.hyperliquid.client import Uncertain

USER = Account.from_key(TEST_KEY).address.lower()
CLOID = re.compile(r"^0xb0770000[0-9a-f]{24}$")


@pytest.fixture
def server() -> Iterator[HLServer]:
    srv = HLServer(move_prob=0.0).start()
    yield srv
    srv.stop()


@pytest.fixture
def venue(server: HLServer):
    v = connected_venue(server.url, timeout_s=0.5)
    yield v
    if v.client is not None:
        v.disconnect()


def bid(price: float, size: float = 0.01, reduce_only: bool = False) -> QuoteLevel:
    return QuoteLevel(Side.BUY, price, size, reduce_only)


def ask(price: float, size: float = 0.01, reduce_only: bool = False) -> QuoteLevel:
    return QuoteLevel(Side.SELL, price, size, reduce_only)


def statuses(server: HLServer, *types: str) -> list:
    return [r["status"] for r in server.exchange_requests(*types)]


def test_the_venue_implements_the_live_contract(server: HLServer) -> None:
    fresh = make_venue(server.url, symbol="ETHUSDT", reconcile_s=5)
    assert isinstance(fresh, LiveVenue) and isinstance(fresh.funding, FundingLedger)  # also before connect
    assert fresh.reconcile_s == 5.0 and fresh.state_key == f"{USER}-ETHUSDT"
    fresh.connect()
    assert fresh.state_key == f"{USER}-ETH"
    fresh.disconnect()


# -- client order ids ----------------------------------------------------------------------------------------------
def test_every_order_and_replacement_carries_a_unique_prefixed_cloid(server: HLServer, venue) -> None:
    placed = venue.place_orders([bid(2999.0), ask(3001.0)], 1)
    venue.modify_orders([(o.oid, QuoteLevel(o.side, o.price + (-1 if o.side is Side.BUY else 1), 0.01))
                         for o in placed], 2)
    cloids = [e["cloid"] for e in server.order_log]
    assert len(cloids) == 4 and all(CLOID.match(c) for c in cloids) and len(set(cloids)) == 4
    assert sorted(o.cloid for o in venue.get_open_orders()) == sorted(cloids[2:])
    assert sorted(o.cloid for o in server.resting(USER)) == sorted(cloids[2:])


def test_cloid_prefix_is_checked_in_one_line() -> None:
    for bad in ("B0770000", "b077", "b0770000a", "xyz12345"):
        with pytest.raises(InvalidValue, match=r"^cloid_prefix=.*: must be exactly 8 lowercase hex digits") as info:
            make_venue("http://127.0.0.1:1", cloid_prefix=bad)
        assert "\n" not in str(info.value)
    assert make_venue("http://127.0.0.1:1", cloid_prefix="0123abcd").params.cloid_prefix == "0123abcd"


def test_foreign_order_is_reported_once_and_never_touched(server: HLServer, venue) -> None:
    foreign = server.place_foreign(USER, "ETH", True, "1500.0", "0.01")
    other_bot = make_venue(server.url, cloid_prefix="0000beef")
    other_bot.connect()
    [theirs] = other_bot.place_orders([ask(3050.0)], 1)
    mine = venue.place_orders([bid(2999.0), ask(3001.0)], 1)
    found = venue.reconcile()
    venue.reconcile()
    assert found.open_orders == 2 and found.foreign_orders == 2
    assert sorted(o.oid for o in venue.get_open_orders()) == sorted(o.oid for o in mine)
    reported = sorted(d["oid"] for e, d in venue.events if e == "foreign_order")
    assert reported == sorted([foreign, theirs.oid])  # once each, over two reconciliations
    venue.modify_orders([(foreign, bid(2990.0))], 2)
    venue.cancel_orders([foreign, theirs.oid])
    assert venue.cancel_all_orders() == 2
    assert sorted(o.oid for o in server.resting(USER)) == sorted([foreign, theirs.oid])
    assert [e for e in server.order_log if e["what"] == "modify"] == []
    assert len(server.exchange_requests("cancel")) == 1  # only the bot's two orders, in one action
    other_bot.disconnect()


def test_orders_of_an_earlier_run_with_the_prefix_are_adopted(server: HLServer) -> None:
    crashed = make_venue(server.url)
    crashed.connect()
    [left] = crashed.place_orders([ask(3002.0)], 1)
    crashed.disconnect()
    restarted = make_venue(server.url)
    restarted.connect()
    assert restarted.reconcile().open_orders == 1
    assert [o.oid for o in restarted.get_open_orders()] == [left.oid]
    assert restarted.cancel_all_orders() == 1
    restarted.disconnect()


def test_server_answers_order_status_and_cancels_by_cloid_in_the_real_shapes(server: HLServer, venue) -> None:
    [order] = venue.place_orders([bid(2999.0)], 1)
    status, seen = venue.client.order_status(order.cloid)
    assert status == "open" and (seen["oid"], seen["cloid"], seen["limitPx"], seen["side"]) == (
        order.oid, order.cloid, "2999", "B")
    answer = venue.client.act({"type": "cancelByCloid", "cancels": [{"asset": 1, "cloid": order.cloid}]}, urgent=True)
    assert answer == {"type": "cancel", "data": {"statuses": ["success"]}}
    assert venue.client.order_status(order.cloid)[0] == "canceled"
    assert venue.client.order_status("0x" + "ab" * 16) == ("unknownOid", None)


# -- unknown outcomes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["truncated", "timeout", "5xx"])
def test_unknown_outcome_of_a_placement_is_resolved_before_anything_is_resent(server: HLServer, venue,
                                                                              fault: str) -> None:
    venue.poll(1)
    server.inject(fault, path="/exchange", types=("order",), delay_s=0.8)
    with pytest.raises(Uncertain):
        venue.place_orders([bid(2999.0), ask(3001.0)], 2)
    assert len(server.resting(USER)) == 2 and venue.get_open_orders() == []  # executed, answer lost
    assert venue.place_orders([bid(2999.0), ask(3001.0)], 3) == []  # resolved first: nothing re-sent
    assert sorted(o.price for o in venue.get_open_orders()) == [2999.0, 3001.0]
    assert len(server.exchange_requests("order")) == 1
    assert server.peak_resting(USER, "ETH") == (1, 1)
    assert [r for r in server.requests if r["type"] == "orderStatus"] != []


def test_unknown_outcome_of_a_modify_is_resolved_at_the_next_poll(server: HLServer, venue) -> None:
    [old] = venue.place_orders([bid(2999.0)], 1)
    server.inject("truncated", path="/exchange", types=("batchModify",))
    with pytest.raises(Uncertain, match="batchModify: unreadable answer"):
        venue.modify_orders([(old.oid, bid(2998.0))], 2)
    venue.poll(3)
    [new] = venue.get_open_orders()
    assert new.price == 2998.0 and new.oid != old.oid
    assert [o.oid for o in server.resting(USER)] == [new.oid]
    assert server.peak_resting(USER, "ETH") == (1, 0)


def test_an_order_the_exchange_never_took_is_placed_again(server: HLServer, venue) -> None:
    server.inject("bad_400", path="/exchange", types=("order",))
    with pytest.raises(Uncertain, match=r"^order: unexpected answer from the exchange \(KeyError"):
        venue.place_orders([bid(2999.0)], 1)
    assert server.resting(USER) == []
    assert venue.place_orders([bid(2999.0)], 2) == []  # this call learned (unknownOid) it never rested
    [order] = venue.place_orders([bid(2999.0)], 3)  # the side is free again
    assert [o.oid for o in server.resting(USER)] == [order.oid]


def test_nothing_is_sent_on_a_side_while_its_outcome_cannot_be_learned(server: HLServer, venue) -> None:
    server.inject("timeout", path="/exchange", types=("order",), delay_s=0.8)
    with pytest.raises(Uncertain):
        venue.place_orders([bid(2999.0)], 1)
    server.inject("5xx", path="/info", types=("orderStatus",), times=2)
    placed = venue.place_orders([bid(2999.0), ask(3001.0)], 2)
    assert [o.side for o in placed] == [Side.SELL]  # the ask side was never in doubt
    assert [o.side for o in venue.place_orders([bid(2999.0)], 3)] == []  # still unknown: still nothing
    venue.poll(4)  # resolved now: the first bid was resting all along
    assert sorted(o.side for o in venue.get_open_orders()) == [Side.SELL, Side.BUY]
    assert server.peak_resting(USER, "ETH") == (1, 1)


def test_odd_answers_are_one_line_venue_errors(server: HLServer, venue) -> None:
    server.inject("bad_400", path="/info", types=("l2Book",))
    with pytest.raises(VenueError) as info:
        venue.poll(1)
    assert str(info.value).startswith("l2Book: unexpected answer from the exchange (KeyError")
    server.inject("truncated", path="/info", types=("l2Book",))
    with pytest.raises(VenueError, match="^l2Book: unreadable answer Could not parse JSON"):
        venue.poll(2)
    server.inject("unreadable", path="/info", types=("frontendOpenOrders",))
    with pytest.raises(VenueError, match="^frontendOpenOrders: unexpected answer"):
        venue.reconcile()
    for message in (str(info.value),):
        assert "\n" not in message and "Traceback" not in message


# -- reconciliation ------------------------------------------------------------------------------------------------
def test_an_unreadable_position_is_an_error_never_position_zero(server: HLServer, venue) -> None:
    server.set_position(USER, "ETH", "0.5", "2900.0")
    server.inject("unreadable", path="/info", types=("clearinghouseState",))
    with pytest.raises(VenueError, match="^clearinghouseState: unexpected answer"):
        venue.reconcile()
    found = venue.reconcile()
    assert (found.position, found.avg_entry) == (0.5, 2900.0)


def test_reconcile_adopts_the_exchanges_position_and_reports_the_difference(server: HLServer, venue) -> None:
    assert venue.reconcile().position == 0.0
    server.set_position(USER, "ETH", "-0.2", "3010.0")  # a trade the bot never saw (e.g. by hand)
    found = venue.reconcile()
    assert found.position == -0.2 and found.differences == ["position: ours 0, exchange's -0.2"]
    assert venue.reconcile().differences == []


def test_late_fill_is_delivered_once_with_its_trade_id(server: HLServer, venue) -> None:
    venue._start_ms -= 60_000  # as if the run had started a minute ago
    venue.reconcile()
    [order] = venue.place_orders([bid(2999.0, 0.02)], 1)
    server.shift("ETH", -20)  # fills it
    assert wait_for(lambda: venue.poll(2) and venue.fills, 10)  # seen once the cached position moves
    now_fill = server.fills(USER)[-1]
    late = server.add_fill(USER, "ETH", True, "2999.0", "0.01", order.oid, time_ms=now_fill["time"] - 20_000)
    venue.poll(3)  # the fill poll's window does not reach 20 s back
    assert [f.tid for f in venue.fills] == [now_fill["tid"]]
    found = venue.reconcile()
    assert found.position == 0.03
    assert [d.split(":")[0] for d in found.differences] == [f"fill {late['tid']}"]
    fills, cursor = venue.fills_since(0)
    assert sorted(f.tid for f in fills) == sorted(f["tid"] for f in server.fills(USER))
    venue.reconcile()
    venue.poll(4)
    assert venue.fills_since(cursor) == ([], cursor)


def test_the_stop_reads_the_runs_fills_from_its_start(server: HLServer, venue) -> None:
    venue._start_ms -= 60_000  # as if the run had started a minute ago
    venue.poll(1)
    [order] = venue.place_orders([bid(2999.0, 0.02)], 1)
    server.shift("ETH", -20)
    assert wait_for(lambda: venue.poll(2) and venue.fills, 10)
    late = server.add_fill(USER, "ETH", True, "2999.0", "0.01", order.oid, time_ms=venue.fills[0].ts - 20_000)
    venue.poll(3)
    assert len(venue.fills) == 1  # beyond the fill poll's window
    venue.cancel_all_orders()
    assert [f.tid for f in venue.fills] == [venue.fills[0].tid, late["tid"]]
    assert sorted(f.tid for f in venue.fills) == sorted(f["tid"] for f in server.fills(USER))


def test_fills_of_foreign_orders_are_not_the_runs(server: HLServer, venue) -> None:
    venue.reconcile()
    foreign = server.place_foreign(USER, "ETH", True, "2999.5", "0.01")
    [mine] = venue.place_orders([bid(2999.0, 0.01)], 1)
    server.shift("ETH", -20)  # both fill
    found = venue.reconcile()
    assert [f.oid for f in venue.fills] == [mine.oid]
    assert found.position == 0.02  # the position is the account's: the foreign fill is in it, reported
    assert [d.split(":")[0] for d in found.differences] == [f"fill {venue.fills[0].tid}", "position"]
    assert found.differences[1] == "position: ours 0.01, exchange's 0.02"
    assert foreign in {f["oid"] for f in server.fills(USER)}


def test_funding_payments_are_booked_once(server: HLServer, venue) -> None:
    server.set_position(USER, "ETH", "0.5", "3000.0")
    server.add_funding(USER, "ETH", "-1.5")  # paid
    server.add_funding(USER, "BTC", "2.0")  # another coin
    venue.reconcile()
    server.add_funding(USER, "ETH", "0.25")  # received
    venue.reconcile()
    payments, cursor = venue.funding.since(0)
    assert [p.amount for p in payments] == [1.5, -0.25]
    assert payments[0].position == 0.5 and payments[0].mark == pytest.approx(1.5 / (0.5 * 0.0000125))
    assert venue.funding.since(cursor) == ([], cursor)


# -- reduce-only ---------------------------------------------------------------------------------------------------
def test_reduce_only_goes_out_and_growing_the_position_is_refused(server: HLServer, venue) -> None:
    server.set_position(USER, "ETH", "0.05", "3000.0")
    placed = venue.place_orders([ask(3001.0, 0.01, reduce_only=True), bid(2999.0, 0.01, reduce_only=True)], 1)
    assert [o.side for o in placed] == [Side.SELL]
    assert [e["reduce_only"] for e in server.order_log] == [True, True]
    assert venue.stats["order_errors"] == 1
    venue.modify_orders([(placed[0].oid, ask(3002.0, 0.01, reduce_only=True))], 2)
    assert server.order_log[-1]["reduce_only"] is True
    [resting] = server.resting(USER)
    assert resting.reduce_only and resting.px == "3002"
    assert server.violations == []


# -- the stop ------------------------------------------------------------------------------------------------------
def test_stop_sends_each_cancel_once(server: HLServer, venue) -> None:
    venue.place_orders([bid(2999.0), ask(3001.0), ask(3003.0)], 1)
    server.inject("5xx", path="/exchange", types=("cancel",))  # executed, answer lost
    venue.cancel_all_orders()
    assert server.resting(USER) == []
    assert len(server.exchange_requests("cancel")) == 1  # the read showed none resting: nothing re-sent


def test_stop_waits_out_a_429_instead_of_resending(server: HLServer, venue) -> None:
    venue.place_orders([bid(2999.0), ask(3001.0)], 1)
    server.inject("429", path="/exchange", types=("cancel",))
    assert venue.cancel_all_orders() == 2
    first, second = server.exchange_requests("cancel")
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 900  # the 1 s cooldown was waited out
    assert server.resting(USER) == []


def test_stop_in_a_429_storm_fails_loudly_without_hammering(server: HLServer, venue) -> None:
    venue.place_orders([bid(2999.0), ask(3001.0)], 1)
    venue.arm_dead_mans_switch()
    server.inject("429", times=1000)
    before = len(server.requests)
    started = time.monotonic()
    with pytest.raises(VenueError, match="could not verify that no order rests after 4s"):
        venue.cancel_all_orders()
    assert time.monotonic() - started < 6.0
    assert len(server.requests) - before <= 4  # 1 s, 2 s cooldowns: waited, never re-sent into
    assert len(server.exchange_requests("cancel")) <= 2
    assert server.accounts[USER].schedule is not None  # the switch stays armed: it will cancel


# -- seeded chaos --------------------------------------------------------------------------------------------------
CHAOS = [("5xx", "/exchange", ("order", "batchModify", "cancel")), ("timeout", "/exchange", ("order", "batchModify")),
         ("truncated", "/exchange", ("order", "batchModify", "cancel")), ("bad_400", "/exchange", ("order",)),
         ("5xx", "/info", ("l2Book", "frontendOpenOrders", "orderStatus")), ("truncated", "/info", ("orderStatus",)),
         ("unreadable", "/info", ("clearinghouseState", "frontendOpenOrders", "userFillsByTime")),
         ("429", "/exchange", ("order", "batchModify"))]


def quote_once(venue, now: int) -> None:
    """A minimal quoter: one bid and one ask two ticks outside the touch, modified when the touch moved."""
    market = venue.poll(now)
    want = {Side.BUY: round(market.bid - 0.2, 1), Side.SELL: round(market.ask + 0.2, 1)}
    resting = {o.side: o for o in venue.get_open_orders()}
    moves = [(o.oid, QuoteLevel(side, want[side], 0.01)) for side, o in resting.items() if o.price != want[side]]
    if moves:
        venue.modify_orders(moves, now)
    venue.place_orders([QuoteLevel(side, want[side], 0.01) for side in want if side not in resting], now)


@pytest.mark.parametrize("seed", [1, 7])
def test_seeded_chaos_keeps_the_invariants_at_every_reconciliation(seed: int) -> None:
    """Random faults on actions and reads while a minimal quoter runs; at every reconciliation the venue's orders,
    position and fills (by tid) are the exchange's, and no side ever had two orders resting."""
    server = HLServer(move_prob=0.0).start()
    rng = random.Random(seed)
    venue = connected_venue(server.url, timeout_s=0.3)
    checks, injected = 0, []
    try:
        for tick in range(42):  # about 700 request weight of the 1000 a minute
            if rng.random() < 0.5:
                kind, path, types = rng.choice(CHAOS)
                injected.append(server.inject(kind, path=path, types=(rng.choice(types),), delay_s=0.4))
            if rng.random() < 0.3:
                server.shift("ETH", rng.choice((-4, -3, 3, 4)))  # trades through a quote now and then
            try:
                quote_once(venue, tick)
            except VenueError:
                pass
            if tick % 7 == 6:
                server.faults.clear()
                assert wait_for(lambda: venue.client.budget.cooling() == 0, 70.0)  # a 429's back-off
                found = venue.reconcile()
                checks += 1
                bot_resting = sorted(o.oid for o in server.resting(USER))
                assert sorted(o.oid for o in venue.get_open_orders()) == bot_resting
                assert found.position == float(server.accounts[USER].positions.get("ETH", (0, 0))[0])
                assert sorted(f.tid for f in venue.fills) == sorted(f["tid"] for f in server.fills(USER))
                assert server.peak_resting(USER, "ETH") == (1, 1)
        server.faults.clear()
        assert wait_for(lambda: venue.client.budget.cooling() == 0, 70.0)
        venue.cancel_all_orders()
        assert server.resting(USER) == []
        assert checks == 6 and len(venue.fills) > 0 and server.violations == []
        assert sum(f.fired for f in injected) >= 5  # the faults did fire
    finally:
        venue.disconnect()
        server.stop()


# -- properties ----------------------------------------------------------------------------------------------------
ENTRY = st.fixed_dictionaries({
    "oid": st.integers(1, 40), "coin": st.sampled_from(["ETH", "BTC"]),
    "cloid": st.sampled_from([None, "0xb0770000" + "0" * 24, "0xb0770000" + "1" * 24, "0x0000beef" + "2" * 24]),
    "side": st.sampled_from(["B", "A"]), "limitPx": st.sampled_from(["2999", "3001.5"]), "sz": st.just("0.01"),
    "origSz": st.just("0.02")})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(ENTRY, max_size=8, unique_by=lambda e: e["oid"]), min_size=1, max_size=4))
def test_only_the_bots_orders_enter_the_mirror_and_each_foreign_one_is_reported_once(snapshots) -> None:
    venue = make_venue("http://127.0.0.1:1")
    venue.coin = "ETH"
    events: list[dict] = []
    venue.notify = lambda event, **data: events.append(data)
    for raw in snapshots:
        venue._load_orders(raw, 0.0)
        expected = {e["oid"]: e["cloid"] for e in raw if e["coin"] == "ETH" and (e["cloid"] or "").startswith(
            "0xb0770000")}
        assert {o.oid: o.cloid for o in venue.get_open_orders()} == expected
        assert all(o.filled == 0.01 for o in venue.get_open_orders())
    foreign = {e["oid"] for raw in snapshots for e in raw
               if e["coin"] == "ETH" and not (e["cloid"] or "").startswith("0xb0770000")}
    assert sorted(d["oid"] for d in events) == sorted(foreign)  # each foreign order reported, and only once


FILL = st.fixed_dictionaries({
    "tid": st.integers(1, 30), "oid": st.integers(1, 6), "coin": st.sampled_from(["ETH", "ETH", "BTC"]),
    "side": st.sampled_from(["B", "A"]), "sz": st.sampled_from(["0.01", "0.02"]), "px": st.just("3000"),
    "time": st.integers(0, 2_000), "cloid": st.sampled_from([None, "0xb0770000" + "3" * 24])})


@settings(max_examples=80, deadline=None)
@given(st.lists(FILL, max_size=25), st.integers(0, 1_000))
def test_each_fill_of_the_run_is_delivered_once_and_moves_the_belief_once(fills, start_ms) -> None:
    venue = make_venue("http://127.0.0.1:1")
    venue.coin, venue._start_ms, venue._believed = "ETH", start_ms, 0.0
    venue._oids = {1, 2}  # orders the bot knew by oid
    first: dict[int, dict] = {}
    for raw in fills:
        venue._record_fill(raw)
        if raw["coin"] == "ETH" and raw["time"] >= start_ms and (raw["cloid"] or raw["oid"] in (1, 2)):
            first.setdefault(raw["tid"], raw)
    assert [f.tid for f in venue.fills] == list(first)
    signed = sum((1 if f["side"] == "B" else -1) * float(f["sz"]) for f in first.values())
    assert venue._believed == pytest.approx(signed)
