"""The Hyperliquid venue on the websocket (``exchange.websocket=true``) against the loopback exchange's two sides
(tests/hl_server.py, tests/hl_ws.py), through the real SDK: the book, fills, order states and funding come from
pushes, a reconnection makes the data stale until a new book and asks for a reconciliation that reads fills over
HTTP, and a reconciliation without a gap costs only position and open orders."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer, connected_venue
from hl_ws import HLWebsocket, ws_exchange
from jobs import wait_for

from botmm.model import QuoteLevel, Side

USER = Account.from_key(TEST_KEY).address.lower()


@pytest.fixture
def exchange() -> Iterator[tuple[HLServer, HLWebsocket]]:
    with ws_exchange(step_s=0.2) as both:
        yield both


@pytest.fixture
def venue(exchange) -> Iterator[Any]:
    server, ws = exchange
    v = connected_venue(server.url, websocket=True, ws_url=ws.url)
    v.reconcile()
    yield v
    v.cancel_all_orders()
    v.disconnect()


def _now() -> int:
    return int(time.time() * 1000)


def _requests(server: HLServer, since: int) -> list[str]:
    return [r["type"] for r in server.requests[since:]]


def test_the_pushed_book_fills_orders_and_funding_replace_polling(exchange, venue) -> None:
    server, ws = exchange
    changes: list[int] = []
    assert venue.watch(lambda: changes.append(1)) is True
    assert wait_for(lambda: len(changes) >= 2, 5)  # book pushes call the watcher
    before = len(server.requests)
    market = venue.poll(_now())
    assert _requests(server, before) == []  # no l2Book, no fill poll, no clearinghouseState
    bid, ask = server.book("ETH")
    assert market is not None and abs(market.bid - bid) <= 1.0 and abs(market.ask - ask) <= 1.0
    assert _now() - market.ts < 2000  # dated by its arrival
    [order] = venue.place_orders([QuoteLevel(Side.BUY, market.bid - 5, 0.01)], _now())
    with server.lock:
        server.orders[order.oid].sz = server.orders[order.oid].orig = "0.01"
    server.shift("ETH", -1000)  # trades through the bid: filled
    assert wait_for(lambda: (venue.poll(_now()), len(venue.fills))[1] == 1, 5)
    [fill] = venue.fills
    [server_fill] = server.fills(USER)
    assert (fill.tid, fill.oid, fill.size) == (server_fill["tid"], order.oid, 0.01)
    assert venue.get_open_orders() == []  # the "filled" update (and the fill) took it off the mirror
    server.add_funding(USER, "ETH", "-0.25")
    assert wait_for(lambda: (venue.poll(_now()), len(venue.funding.payments))[1] == 1, 5)
    assert venue.funding.payments[0].amount == pytest.approx(0.25)
    ws.duplicate(20)  # the same fill and funding pushed again are not counted twice
    server.add_funding(USER, "ETH", "-0.25")
    assert wait_for(lambda: (venue.poll(_now()), len(venue.funding.payments))[1] == 2, 5)
    assert len(venue.fills) == 1
    before = len(server.requests)
    found = venue.reconcile()
    # light: 22 weight, the two reads side by side (one round trip)
    assert sorted(_requests(server, before)) == ["clearinghouseState", "frontendOpenOrders"]
    assert found.position == pytest.approx(0.01) and found.differences == []


def test_orders_resting_or_cancelled_outside_the_bots_view_follow_the_pushes(exchange, venue) -> None:
    server, _ = exchange
    assert wait_for(lambda: venue.poll(_now()) is not None, 5)
    market = venue.poll(_now())
    placed = venue.place_orders([QuoteLevel(Side.BUY, market.bid - 5, 0.01), QuoteLevel(Side.SELL, market.ask + 5,
                                                                                         0.01)], _now())
    assert len(placed) == 2
    with server.lock:
        server._finish(placed[0].oid, "canceled")  # e.g. the exchange's scheduled cancel
    assert wait_for(lambda: (venue.poll(_now()), [o.oid for o in venue.get_open_orders()])[1] == [placed[1].oid], 5)
    assert venue.orders_confirmed


def test_a_reconnection_is_stale_until_a_new_book_and_reconciles_fills_over_http(exchange, venue) -> None:
    server, ws = exchange
    assert wait_for(lambda: venue.poll(_now()) is not None, 5)
    assert not venue.reconcile_due
    ws.stall(1.5)
    ws.drop()
    assert wait_for(lambda: venue.live.generation == 2, 5)
    assert venue.poll(_now()) is None  # connected again, but no book on the new connection yet (stalled)
    assert venue.reconcile_due
    assert wait_for(lambda: venue.poll(_now()) is not None, 5)
    before = len(server.requests)
    venue.reconcile()
    assert _requests(server, before) == ["clearinghouseState", "userFillsByTime", "userFunding",
                                         "frontendOpenOrders"]
    assert not venue.reconcile_due
    before = len(server.requests)
    server.latency_s = 0.6  # a read answers 0.6 s after it arrives: two reads one after the other arrive >= 0.6 s apart
    venue.reconcile()
    assert sorted(_requests(server, before)) == ["clearinghouseState", "frontendOpenOrders"]
    first, second = (r["ns"] for r in server.requests[before:])
    assert abs(second - first) < 0.6e9  # sent side by side: the light reconciliation takes one round trip


def test_a_cancel_and_a_placement_on_the_other_side_travel_together(exchange, venue) -> None:
    server, _ = exchange
    assert wait_for(lambda: venue.poll(_now()) is not None, 5)
    market = venue.poll(_now())
    bid, ask = QuoteLevel(Side.BUY, market.bid - 5, 0.01), QuoteLevel(Side.SELL, market.ask + 5, 0.01)
    [old_bid] = venue.place_orders([bid], _now())
    server.latency_s = 0.3
    began = time.monotonic()
    venue.cancel_orders([old_bid.oid])
    [new_ask] = venue.place_orders([ask], _now())
    venue.poll(_now())  # waits for the cancel
    assert time.monotonic() - began < 0.55  # one round trip for both, not two
    [old_ask] = [o for o in venue.get_open_orders()]
    assert old_ask.oid == new_ask.oid
    began = time.monotonic()
    venue.cancel_orders([new_ask.oid])
    [again] = venue.place_orders([ask], _now())  # the same side waits for the cancel: never two asks at once
    assert time.monotonic() - began >= 0.55
    assert server.peak_resting(USER, "ETH") == (1, 1)
    assert [o.oid for o in venue.get_open_orders()] == [again.oid]
    assert server.violations == []  # nonces unseen and within the exchange's window, though they arrived together
