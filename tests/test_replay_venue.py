"""The order-book replay venue on small hand-made event streams: latency ordering, queue models, partial fills,
post-only rejection, taker orders, the strategy's view of orders and market, and the clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from botmm.config import AssetConfig, OrderManagerConfig
from botmm.core.order_manager import OrderManager
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, MemoryL2Feed
from botmm.model import Quote, QuoteLevel, Side
from botmm.sim.costs import Costs
from botmm.sim.latency import LatencyModel
from botmm.sim.replay import OrderBookFillParams, ReplayVenue, price_grid

T0 = 1_700_000_000_000_000_000  # ns
MS = 1_000_000
META = L2Meta("T", 0.1, 0.001)
ASSET = AssetConfig(symbol="T", tick_size=0.1, lot_size=0.001, min_notional=0.0)
NAN = float("nan")
BOOK = [  # (ms, kind, side, price, size): bids 100.0 x 5, 99.9 x 5; asks 100.1 x 5, 100.2 x 5
    (0, KIND_CLEAR, 0, NAN, 0.0),
    (0, KIND_SNAPSHOT, 1, 100.0, 5.0),
    (0, KIND_SNAPSHOT, 1, 99.9, 5.0),
    (0, KIND_SNAPSHOT, -1, 100.1, 5.0),
    (0, KIND_SNAPSHOT, -1, 100.2, 5.0),
]
END = [(2000, KIND_DELTA, 1, 90.0, 1.0)]  # a far level late on, so the clock keeps ticking


def events(rows, feed_ms: int = 0) -> L2Events:
    """Rows of (ms, kind, side, price, size[, local ms]); ``ts_local`` is ``feed_ms`` after the exchange time."""
    rows = sorted(rows, key=lambda r: r[0])
    return L2Events.build(
        ts_exchange=[T0 + r[0] * MS for r in rows],
        ts_local=[T0 + (r[5] if len(r) > 5 else r[0] + feed_ms) * MS for r in rows],
        kind=[r[1] for r in rows], side=[r[2] for r in rows], price=[r[3] for r in rows],
        size=[r[4] for r in rows])


def make(rows, *, entry: int = 10, response: int = 10, interval: int = 100, feed_ms: int = 0,
         latency: LatencyModel | None = None, costs: Costs = Costs(), **fill) -> ReplayVenue:
    params = OrderBookFillParams(book_ticks=fill.pop("book_ticks", 4096), **fill)
    venue = ReplayVenue(MemoryL2Feed(events([*BOOK, *rows, *END], feed_ms), META), params, ASSET, costs,
                        interval * MS, latency or LatencyModel.constant(entry * MS, response * MS))
    venue.connect()
    return venue


def until(venue: ReplayVenue, ms: int) -> int:
    """Tick until the clock reaches ``ms`` after the first event; returns the tick's time in ms."""
    while (now := venue.next_tick()) is not None:
        if now >= T0 // MS + ms:
            return now
    raise AssertionError(f"the data ended before {ms} ms")


def bid(venue: ReplayVenue, price: float, size: float, now: int) -> int:
    return venue.place_orders([QuoteLevel(Side.BUY, price, size)], now)[0].oid


def fills(venue: ReplayVenue) -> list[tuple[int, str, float, float]]:
    return [(f.ts - T0 // MS, f.side.name, f.price, round(f.size, 9)) for f in venue.fills_since(0)[0]]


def test_an_order_cannot_fill_before_it_reaches_the_exchange():
    # sent at 100 ms, it arrives at 150 ms; a sell sweeping through 99.9 at 120 ms happens before it exists
    venue = make([(120, KIND_TRADE, -1, 99.9, 8.0), (160, KIND_TRADE, -1, 99.9, 1.0)], entry=50)
    now = until(venue, 100)
    bid(venue, 100.0, 1.0, now)
    until(venue, 300)
    assert fills(venue) == [(160, "BUY", 100.0, 1.0)]


def test_a_cancel_cannot_undo_a_fill_made_before_the_cancel_arrived():
    venue = make([(205, KIND_TRADE, -1, 99.9, 1.0)])
    now = until(venue, 100)
    oid = bid(venue, 100.0, 1.0, now)
    now = until(venue, 200)
    venue.cancel_orders([oid])  # reaches the exchange at 210 ms, after the fill at 205 ms
    assert venue.get_open_orders() == []
    assert fills(venue) == []
    until(venue, 300)  # the fill's response left at 205 ms and arrived at 215 ms
    assert fills(venue) == [(205, "BUY", 100.0, 1.0)]
    assert venue.get_position().size == pytest.approx(1.0)


def test_a_cancel_that_arrives_first_prevents_the_fill():
    venue = make([(215, KIND_TRADE, -1, 99.9, 1.0)])
    now = until(venue, 100)
    oid = bid(venue, 100.0, 1.0, now)
    now = until(venue, 200)
    venue.cancel_orders([oid])  # arrives at 210 ms, before the sweep at 215 ms
    until(venue, 400)
    assert fills(venue) == []


def test_a_fill_reaches_the_strategy_one_response_latency_after_it_happens():
    venue = make([(185, KIND_TRADE, -1, 99.9, 1.0)], response=20)
    now = until(venue, 100)
    bid(venue, 100.0, 1.0, now)
    until(venue, 200)
    assert fills(venue) == []  # made at 185 ms, in flight until 205 ms
    until(venue, 300)
    assert fills(venue) == [(185, "BUY", 100.0, 1.0)]  # stamped with the exchange's time


def test_risk_averse_queue_advances_only_on_trades_at_the_price_and_is_capped_by_a_shrinking_level():
    venue = make([
        (120, KIND_TRADE, -1, 100.0, 3.0),  # 5 ahead -> 2
        (130, KIND_DELTA, 1, 100.0, 9.0),  # the level grows behind us: still 2
        (140, KIND_DELTA, 1, 100.0, 7.0),  # cancels, assumed behind us: still 2
        (150, KIND_DELTA, 1, 100.0, 1.5),  # the level is smaller than our position: capped at 1.5
        (160, KIND_TRADE, -1, 100.0, 1.5),  # exactly exhausts the queue ahead: not filled yet
        (170, KIND_TRADE, -1, 100.0, 0.001),  # one lot through our place: filled
    ], interval=10)
    now = until(venue, 100)
    oid = bid(venue, 100.0, 1.0, now)  # arrives at 110 ms behind 5.0
    ahead = {}
    for ms in (110, 120, 130, 140, 150, 160):
        until(venue, ms)
        ahead[ms] = venue.queue_ahead(oid)
    assert ahead == {110: 5.0, 120: 2.0, 130: 2.0, 140: 2.0, 150: 1.5, 160: pytest.approx(0.0)}
    until(venue, 200)
    assert fills(venue) == [(170, "BUY", 100.0, 1.0)] and venue.queue_ahead(oid) is None


def queue_after(rows, **fill) -> float:
    venue = make(rows, interval=10, **fill)
    oid = bid(venue, 100.0, 1.0, until(venue, 100))
    until(venue, 190)
    return venue.queue_ahead(oid)


def test_prob_queue_moves_forward_by_the_share_of_a_decrease_from_ahead_of_us():
    # queue ahead 5 after a trade of 3 -> front 2, back 3; then the level drops 5 -> 1 by cancels (4, none traded)
    rows = [(120, KIND_TRADE, -1, 100.0, 3.0), (130, KIND_DELTA, 1, 100.0, 2.0), (140, KIND_DELTA, 1, 100.0, 1.0)]
    # hftbacktest's update: trades first reduce prev-new by the traded size; 5 -> 2 (3 traded) moves nothing more
    front, back, chg = 2.0, 0.0, 1.0  # at 140 ms: prev 2, new 1, front 2 -> back 0
    p = back**2 / (back**2 + front**2)
    expected = min(front - (1 - p) * chg + min(back - p * chg, 0.0), 1.0)
    assert queue_after(rows, queue="prob") == pytest.approx(expected) == pytest.approx(1.0)
    rows = [(130, KIND_DELTA, 1, 100.0, 9.0), (140, KIND_DELTA, 1, 100.0, 6.0)]  # front 5, level 9 -> 6
    front, back, chg = 5.0, 4.0, 3.0
    for weighting, f in (("power", lambda x: x**2), ("log", lambda x: math.log1p(x) ** 2)):
        p = f(back) / (f(back) + f(front))
        expected = min(front - (1 - p) * chg + min(back - p * chg, 0.0), 6.0)
        got = queue_after(rows, queue="prob", prob_weighting=weighting, prob_n=2.0)
        assert got == pytest.approx(expected)
        assert 5.0 - chg < got < 5.0  # some, not all, of the decrease came from ahead of us
    assert queue_after(rows, queue="risk_averse") == 5.0


def test_prob_queue_survives_updates_of_an_empty_level():
    # joining an empty level (0 ahead), then a deletion of the already empty level: 0 / 0 weights, taken as 1
    rows = [(105, KIND_DELTA, 1, 100.0, 0.0), (130, KIND_DELTA, 1, 100.0, 0.0), (140, KIND_DELTA, 1, 100.0, 2.0),
            (150, KIND_DELTA, 1, 100.0, 1.0), (160, KIND_TRADE, -1, 100.0, 0.001)]
    venue = make(rows, interval=10, queue="prob")
    oid = bid(venue, 100.0, 1.0, until(venue, 100))
    until(venue, 150)
    assert venue.queue_ahead(oid) == 0.0
    until(venue, 200)
    assert fills(venue) == [(160, "BUY", 100.0, 1.0)]


def test_partial_fills_fill_only_what_the_trades_leave_after_the_queue_ahead():
    rows = [(110, KIND_DELTA, 1, 100.0, 0.5), (150, KIND_TRADE, -1, 100.0, 0.8), (160, KIND_TRADE, -1, 100.0, 0.2),
            (170, KIND_TRADE, -1, 99.9, 0.1)]
    venue = make(rows, partial_fills=True, entry=15)  # arrives at 115 ms behind 0.5
    now = until(venue, 100)
    oid = bid(venue, 100.0, 1.0, now)
    until(venue, 200)
    assert fills(venue) == [(150, "BUY", 100.0, 0.3), (160, "BUY", 100.0, 0.2), (170, "BUY", 100.0, 0.5)]
    assert oid not in {o.oid for o in venue.get_open_orders()}
    venue = make(rows[:3], partial_fills=True, entry=15)
    now = until(venue, 100)
    oid = bid(venue, 100.0, 1.0, now)
    until(venue, 200)
    (order,) = venue.get_open_orders()
    assert (order.oid, order.size, order.filled) == (oid, pytest.approx(0.5), pytest.approx(0.5))
    venue = make(rows[:2], partial_fills=False, entry=15)
    now = until(venue, 100)
    bid(venue, 100.0, 1.0, now)
    until(venue, 200)
    assert fills(venue) == [(150, "BUY", 100.0, 1.0)]


def test_post_only_order_crossing_the_exchange_book_on_arrival_is_rejected():
    # the ask falls to 100.0 at 105 ms on the exchange; the local book sees it only 50 ms later
    venue = make([(105, KIND_DELTA, -1, 100.0, 1.0), (105, KIND_DELTA, 1, 100.0, 0.0)], feed_ms=50)
    now = until(venue, 100)
    market = venue.poll(now)
    assert (market.bid, market.ask) == (100.0, 100.1)
    oid = bid(venue, 100.0, 1.0, now)  # a valid bid on the stale local book
    assert [o.oid for o in venue.get_open_orders()] == [oid]
    until(venue, 200)
    assert venue.get_open_orders() == [] and venue.rejected == 1 and fills(venue) == []


def test_orders_that_may_take_liquidity_fill_at_once_as_taker():
    for partial, expected in ((False, [(110, "BUY", 100.1, 6.0)]),
                              (True, [(110, "BUY", 100.1, 5.0), (110, "BUY", 100.2, 1.0)])):
        venue = make([], post_only=False, partial_fills=partial, costs=Costs(maker_fee=0.0002, taker_fee=0.001))
        now = until(venue, 100)
        bid(venue, 100.2, 6.0, now)
        until(venue, 200)
        assert fills(venue) == expected
        assert [f.maker for f in venue.fills] == [False] * len(expected)
        assert sum(f.fee for f in venue.fills) == pytest.approx(0.001 * sum(p * q for *_, p, q in expected))
    venue = make([], post_only=False, partial_fills=True)
    now = until(venue, 100)
    bid(venue, 100.1, 7.0, now)  # the displayed 5 at 100.1 is all there is up to the limit: the rest is cancelled
    until(venue, 200)
    assert fills(venue) == [(110, "BUY", 100.1, 5.0)] and venue.get_open_orders() == []


def test_open_orders_include_orders_in_flight_so_a_reconcile_does_not_place_twice():
    venue = make([], entry=250)  # orders take longer than a tick to arrive
    now = until(venue, 100)
    manager = OrderManager(OrderManagerConfig(), 0.1, 0.001)
    desired = Quote([QuoteLevel(Side.BUY, 100.0, 1.0)], [QuoteLevel(Side.SELL, 100.1, 1.0)])
    actions = manager.reconcile(desired, venue.get_open_orders())
    venue.place_orders(actions.place, now)
    for _ in range(3):  # the next ticks: neither order has reached the exchange yet
        venue.next_tick()
        again = manager.reconcile(desired, venue.get_open_orders())
        assert (again.place, again.modify, again.cancel, again.kept) == ([], [], [], 2)
    assert venue.queue_ahead(1) == 5.0 and venue.queue_ahead(2) == 5.0  # arrived at 350 ms
    venue.cancel_all_orders()
    assert venue.get_open_orders() == []


def test_the_strategy_sees_the_local_book_and_the_trades_received_since_the_previous_tick():
    rows = [(130, KIND_TRADE, 1, 100.1, 0.4), (140, KIND_TRADE, -1, 100.0, 0.6), (150, KIND_TRADE, 1, 100.2, 0.1),
            (160, KIND_DELTA, 1, 100.0, 2.0), (160, KIND_DELTA, -1, 100.1, 3.0), (180, KIND_DELTA, -1, 100.3, 1.0)]
    venue = make(rows, feed_ms=30)
    m = venue.poll(until(venue, 100))
    assert (m.bid, m.ask, m.bid_size, m.ask_size) == (100.0, 100.1, 5.0, 5.0)
    assert (m.open, m.high, m.low, m.close, m.volume) == (100.05, 100.05, 100.05, 100.05, 0.0)
    m = venue.poll(until(venue, 200))  # received at 160-190 ms; the ask at 100.3 (exchange 180 ms) is not yet seen
    assert (m.open, m.high, m.low, m.close, m.volume) == (100.1, 100.2, 100.0, 100.2, pytest.approx(1.1))
    assert (m.bid_size, m.ask_size) == (2.0, 3.0)
    assert (m.book.bids, m.book.asks) == ([(100.0, 2.0), (99.9, 5.0)], [(100.1, 3.0), (100.2, 5.0)])
    m = venue.poll(until(venue, 300))
    assert m.volume == 0.0 and m.open == m.close == m.mid and m.book.asks[-1] == (100.3, 1.0)


def test_no_market_before_the_local_book_has_its_snapshot():
    rows = [(0, KIND_DELTA, 1, 100.0, 1.0), (0, KIND_DELTA, -1, 100.1, 1.0), (250, KIND_CLEAR, 0, NAN, 0.0),
            (250, KIND_SNAPSHOT, 1, 99.0, 2.0), (250, KIND_SNAPSHOT, -1, 99.2, 2.0), *END]
    venue = ReplayVenue(MemoryL2Feed(events(rows), META), OrderBookFillParams(book_ticks=4096), ASSET, Costs(),
                        100 * MS, LatencyModel.constant(0, 0))
    venue.connect()
    assert venue.poll(venue.next_tick()) is None and venue.poll(venue.next_tick()) is None
    m = venue.poll(venue.next_tick())
    assert (m.bid, m.ask) == (99.0, 99.2)


def test_latency_from_a_table_is_interpolated_in_time():
    table = LatencyModel(np.array([T0, T0 + 1000 * MS]), np.array([0, 100 * MS]), np.array([0, 100 * MS]))
    assert table.entry_at(T0 + 200 * MS) == 20 * MS
    venue = make([(215, KIND_TRADE, -1, 99.9, 1.0), (285, KIND_TRADE, -1, 99.9, 1.0)], latency=table)
    now = until(venue, 200)
    bid(venue, 100.0, 1.0, now)  # entry 20 ms: arrives at 220 ms, misses the first sweep
    until(venue, 300)
    assert fills(venue) == []  # filled at 285 ms; the response takes 28.5 ms
    until(venue, 400)
    assert fills(venue) == [(285, "BUY", 100.0, 1.0)]


def test_the_price_window_follows_the_market_and_counts_levels_too_far_to_keep():
    rows = [(0, KIND_CLEAR, 0, NAN, 0.0), (0, KIND_SNAPSHOT, 1, 100.0, 1.0), (0, KIND_SNAPSHOT, -1, 100.1, 1.0),
            (0, KIND_SNAPSHOT, -1, 200.0, 1.0)]  # 1000 ticks away: beyond a 128-tick window
    for step in range(1, 11):  # the market walks up 3 ticks every 100 ms, 30 ticks in all
        old, new, t = round(100.0 + 0.3 * (step - 1), 1), round(100.0 + 0.3 * step, 1), 100 * step
        rows += [(t, KIND_DELTA, 1, old, 0.0), (t, KIND_DELTA, -1, round(old + 0.1, 1), 0.0),
                 (t, KIND_DELTA, 1, new, 2.0), (t, KIND_DELTA, -1, round(new + 0.1, 1), 2.0)]
    venue = ReplayVenue(MemoryL2Feed(events([*rows, *END]), META), OrderBookFillParams(book_ticks=64), ASSET, Costs(),
                        100 * MS, LatencyModel.constant(0, 0))
    venue.connect()
    seen = [(m.bid, m.ask) for m in (venue.poll(venue.next_tick()) for _ in range(10))]
    assert seen == [(round(100.0 + 0.3 * s, 1), round(100.1 + 0.3 * s, 1)) for s in range(1, 11)]
    stats = venue.fill_stats()
    assert stats["window_moves"] >= 1 and stats["levels_dropped"] >= 2  # 200.0, and 90.0 at the end


def test_the_clock_ticks_every_interval_until_no_event_is_left():
    venue = make([], interval=250)
    ticks = []
    while (now := venue.next_tick()) is not None:
        ticks.append(now - T0 // MS)
    assert ticks == list(range(250, 2000, 250))  # the last event is at 2000 ms: after the 1750 ms tick, data ends


def test_maker_fills_pay_the_maker_fee():
    venue = make([(150, KIND_TRADE, -1, 99.9, 1.0)], costs=Costs(maker_fee=0.0002))
    now = until(venue, 100)
    bid(venue, 100.0, 2.0, now)
    until(venue, 200)
    (fill,) = venue.fills
    assert fill.maker and fill.fee == pytest.approx(0.0002 * 100.0 * 2.0)


def test_prices_off_the_grid_round_away_from_the_other_side():
    assert price_grid(0.1, 1.0) == 0.1 and price_grid(1.0, 0.1) == 0.1 and price_grid(0.1, 0.25) == 0.1
    venue = make([])
    now = until(venue, 100)
    orders = venue.place_orders([QuoteLevel(Side.BUY, 99.97, 1.0), QuoteLevel(Side.SELL, 100.13, 1.0)], now)
    assert [o.price for o in orders] == [99.9, 100.2]
