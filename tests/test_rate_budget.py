"""The rate budget (plugins/exchanges/hyperliquid/budget.py) and the order manager's degradation under its pressure:

* properties of the IP weight window: what is admitted never passes the budget within any 60 s, cancels are never
  blocked, the reported peak and time-weighted mean are the window's own;
* properties of the address budget: orders stop at the cap (bar one per 10 s, as the exchange allows), cancels
  never; pressure rises through the reserve;
* the order manager keeps orders within the widened band, and at high pressure sends only cancels and reduce-only
  orders, every open order accounted for exactly once;
* the client against the loopback server: the address figures are read with ``userRateLimit`` and its own actions
  counted in between, equal to the server's count.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer, connected_venue
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.config import InvalidValue, OrderManagerConfig
from botmm.core.order_manager import NORMAL, REDUCE_ONLY, WIDENED, OrderManager
from botmm.model import Order, Quote, QuoteLevel, Side
from botmm.plugins.exchanges.hyperliquid.budget import (
    ADDRESS_RESERVE,
    THROTTLED_EVERY_S,
    AddressBudget,
    RateBudget,
    RateLimited,
    WeightBudget,
    info_weight,
)
from botmm.status.snapshot import venue_view

USER = Account.from_key(TEST_KEY).address.lower()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_info_weights_are_the_documented_ones() -> None:
    assert {k: info_weight(k) for k in ("l2Book", "allMids", "clearinghouseState", "orderStatus",
                                        "spotClearinghouseState", "exchangeStatus", "userRole", "meta",
                                        "frontendOpenOrders", "userRateLimit")} == {
        "l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2, "spotClearinghouseState": 2,
        "exchangeStatus": 2, "userRole": 60, "meta": 20, "frontendOpenOrders": 20, "userRateLimit": 20}
    assert info_weight("historicalOrders", 45) == 22 and info_weight("nonUserFundingUpdates", 20) == 21
    assert info_weight("candleSnapshot", 119) == 21 and info_weight("meta", 500) == 20  # no per-item weight


# one operation: (seconds to wait first, weight, kind) with kind "read" (90 %), "action" (100 %) or "cancel"
OPS = st.lists(st.tuples(st.floats(0, 30), st.integers(1, 60), st.sampled_from(["read", "action", "cancel"])),
               max_size=60)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(50, 1200), ops=OPS)
def test_window_never_admits_beyond_the_budget_and_cancels_always_go(limit: int, ops: list) -> None:
    clock = Clock()
    budget = WeightBudget(limit, clock)
    log: list[tuple[float, int]] = []  # everything spent, as an observer outside the budget sees it
    for wait, weight, kind in ops:
        clock.now += wait
        window = sum(w for t, w in log if t > clock.now - 60)
        if kind == "cancel":
            budget.spend(weight)  # never raises
            log.append((clock.now, weight))
            continue
        share = 0.9 if kind == "read" else 1.0
        try:
            budget.acquire(weight, share)
        except RateLimited:
            assert window + weight > limit * share  # refused only when it would not fit
            continue
        log.append((clock.now, weight))
        assert window + weight <= limit * share  # admitted: the last 60 s, this one included, fit the budget
    assert budget.spent() == sum(w for t, w in log if t > clock.now - 60)


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(100, 1200), spends=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 50)),
                                                        min_size=1, max_size=40),
       tail=st.integers(1, 200))
def test_peak_and_mean_are_the_windows_own(limit: int, spends: list, tail: int) -> None:
    """With whole-second times the window total is constant on each (k, k+1): its integral is the sum of its values
    at k + 0.5, computed here from the spends alone."""
    clock = Clock()
    budget = WeightBudget(limit, clock)
    log: list[tuple[int, int]] = []
    now = 0
    for wait, weight in spends:
        now += wait
        clock.now = now
        budget.spend(weight)
        log.append((now, weight))
    clock.now = end = now + tail

    def window(t: float) -> int:
        return sum(w for ts, w in log if t - 60 < ts <= t)

    peak, mean = budget.usage()
    assert peak == pytest.approx(100 * max(window(ts) for ts, _ in log) / limit)
    assert mean == pytest.approx(100 * sum(window(k + 0.5) for k in range(end)) / end / limit)


@settings(max_examples=200, deadline=None)
@given(cap=st.integers(1, 300), ops=st.lists(st.tuples(st.floats(0, 12), st.integers(1, 40), st.booleans()),
                                             max_size=50))
def test_address_budget_stops_orders_at_the_cap_never_cancels(cap: int, ops: list) -> None:
    clock = Clock()
    budget = AddressBudget(clock)
    budget.update({"nRequestsUsed": 0, "nRequestsCap": cap, "cumVlm": "0.0"}, 0.0)
    beyond: list[float] = []  # when an order action beyond the cap went out
    sent = 0
    for wait, requests, cancel in ops:
        clock.now += wait
        over = budget.used + requests > cap
        try:
            budget.admit(requests, cancel)
        except RateLimited:
            assert not cancel and over and beyond and clock.now - beyond[-1] < THROTTLED_EVERY_S
            continue
        sent += requests
        if over and not cancel:
            assert not beyond or clock.now - beyond[-1] >= THROTTLED_EVERY_S  # one per 10 s beyond the cap
            beyond.append(clock.now)
    assert budget.used == budget.sent == sent
    assert budget.pressure() == pytest.approx(min(1.0, max(0.0, 1 - (cap - sent) / min(cap, ADDRESS_RESERVE))))


def test_address_pressure_rises_through_the_reserve_and_the_report_says_so() -> None:
    clock = Clock()
    address = AddressBudget(clock)
    address.update({"nRequestsUsed": 7000, "cumVlm": "12000.5"}, 0.0)  # no cap given: 10000 + volume
    assert address.cap == 22_000 and address.left() == 15_000 and address.pressure() == 0.0
    address.update({"nRequestsUsed": 17_000, "nRequestsCap": 22_000}, 0.0)
    assert address.pressure() == pytest.approx(0.5)
    ip = WeightBudget(1000, clock)
    ip.acquire(300)
    budget = RateBudget(ip, address)
    assert budget.pressure() == pytest.approx(0.5)
    ip.acquire(400)
    assert budget.pressure() == pytest.approx(0.7)
    address.admit(4, cancel=False)
    clock.now = 30.0
    ip.penalise()
    assert budget.report() == {"ip_peak_pct": 70.0, "ip_mean_pct": 70.0, "ip_limit": 1000, "address_requests": 4,
                               "address_left": 4996, "rate_limited": 1}
    assert venue_view(type("V", (), {"budget": budget})()) == {
        "orders_confirmed": True, "armed_until_ms": None, "budget_spent": 700, "budget_limit": 1000,
        "budget_pressure": 0.7}
    with pytest.raises(ValueError, match="userRateLimit: unexpected answer"):
        address.update({"cumVlm": "1"}, 0.0)


# -- the order manager under pressure --------------------------------------------------------------------------
TICK = 0.01


def manager(**settings_: float) -> OrderManager:
    return OrderManager(OrderManagerConfig(**settings_), TICK, 0.001)


def test_modes_by_pressure_with_hysteresis_and_their_config_is_checked() -> None:
    om = manager(budget_widen_at=0.5, budget_reduce_only_at=0.9)
    assert [om.mode(p) for p in (0.0, 0.49, 0.5, 0.89, 0.9, 1.0)] == [NORMAL, NORMAL, WIDENED, WIDENED,
                                                                        REDUCE_ONLY, REDUCE_ONLY]
    assert [om.mode(p, REDUCE_ONLY) for p in (0.88, 0.86, 0.48, 0.46)] == [REDUCE_ONLY, WIDENED, WIDENED, NORMAL]
    assert [om.mode(p, WIDENED) for p in (0.89, 0.48, 0.46)] == [WIDENED, WIDENED, NORMAL]
    with pytest.raises(InvalidValue, match=r"^budget_reduce_only_at=0.7: must be in \[budget_widen_at=0.8, 1\]$"):
        OrderManagerConfig(budget_widen_at=0.8, budget_reduce_only_at=0.7)


def test_widened_band_keeps_orders_near_the_quote() -> None:
    om = manager(budget_band_bps=10.0)
    orders = [Order(1, Side.BUY, 100.00, 1.0, 0), Order(2, Side.SELL, 101.00, 1.0, 0)]
    quote = Quote([QuoteLevel(Side.BUY, 100.05, 1.0)], [QuoteLevel(Side.SELL, 101.20, 1.0)])  # 5 bps, 19.8 bps
    normal = om.reconcile(quote, orders, NORMAL)
    assert [oid for oid, _ in normal.modify] == [1, 2] and normal.kept == 0
    widened = om.reconcile(quote, orders, WIDENED)
    assert [oid for oid, _ in widened.modify] == [2] and widened.kept == 1  # the bid's 5 bps move is skipped
    assert om.calls_saved == 1


PRICES = st.integers(9_000, 11_000).map(lambda cents: cents / 100)
LEVELS = st.lists(st.tuples(PRICES, st.sampled_from([0.5, 1.0]), st.booleans()), max_size=4)


@settings(max_examples=200, deadline=None)
@given(bids=LEVELS, asks=LEVELS, resting=st.lists(st.tuples(st.booleans(), PRICES, st.sampled_from([0.5, 1.0])),
                                                  max_size=6),
       pressure=st.floats(0.0, 1.0))
def test_high_pressure_sends_only_cancels_and_reduce_only_orders(bids: list, asks: list, resting: list,
                                                                 pressure: float) -> None:
    om = manager(budget_band_bps=10.0, budget_widen_at=0.5, budget_reduce_only_at=0.9)
    quote = Quote([QuoteLevel(Side.BUY, p, s, r) for p, s, r in bids], [QuoteLevel(Side.SELL, p, s, r)
                                                                        for p, s, r in asks])
    orders = [Order(i, Side.BUY if buy else Side.SELL, p, s, 0) for i, (buy, p, s) in enumerate(resting)]
    actions = om.reconcile(quote, orders, om.mode(pressure))
    touched = [oid for oid, _ in actions.modify] + actions.cancel
    assert len(touched) == len(set(touched)) and len(touched) + actions.kept == len(orders)  # each order once
    if pressure >= 0.9:  # what the widened band would send, less every order and modify of a non-reducing level
        widened = manager(budget_band_bps=10.0, budget_widen_at=0.5, budget_reduce_only_at=0.9).reconcile(
            quote, orders, WIDENED)
        assert actions.place == [level for level in widened.place if level.reduce_only]
        assert actions.modify == [(oid, level) for oid, level in widened.modify if level.reduce_only]
        assert sorted(actions.cancel) == sorted(widened.cancel + [oid for oid, level in widened.modify
                                                                  if not level.reduce_only])
    else:  # every desired level beyond the resting orders of its side is placed
        buys = sum(1 for buy, _, _ in resting if buy)
        assert len(actions.place) == max(0, len(bids) - buys) + max(0, len(asks) - (len(resting) - buys))


# -- the client against the loopback server ----------------------------------------------------------------------
def test_client_reads_the_address_figures_and_counts_its_own_actions() -> None:
    server = HLServer(step_s=60, address_buffer=500).start()
    venue = connected_venue(server.url)
    try:
        client = venue.client
        assert venue.budget is client.rate and client.rate.address.cap == 500 and client.rate.address.used == 0
        bid, ask = server.book("ETH")
        levels = [QuoteLevel(Side.BUY, bid - 0.1 * i, 0.01) for i in range(1, 4)]
        venue.place_orders(levels, 0)  # one action of 3 orders: 3 address requests, 1 IP weight
        venue.cancel_orders([o.oid for o in venue.get_open_orders()][:2])
        assert len(venue.get_open_orders()) == 1  # the cancel travels on a thread of its own: this waits for it
        assert client.rate.address.used == 5 == server._account(USER).requests_used
        server._account(USER).requests_used += 100  # another process of the same account
        client.read_rate_limit()
        assert client.rate.address.used == 105 and client.rate.address.sent == 5
        assert [r["type"] for r in server.requests].count("userRateLimit") == 2  # at open, and here
    finally:
        venue.cancel_all_orders()
        venue.disconnect()
        server.stop()
