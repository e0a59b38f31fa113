"""The websocket side of the loopback Hyperliquid exchange (tests/hl_server.py), on 127.0.0.1, in the exchange's
protocol: what a bot subscribes to instead of polling.

* ``{"method": "subscribe", "subscription": {...}}`` is acknowledged with ``subscriptionResponse``, then:
  - ``l2Book`` (coin): the book now, then a snapshot whenever the book changes (the server's replay steps) and at
    least every ``book_s`` (0.5 s: the real exchange pushes a snapshot about every 0.55 s, see the capture in
    ``../shared/data/hyperliquid/``);
  - ``trades`` (coin): every fill on the exchange, as the public trade (the aggressor's side);
  - ``orderUpdates`` (user): ``open`` when an order of the user starts resting, ``filled`` or ``canceled`` when it
    stops (``{"order": {...}, "status", "statusTimestamp"}``);
  - ``userFills`` (user): first ``{"isSnapshot": true, "user", "fills"}`` with the user's recent fills, then each
    new fill (a late one too: fills are tracked by trade id, not by position in the log);
  - ``userFundings`` (user): first a snapshot, then each new payment, as ``{"time", "coin", "usdc", "szi",
    "fundingRate"}``;
* ``{"method": "post", "id": n, "request": {"type": "info" | "action", "payload": ...}}`` is answered on channel
  ``post`` as the HTTP endpoint would answer (faults, weights and all): ``{"id": n, "response": {"type": "info",
  "payload": {"type": ..., "data": ...}}}``, ``{"type": "action", "payload": <the /exchange answer>}`` or
  ``{"type": "error", "payload": <text>}``;
* ``{"method": "ping"}`` gets ``{"channel": "pong"}``.

The state is the HTTP server's: this side looks at it every ``poll_s`` and pushes what changed. Faults on demand:
:meth:`HLWebsocket.drop` (every connection aborted, no close frame), :meth:`HLWebsocket.stall` (open but silent for
a while: nothing pushed, nothing answered), :meth:`HLWebsocket.duplicate` and :meth:`HLWebsocket.reorder` (the next
pushed messages sent twice, or each pair swapped), and a send queue of ``max_queue`` messages per connection beyond
which a slow consumer is disconnected, as the exchange does (:meth:`HLWebsocket.slow` makes every consumer slow: the
messages queue up unsent). :attr:`HLWebsocket.books_written` records when (epoch ns) each coin's book was written to
a connection; :attr:`HLWebsocket.book_times` gives those times in ms.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from hl_server import HLServer
from websockets.asyncio.server import ServerConnection, serve


@dataclass
class _Client:
    ws: ServerConnection
    queue: asyncio.Queue
    subscriptions: list[dict[str, Any]] = field(default_factory=list)


class HLWebsocket:
    """See the module docstring. ``start()`` serves on a free port; ``url`` is the address to connect to."""

    def __init__(self, server: HLServer, poll_s: float = 0.01, max_queue: int = 1000, book_s: float = 0.5):
        self.server, self.poll_s, self.max_queue, self.book_s = server, poll_s, max_queue, book_s
        server.websocket = self  # for fault helpers that are handed only the server
        self.clients: list[_Client] = []
        self.sent: list[dict[str, Any]] = []  # every pushed message, for tests
        self.slow_disconnects = 0
        self.connections = 0  # connections accepted so far
        self.books_written: list[tuple[int, str]] = []  # (epoch ns, coin) of each l2Book message written
        self._stall_until = 0.0
        self._slow_until = 0.0
        self._duplicate = 0
        self._reorder = 0
        self._held: Optional[tuple[_Client, str]] = None
        self._books: dict[str, int] = {}
        self._booked = 0.0  # monotonic: when every subscribed book was last pushed
        self._orders: dict[int, Any] = {}
        self._done: set[int] = set()  # oids of finished orders already pushed (or finished before the start)
        self._fills: set[int] = set()  # trade ids pushed (or there before the start)
        self._fundings: dict[str, int] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "HLWebsocket":
        threading.Thread(target=lambda: asyncio.run(self._main()), name="hl-ws", daemon=True).start()
        self._ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/ws"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        with self.server.lock:
            self._seen_state()
        async with serve(self._serve, "127.0.0.1", 0) as ws_server:
            self._port = next(iter(ws_server.sockets)).getsockname()[1]
            self._ready.set()
            pusher = asyncio.create_task(self._push_changes())
            await self._stop.wait()
            pusher.cancel()

    # -- faults ------------------------------------------------------------------------------------------------
    def drop(self) -> None:
        """Abort every connection now, without a close frame."""
        def abort() -> None:
            for client in list(self.clients):
                client.ws.transport.abort()
        self._loop.call_soon_threadsafe(abort)

    def stall(self, seconds: float) -> None:
        """Keep every connection open but send nothing (pushes, pongs, post answers) for ``seconds``."""
        self._stall_until = time.monotonic() + seconds

    @property
    def book_times(self) -> list[int]:
        """When each book was written (epoch ms)."""
        return [ns // 1_000_000 for ns, _ in self.books_written]

    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until

    def slow(self, seconds: float) -> None:
        """Write nothing for ``seconds`` while pushes keep queueing (a consumer that does not read): beyond
        ``max_queue`` queued messages the connection is dropped."""
        self._slow_until = time.monotonic() + seconds

    def duplicate(self, count: int) -> None:
        """Send each of the next ``count`` pushed messages twice."""
        self._duplicate = count

    def reorder(self, count: int) -> None:
        """Swap each pair among the next ``count`` pushed messages (per connection)."""
        self._reorder = count

    # -- connections -------------------------------------------------------------------------------------------
    async def _serve(self, ws: ServerConnection) -> None:
        client = _Client(ws, asyncio.Queue())
        self.clients.append(client)
        self.connections += 1
        writer = asyncio.create_task(self._write(client))
        try:
            async for raw in ws:
                await self._request(client, json.loads(raw))
        except Exception:  # a dropped connection: nothing to answer
            pass
        finally:
            writer.cancel()
            self.clients.remove(client)

    async def _write(self, client: _Client) -> None:
        while True:
            text = await client.queue.get()
            while time.monotonic() < max(self._stall_until, self._slow_until):
                await asyncio.sleep(0.01)
            await client.ws.send(text)
            if text.startswith('{"channel": "l2Book"'):
                self.books_written.append((time.time_ns(), json.loads(text)["data"]["coin"]))

    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        if client.queue.qsize() >= self.max_queue:
            self.slow_disconnects += 1
            client.ws.transport.abort()
            return
        client.queue.put_nowait(json.dumps(message))

    def _push(self, client: _Client, message: dict[str, Any]) -> None:
        """A pushed (subscription) message, through the duplicate and reorder faults."""
        self.sent.append(message)
        if self._duplicate > 0:
            self._duplicate -= 1
            self._send(client, message)
        if self._reorder > 0:
            self._reorder -= 1
            if self._held is None:
                self._held = (client, json.dumps(message))
                return
            held, self._held = self._held, None
            self._send(client, message)
            if held[0] is client:
                client.queue.put_nowait(held[1])
            return
        self._send(client, message)

    async def _request(self, client: _Client, request: dict[str, Any]) -> None:
        method = request.get("method")
        if method == "ping":
            self._send(client, {"channel": "pong"})
        elif method == "subscribe":
            subscription = request["subscription"]
            client.subscriptions.append(subscription)
            self._send(client, {"channel": "subscriptionResponse", "data": request})
            with self.server.lock:
                self._first(client, subscription)
        elif method == "post":
            answer = await asyncio.to_thread(self._post, request["request"])
            self._send(client, {"channel": "post", "data": {"id": request["id"], "response": answer}})

    def _post(self, request: dict[str, Any]) -> dict[str, Any]:
        kind, payload = request.get("type"), request.get("payload", {})
        status, text = self.server.handle("/info" if kind == "info" else "/exchange", json.dumps(payload).encode())
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if status != 200 or answer is None:
            return {"type": "error", "payload": text}
        if kind == "info":
            return {"type": "info", "payload": {"type": payload.get("type"), "data": answer}}
        return {"type": "action", "payload": answer}

    # -- pushes ------------------------------------------------------------------------------------------------
    def _first(self, client: _Client, subscription: dict[str, Any]) -> None:
        kind = subscription.get("type")
        if kind == "l2Book":
            self._push(client, {"channel": "l2Book", "data": self._book(subscription["coin"])})
        elif kind == "userFills":
            user = str(subscription["user"]).lower()
            fills = self.server._account(user).fills[-100:]
            self._push(client, {"channel": "userFills", "data": {"isSnapshot": True, "user": user,
                                                                 "fills": fills}})
        elif kind == "userFundings":
            user = str(subscription["user"]).lower()
            fundings = [_funding(f) for f in self.server._account(user).funding[-100:]]
            self._push(client, {"channel": "userFundings", "data": {"isSnapshot": True, "user": user,
                                                                    "fundings": fundings}})

    def _book(self, coin: str) -> dict[str, Any]:
        return self.server._info({"type": "l2Book", "coin": coin})[1]

    def _seen_state(self) -> None:
        self._books = dict(self.server.bid_ticks)
        self._orders = dict(self.server.orders)
        self._done = set(self.server.finished)
        self._fills = {f["tid"] for account in self.server.accounts.values() for f in account.fills}
        self._fundings = {user: len(account.funding) for user, account in self.server.accounts.items()}

    async def _push_changes(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if time.monotonic() < self._stall_until:
                continue
            with self.server.lock:
                self.server._advance()
                self._diff()

    def _diff(self) -> None:
        server = self.server
        now = server._now_ms()
        moved = [coin for coin, ticks in server.bid_ticks.items() if self._books.get(coin) != ticks]
        if time.monotonic() - self._booked >= self.book_s:
            moved, self._booked = list(server.bid_ticks), time.monotonic()
        new_fills = {user: [f for f in account.fills if f["tid"] not in self._fills]
                     for user, account in server.accounts.items()}
        new_fundings = {user: account.funding[self._fundings.get(user, 0):]
                        for user, account in server.accounts.items()}
        ended = [server.finished[oid] for oid in server.finished if oid not in self._done]
        opened = [o for oid, o in server.orders.items() if oid not in self._orders]
        opened += [o for o, _, _ in ended if o.oid not in self._orders]  # rested and ended since the last look
        closed = [(o, "filled" if status == "filled" else "canceled") for o, status, _ in ended]
        self._seen_state()
        for client in list(self.clients):
            for sub in client.subscriptions:
                kind, coin, user = sub.get("type"), sub.get("coin"), str(sub.get("user", "")).lower()
                if kind == "l2Book" and coin in moved:
                    self._push(client, {"channel": "l2Book", "data": self._book(coin)})
                elif kind == "trades":
                    trades = [_trade(f) for fills in new_fills.values() for f in fills if f["coin"] == coin]
                    if trades:
                        self._push(client, {"channel": "trades", "data": trades})
                elif kind == "userFills" and new_fills.get(user):
                    self._push(client, {"channel": "userFills", "data": {"user": user, "fills": new_fills[user]}})
                elif kind == "userFundings" and new_fundings.get(user):
                    fundings = [_funding(f) for f in new_fundings[user]]
                    self._push(client, {"channel": "userFundings", "data": {"user": user, "fundings": fundings}})
                elif kind == "orderUpdates":
                    updates = [_update(o, "open", now) for o in opened if o.user == user]
                    updates += [_update(o, status, now) for o, status in closed if o.user == user]
                    if updates:
                        self._push(client, {"channel": "orderUpdates", "data": updates})


def _trade(fill: dict[str, Any]) -> dict[str, Any]:
    """The public trade of a maker fill: the aggressor took the other side."""
    return {"coin": fill["coin"], "side": "A" if fill["side"] == "B" else "B", "px": fill["px"], "sz": fill["sz"],
            "time": fill["time"], "hash": fill["hash"], "tid": fill["tid"]}


def _funding(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``userFunding`` entry of the HTTP API in the websocket's shape."""
    delta = entry["delta"]
    return {"time": entry["time"], "coin": delta["coin"], "usdc": delta["usdc"], "szi": delta["szi"],
            "fundingRate": delta["fundingRate"]}


def _update(order: Any, status: str, now: int) -> dict[str, Any]:
    return {"order": {"coin": order.coin, "side": "B" if order.is_buy else "A", "limitPx": order.px, "sz": order.sz,
                      "oid": order.oid, "timestamp": order.timestamp, "origSz": order.orig,
                      "cloid": order.cloid},
            "status": status, "statusTimestamp": now}


@contextmanager
def ws_exchange(step_s: float = 0.2, move_prob: float = 1.0) -> Iterator[tuple[HLServer, HLWebsocket]]:
    """A loopback exchange with both sides running: a book that moves every ``step_s`` (with ``move_prob``)."""
    server = HLServer(step_s=step_s, move_prob=move_prob).start()
    ws = HLWebsocket(server).start()
    try:
        yield server, ws
    finally:
        ws.stop()
        server.stop()
