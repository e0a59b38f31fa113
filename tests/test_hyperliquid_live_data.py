"""The process's push data (plugins/exchanges/hyperliquid/live_data.py) against the loopback exchange's websocket:
books kept current and watched, subscriptions added while connected, the account's order updates and fills handed
over, one connection shared per URL, and a reconnection counted."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer, Resting
from hl_ws import HLWebsocket, ws_exchange
from jobs import wait_for

from botmm.plugins.exchanges.hyperliquid.live_data import close_live_data, open_live_data
from botmm.plugins.exchanges.hyperliquid.stream import StreamSettings

USER = Account.from_key(TEST_KEY).address.lower()


@pytest.fixture
def exchange() -> Iterator[tuple[HLServer, HLWebsocket]]:
    with ws_exchange() as both:
        yield both


def settings(url: str) -> StreamSettings:
    return StreamSettings(url, ping_s=0.5, stale_s=5.0, reconnect_min_s=0.05, reconnect_max_s=0.2)


def test_books_and_account_events_on_one_shared_connection(exchange) -> None:
    server, ws = exchange
    data = open_live_data(settings(ws.url), wait_s=5)
    again = open_live_data(settings(ws.url), wait_s=5)
    try:
        assert data is again and data.connected and data.generation == 1
        changes: dict[str, int] = {"ETH": 0, "BTC": 0}
        data.watch_book("ETH", lambda: changes.__setitem__("ETH", changes["ETH"] + 1))
        assert wait_for(lambda: changes["ETH"] >= 2, 5)  # subscribed on the live connection
        data.watch_book("BTC", lambda: changes.__setitem__("BTC", changes["BTC"] + 1))
        assert wait_for(lambda: changes["BTC"] >= 2, 5)
        bid, ask = server.book("BTC")
        view = data.books["BTC"]
        assert view.bids[0][0] <= ask and view.asks[0][0] >= bid and view.time_ms > 0
        assert len(ws.clients) == 1  # one connection for both venues
        orders: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        data.watch_account(USER.upper().replace("0X", "0x"), orders.extend, fills.extend, lambda entries: None)
        assert wait_for(lambda: len(ws.clients[0].subscriptions) == 5, 5)  # books, then the account's three
        with server.lock:
            server.orders[7] = Resting(7, USER, "ETH", True, "2000", "0.01", "0.01", server._now_ms())
        assert wait_for(lambda: len(orders) == 1, 5)
        server.shift("ETH", -100_000)  # trades down through the bid
        assert wait_for(lambda: len(fills) == 1 and len(orders) == 2, 5)
        assert fills[0]["oid"] == 7 and fills[0]["sz"] == "0.01"
        assert [(u["order"]["oid"], u["status"]) for u in orders] == [(7, "open"), (7, "filled")]
    finally:
        close_live_data(again)
        assert data.connected  # the other user keeps it
        close_live_data(data)
    assert not data._thread.is_alive()


def test_a_drop_is_a_gap_then_a_new_generation(exchange) -> None:
    server, ws = exchange
    data = open_live_data(settings(ws.url), wait_s=5)
    try:
        data.watch_book("SOL", lambda: None)
        assert wait_for(lambda: "SOL" in data.books, 5)
        ws.drop()
        assert wait_for(lambda: data.generation == 2 and data.connected, 10)
        before = data.books["SOL"].recv_ns
        assert wait_for(lambda: data.books["SOL"].recv_ns > before, 5)  # resubscribed
    finally:
        close_live_data(data)
