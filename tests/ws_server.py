"""A loopback Hyperliquid websocket server for tests: it speaks the exchange's public websocket protocol on
127.0.0.1 and streams ``l2Book`` and ``trades`` messages from a capture file or from a synthetic market.

Protocol, as on ``wss://api.hyperliquid.xyz/ws``: the client sends ``{"method": "subscribe", "subscription":
{"type": "l2Book" | "trades", "coin": ...}}`` and gets ``{"channel": "subscriptionResponse", "data": {...}}``; a
``trades`` subscription is answered with a backfill of recent trades first (``{"channel": "trades", "data": [...]}``,
trades from before the subscription); ``{"method": "ping"}`` gets ``{"channel": "pong"}``.

The stream is one shared sequence of messages, played at ``interval_s`` from the first subscription on: a message
reaches the connections subscribed to its channel and coin at that moment, so whatever is played while the client
is disconnected is lost, as on the real exchange. Faults: ``drop_at`` (indices after which every connection is
aborted without a close frame) and ``stall_at`` (indices after which the server goes silent, keeping the connection
open, for ``stall_s``). :attr:`HLWsServer.log` keeps every played message and whether it was delivered.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from websockets.asyncio.server import ServerConnection, serve

HOUR_MS = 3_600_000


def capture_messages(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The messages of a Hyperliquid capture (``<ns> <json>`` lines, gzip): the stream, and per coin the backfill
    (the capture's first ``trades`` message, which predates it)."""
    stream: list[dict[str, Any]] = []
    backfill: dict[str, list[dict[str, Any]]] = {}
    with gzip.open(path, "rt") as handle:
        for line in handle:
            message = json.loads(line.split(" ", 1)[1])
            if message["channel"] == "trades" and message["data"] and message["data"][0]["coin"] not in backfill:
                backfill[message["data"][0]["coin"]] = message["data"]
                continue
            stream.append(message)
    return stream, backfill


def synthetic_messages(coins: dict[str, float], count: int, start_ms: int, step_ms: int, seed: int = 1,
                       levels: int = 5) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """A synthetic market: for each of ``count`` steps of ``step_ms`` exchange time and each coin (name -> start
    price), an ``l2Book`` snapshot of ``levels`` a side, and on every other step a ``trades`` message of 1-2
    trades. Returns the stream and per coin a backfill of two trades from before ``start_ms``."""
    rng = random.Random(seed)
    prices = dict(coins)
    stream: list[dict[str, Any]] = []
    tid = 1000
    for step in range(count):
        t = start_ms + step * step_ms
        for coin, price in prices.items():
            tick = price * 1e-4
            mid = price + tick * rng.choice((-1, 0, 1))
            prices[coin] = mid
            bids = [{"px": f"{mid - tick * (i + 1):.6g}", "sz": f"{rng.uniform(0.1, 2):.4f}", "n": i + 1}
                    for i in range(levels)]
            asks = [{"px": f"{mid + tick * (i + 1):.6g}", "sz": f"{rng.uniform(0.1, 2):.4f}", "n": i + 1}
                    for i in range(levels)]
            stream.append({"channel": "l2Book", "data": {"coin": coin, "time": t, "levels": [bids, asks]}})
            if step % 2 == 1:
                trades = []
                for k in range(rng.choice((1, 2))):
                    tid += 1
                    side = rng.choice("BA")
                    px = float(asks[0]["px"] if side == "B" else bids[0]["px"])
                    trades.append({"coin": coin, "side": side, "px": f"{px:.6g}", "sz": f"{rng.uniform(0.01, 1):.4f}",
                                   "time": t + k, "hash": "0x0", "tid": tid})
                stream.append({"channel": "trades", "data": trades})
    backfill = {coin: [{"coin": coin, "side": "A", "px": f"{price:.6g}", "sz": "0.5", "time": start_ms - 5000 + k,
                        "hash": "0x0", "tid": k + 1} for k in range(2)] for coin, price in coins.items()}
    return stream, backfill


def message_key(message: dict[str, Any]) -> tuple[str, str]:
    """(channel, coin) of a stream message."""
    data = message["data"]
    return message["channel"], data["coin"] if message["channel"] == "l2Book" else data[0]["coin"]


def _stamped(message: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``message`` with its exchange time(s) set to ``now_ms`` (a trade batch keeps its spacing, ending at now)."""
    data = message["data"]
    if message["channel"] == "l2Book":
        return {"channel": "l2Book", "data": {**data, "time": now_ms}}
    last = max(t["time"] for t in data)
    return {"channel": "trades", "data": [{**t, "time": now_ms - (last - t["time"])} for t in data]}


@dataclass
class Played:
    """One stream message as played: when, and whether a subscribed connection received it."""

    index: int
    message: dict[str, Any]
    wall_ns: int
    delivered: bool


@dataclass
class HLWsServer:
    """The server (see the module docstring). ``start()`` returns its ``ws://127.0.0.1:<port>`` URL."""

    stream: list[dict[str, Any]]
    backfill: dict[str, list[dict[str, Any]]]
    interval_s: float = 0.05
    live_times: bool = False  # stamp each message with the wall clock when played (capture times are from 2025)
    drop_at: Iterable[int] = ()
    stall_at: Iterable[int] = ()
    stall_s: float = 0.0
    log: list[Played] = field(default_factory=list)
    backfills_sent: list[list[dict[str, Any]]] = field(default_factory=list)
    connections: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    _subs: dict[ServerConnection, set[tuple[str, str]]] = field(default_factory=dict)
    _loop: Optional[asyncio.AbstractEventLoop] = None
    _thread: Optional[threading.Thread] = None
    _first_sub: Optional[asyncio.Event] = None
    _stopped: Optional[asyncio.Event] = None
    _last_trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _silent: bool = False  # stalled: no message and no pong

    def start(self) -> str:
        ready = threading.Event()
        port: list[int] = []

        async def main() -> None:
            self._first_sub, self._stopped = asyncio.Event(), asyncio.Event()
            async with serve(self._handler, "127.0.0.1", 0, ping_interval=None) as server:
                port.append(server.sockets[0].getsockname()[1])
                ready.set()
                player = asyncio.create_task(self._play())
                await self._stopped.wait()
                player.cancel()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="hl-ws-server", daemon=True)
        self._thread.start()
        assert ready.wait(5), "the websocket server did not start"
        return f"ws://127.0.0.1:{port[0]}"

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(5)

    def delivered(self, channel: str, coin: Optional[str] = None) -> list[Played]:
        """The played messages of ``channel`` (and ``coin``) that reached the client."""
        return [p for p in self.log if p.delivered and message_key(p.message)[0] == channel
                and (coin is None or message_key(p.message)[1] == coin)]

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        self._subs[conn] = set()
        try:
            async for raw in conn:
                request = json.loads(raw)
                if request.get("method") == "ping":
                    if not self._silent:
                            await conn.send(json.dumps({"channel": "pong"}))
                elif request.get("method") == "subscribe":
                    sub = request["subscription"]
                    await conn.send(json.dumps({"channel": "subscriptionResponse", "data": request}))
                    if sub["type"] == "trades":
                        trades = self._last_trades.get(sub["coin"]) or self.backfill.get(sub["coin"], [])
                        self.backfills_sent.append(trades)
                        await conn.send(json.dumps({"channel": "trades", "data": trades}))
                    self._subs[conn].add((sub["type"], sub["coin"]))
                    self._first_sub.set()
        except Exception:  # a connection the server aborted, or a client gone: the handler just ends
            pass
        finally:
            self._subs.pop(conn, None)

    async def _play(self) -> None:
        await self._first_sub.wait()
        drops, stalls = set(self.drop_at), set(self.stall_at)
        for index, message in enumerate(self.stream):
            key = message_key(message)
            if self.live_times:
                message = _stamped(message, time.time_ns() // 1_000_000)
            targets = [c for c, subs in self._subs.items() if key in subs]
            text = json.dumps(message)
            for conn in targets:
                try:
                    await conn.send(text)
                except Exception:
                    targets = [t for t in targets if t is not conn]
            if key[0] == "trades":
                self._last_trades[key[1]] = message["data"]
            self.log.append(Played(index, message, time.time_ns(), bool(targets)))
            if index in drops:
                for conn in list(self._subs):
                    conn.transport.abort()
            if index in stalls:
                self._silent = True
                await asyncio.sleep(self.stall_s)
                self._silent = False
            await asyncio.sleep(self.interval_s)
        self.done.set()
