"""The loopback exchange's websocket side (tests/hl_ws.py) as the plugin's Stream sees it: book snapshots on every
book change, the account's order updates and fills pushed, requests posted over the socket, and its faults (a drop
and a stall end in a reconnection and resubscription)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from hl_ws import HLWebsocket, ws_exchange
from jobs import wait_for

from botmm.plugins.exchanges.hyperliquid.stream import Stream, StreamSettings

USER = Account.from_key(TEST_KEY).address.lower()


@pytest.fixture
def exchange() -> Iterator[tuple[HLServer, HLWebsocket]]:
    with ws_exchange() as both:
        yield both


class Listener:
    """A Stream on its own event loop thread, recording what each subscription received."""

    def __init__(self, url: str, stale_s: float = 45.0):
        self.got: dict[str, list[Any]] = {}
        self.states: list[str] = []
        self.stream = Stream(StreamSettings(url, ping_s=0.5, stale_s=stale_s, reconnect_min_s=0.05,
                                            reconnect_max_s=0.2), on_state=lambda event, **_: self.states.append(event))
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def on(self, subscription: dict[str, Any]) -> None:
        self.stream.subscribe(subscription, lambda data, ns: self.got.setdefault(subscription["type"], []).append(data))

    def start(self) -> "Listener":
        ready = threading.Event()

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await self.stream.run(self._stop)

        threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)


def test_book_changes_orders_and_fills_are_pushed(exchange) -> None:
    server, ws = exchange
    listener = Listener(ws.url)
    for sub in ({"type": "l2Book", "coin": "ETH"}, {"type": "orderUpdates", "user": USER},
                {"type": "userFills", "user": USER}):
        listener.on(sub)
    listener.start()
    try:
        assert wait_for(lambda: len(listener.got.get("l2Book", [])) >= 3, 10)  # the book moves every step
        books = listener.got["l2Book"]
        assert all(b["coin"] == "ETH" and len(b["levels"]) == 2 for b in books)
        assert [b["levels"][0][0]["px"] for b in books[1:3]] != [books[0]["levels"][0][0]["px"]] * 2
        assert listener.got["userFills"][0] == {"isSnapshot": True, "user": USER, "fills": []}
        bid, _ = server.book("ETH")
        with server.lock:
            server.orders[1] = _resting(server, 1, bid - 50)
        assert wait_for(lambda: any(u["status"] == "open" for m in listener.got.get("orderUpdates", []) for u in m), 5)
        server.shift("ETH", -1000)  # the book trades down through the bid
        assert wait_for(lambda: len(listener.got["userFills"]) == 2, 5)
        fill = listener.got["userFills"][1]["fills"][0]
        assert fill["oid"] == 1 and fill["side"] == "B"
        updates = [u for m in listener.got["orderUpdates"] for u in m]
        assert [(u["order"]["oid"], u["status"]) for u in updates] == [(1, "open"), (1, "filled")]
    finally:
        listener.stop()


def _resting(server: HLServer, oid: int, px: float) -> Any:
    from hl_server import Resting
    return Resting(oid, USER, "ETH", True, f"{px:.1f}", "0.01", "0.01", server._now_ms())


def test_a_drop_and_a_stall_reconnect_and_resubscribe(exchange) -> None:
    server, ws = exchange
    listener = Listener(ws.url, stale_s=1.0)
    listener.on({"type": "l2Book", "coin": "BTC"})
    listener.start()
    try:
        assert wait_for(lambda: listener.states == ["connected"] and len(listener.got.get("l2Book", [])) >= 2, 10)
        ws.drop()
        assert wait_for(lambda: listener.states[-2:] == ["disconnected", "connected"], 10)
        count = len(listener.got["l2Book"])
        assert wait_for(lambda: len(listener.got["l2Book"]) > count, 5)  # resubscribed
        ws.stall(3.0)
        assert wait_for(lambda: listener.states.count("disconnected") == 2, 10)  # silence past stale_s
        assert wait_for(lambda: listener.states[-1] == "connected" and len(listener.got["l2Book"]) > count + 2, 10)
    finally:
        listener.stop()


def test_posted_requests_duplicates_and_reordering(exchange) -> None:
    """A raw client: info posted over the socket answers like HTTP; the duplicate and reorder faults bend pushes."""
    server, ws = exchange

    async def talk() -> tuple[dict, list[dict]]:
        import json

        from websockets.asyncio.client import connect

        async with connect(ws.url) as conn:
            await conn.send(json.dumps({"method": "post", "id": 7, "request": {
                "type": "info", "payload": {"type": "l2Book", "coin": "SOL"}}}))
            answer = json.loads(await conn.recv())
            ws.duplicate(1)
            await conn.send(json.dumps({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "SOL"}}))
            pushed = [json.loads(await conn.recv()) for _ in range(3)]
            ws.reorder(2)
            pushed += [json.loads(await conn.recv()) for _ in range(2)]
            return answer, pushed

    answer, pushed = asyncio.run(talk())
    assert answer["channel"] == "post" and answer["data"]["id"] == 7
    assert answer["data"]["response"]["type"] == "info"
    assert answer["data"]["response"]["payload"]["data"]["coin"] == "SOL"
    assert pushed[0]["channel"] == "subscriptionResponse"
    assert pushed[1] == pushed[2]  # the first snapshot, twice
    first, second = pushed[3]["data"]["time"], pushed[4]["data"]["time"]
    assert first > second  # the next two pushes arrived swapped
