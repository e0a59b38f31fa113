"""The Hyperliquid L2 recorder (``botmm record``, ``venue=hyperliquid``): ``l2Book`` and ``trades`` over one
websocket, written by :class:`botmm.data.HourlyStore` as the L2 event dataset, gaps marked as that module describes.

* **Rows.** Each ``l2Book`` message is a full top-20 snapshot: a clear (side 0, price NaN, size 0) and its levels
  (kind snapshot). Each trade is a trade row (side +1 when the buyer was the aggressor, ``"B"``). ``ts_exchange``
  is the message's ``time``; ``ts_local`` the time it arrived (raised to ``ts_exchange`` when the local clock is
  behind, so the dataset's ``ts_local >= ts_exchange`` holds).
* **Connection.** When the connection drops, the recorder reconnects (exponential backoff with jitter, from
  ``reconnect_min_s`` to ``reconnect_max_s``) and resubscribes: the connection is this plugin's
  :class:`~botmm.plugins.exchanges.hyperliquid.stream.Stream`; the SDK's websocket would not reconnect. The gap is
  marked in the data (:func:`botmm.data.gap_marker`). No message for ``stale_seconds`` counts as a drop (a
  half-open connection); ``{"method": "ping"}`` goes out every ``ping_seconds`` so the exchange does not close a
  quiet connection. The first connection is not retried: when it fails (a name that does not resolve, a refused or
  silent server past ``open_timeout_s``) the recorder stops with one line.
* **Trade backfill.** The first ``trades`` message after each subscription is the exchange's backfill of recent
  trades, already recorded or from before the recording (or inside a gap, where the book is unknown): it is dropped
  and counted (``backfill_dropped``).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from botmm import DataError, require
from botmm.data import (COLUMNS, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE, HourlyStore, L2Events, L2Meta,
                        L2RecorderParams, gap_marker)

from .stream import Stream, StreamSettings, pause

HL_MAINNET_WS = "wss://api.hyperliquid.xyz/ws"
Notify = Callable[..., None]


@dataclass
class RecorderParams(L2RecorderParams):
    """The Hyperliquid recorder's settings (the root keys of ``conf/record.yaml``)."""

    ws_url: str = HL_MAINNET_WS  # the exchange's public websocket (mainnet; testnet: api.hyperliquid-testnet.xyz)
    reconnect_min_s: float = 0.5  # first reconnect delay, doubled per failed attempt ...
    reconnect_max_s: float = 30.0  # ... up to this
    ping_seconds: float = 20.0  # application ping period (Hyperliquid drops connections silent for 60 s)
    stale_seconds: float = 45.0  # no message for this long: the connection is dead, reconnect
    open_timeout_s: float = 5.0  # deadline of each connection attempt (name resolution, connect, handshake)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.ws_url.startswith(("ws://", "wss://")), self, "ws_url", "must be a ws:// or wss:// URL")
        require(self.reconnect_min_s > 0, self, "reconnect_min_s", "must be > 0")
        require(self.reconnect_max_s >= self.reconnect_min_s, self, "reconnect_max_s", "must be >= reconnect_min_s")
        require(self.ping_seconds > 0, self, "ping_seconds", "must be > 0")
        require(self.stale_seconds > self.ping_seconds, self, "stale_seconds", "must be > ping_seconds")
        require(self.open_timeout_s > 0, self, "open_timeout_s", "must be > 0")


@dataclass
class _Gap:
    start_ns: int  # exchange time of the last event before the gap
    local_ns: int  # when that event arrived
    reason: str


@dataclass
class SymbolFeed:
    """The websocket side of one symbol: turns messages into rows, drops the trade backfill, marks gaps. Rows wait
    in ``_rows`` until :meth:`take` hands them to the symbol's :class:`HourlyStore`."""

    meta: L2Meta
    coin: str
    backfill: bool = False
    last: Optional[tuple[int, int]] = None  # (ts_exchange, ts_local) of the last event taken in
    gap: Optional[_Gap] = None
    counts: dict[str, int] = field(default_factory=lambda: {"snapshots": 0, "trades": 0, "backfill_dropped": 0,
                                                            "gaps": 0})
    _rows: list[list[Any]] = field(default_factory=lambda: [[] for _ in COLUMNS])

    def subscribed(self) -> None:
        """A (re)subscription: its first ``trades`` message is a backfill."""
        self.backfill = True

    def disconnected(self, reason: str) -> None:
        """The connection dropped: a gap starts after the last event (if any was recorded)."""
        if self.last is not None and self.gap is None:
            self.gap = _Gap(self.last[0], self.last[1], reason)

    def _add(self, ts: list[int], local: list[int], kind: list[int], side: list[int], price: list[float],
             size: list[float]) -> None:
        for column, values in zip(self._rows, (ts, local, kind, side, price, size)):
            column.extend(values)
        self.last = (ts[-1], local[-1])

    def _close_gap(self, ts_ns: int) -> Optional[dict[str, Any]]:
        gap, self.gap = self.gap, None
        if gap is None:
            return None
        marker, note = gap_marker(self.meta.symbol, gap.start_ns, gap.local_ns, ts_ns, gap.reason)
        self._add(*([getattr(marker, c)[0].item()] for c in COLUMNS))
        self.counts["gaps"] += 1
        return note

    def on_book(self, data: dict[str, Any], recv_ns: int) -> Optional[dict[str, Any]]:
        """One ``l2Book`` message (a full snapshot); returns the gap it closed, if any."""
        ts = int(data["time"]) * 1_000_000
        bids, asks = data["levels"][0], data["levels"][1]
        prices = [math.nan, *(float(lv["px"]) for lv in bids), *(float(lv["px"]) for lv in asks)]
        sizes = [0.0, *(float(lv["sz"]) for lv in bids), *(float(lv["sz"]) for lv in asks)]
        n = len(prices)
        closed = self._close_gap(ts)
        self._add([ts] * n, [max(recv_ns, ts)] * n, [KIND_CLEAR] + [KIND_SNAPSHOT] * (n - 1),
                  [0] + [1] * len(bids) + [-1] * len(asks), prices, sizes)
        self.counts["snapshots"] += 1
        return closed

    def on_trades(self, trades: list[dict[str, Any]], recv_ns: int) -> Optional[dict[str, Any]]:
        """One ``trades`` message of this coin; the first after a subscription is the backfill and is dropped."""
        if self.backfill:
            self.backfill = False
            self.counts["backfill_dropped"] += len(trades)
            return None
        if not trades:
            return None
        ts = [int(t["time"]) * 1_000_000 for t in trades]
        sides = [1 if t["side"] == "B" else -1 for t in trades]
        prices, sizes = [float(t["px"]) for t in trades], [float(t["sz"]) for t in trades]
        closed = self._close_gap(min(ts))  # parsed first: a malformed message changes nothing
        self._add(ts, [max(recv_ns, t) for t in ts], [KIND_TRADE] * len(ts), sides, prices, sizes)
        self.counts["trades"] += len(ts)
        return closed

    def take(self) -> L2Events:
        """The rows received since the last call, in arrival order."""
        rows, self._rows = self._rows, [[] for _ in COLUMNS]
        return L2Events.build(**dict(zip(COLUMNS, rows)))


class Recorder:
    """Records ``metas``' coins from one websocket into ``root`` until ``stop`` is set (see the module docstring):
    the recorder this plugin gives ``botmm record`` (``botmm_l2_recorder``).

    ``notify(event, **data)`` is told about connections, disconnections, gaps and finished files (the recorder does
    not log them itself: ``notifier=console`` does).
    """

    Params = RecorderParams

    def __init__(self, params: RecorderParams, metas: Sequence[L2Meta], coins: Sequence[str],
                 notify: Optional[Notify] = None):
        self.params = params
        self.url = params.ws_url
        self.feeds = {coin: SymbolFeed(meta, coin) for meta, coin in zip(metas, coins)}
        self.stores = {coin: HourlyStore(params.root, meta) for meta, coin in zip(metas, coins)}
        self.notify = notify or (lambda event, **data: None)
        self.stream = Stream(StreamSettings(params.ws_url, params.ping_seconds, params.stale_seconds,
                                            params.reconnect_min_s, params.reconnect_max_s, params.open_timeout_s),
                             on_state=self._on_state)
        for coin in self.feeds:
            self.stream.subscribe({"type": "l2Book", "coin": coin}, self._on_book)
            self.stream.subscribe({"type": "trades", "coin": coin}, self._on_trades)
        self.connected = False  # a connection was made once: from then on a failure is a drop, reconnected
        self.started_ns = time.time_ns()

    async def run(self, stop: asyncio.Event) -> dict[str, Any]:
        """Record until ``stop``; every open hour is written before this returns. The result summary."""
        flusher = asyncio.create_task(self._flush_every(stop))
        try:
            await self.stream.run(stop)
        finally:
            stop.set()
            await flusher
            await self._flush(final=True)
        return self.result()

    def result(self) -> dict[str, Any]:
        feeds, stores = self.feeds.values(), self.stores.values()
        return {
            "mode": "record",
            "symbol": "+".join(f.meta.symbol for f in feeds),
            "url": self.url,
            "root": self.params.root,
            "rows": {s.meta.symbol: s.rows for s in stores},
            "files": [str(p) for s in stores for p in s.files],
            "snapshots": sum(f.counts["snapshots"] for f in feeds),
            "trades": sum(f.counts["trades"] for f in feeds),
            "gaps": sum(f.counts["gaps"] for f in feeds),
            "backfill_dropped": sum(f.counts["backfill_dropped"] for f in feeds),
            "late": sum(s.late for s in stores),
            "reconnects": self.stream.reconnects,
            "messages": self.stream.messages,
            "bad_messages": self.stream.bad_messages,
            "start_ms": self.started_ns // 1_000_000,
            "end_ms": time.time_ns() // 1_000_000,
        }

    def status(self) -> list[dict[str, Any]]:
        """Per symbol, how fresh the recorded data is and what was written: the status page's view."""
        now_ns, limit = time.time_ns(), float(self.params.stale_seconds)
        found = []
        for coin, feed in self.feeds.items():
            age = None if feed.last is None else max(0.0, (now_ns - feed.last[1]) / 1e9)
            found.append({"symbol": feed.meta.symbol, "mode": "record", "data_age_s": age, "max_data_age_s": limit,
                          "fresh": age is not None and age <= limit, "orders_confirmed": True,
                          "rows": self.stores[coin].rows, "gaps": feed.counts["gaps"],
                          "snapshots": feed.counts["snapshots"], "trades": feed.counts["trades"],
                          "reconnects": self.stream.reconnects, "bad_messages": self.stream.bad_messages})
        return found

    # -- the websocket -------------------------------------------------------------------------------------------
    def _on_state(self, event: str, **data: Any) -> None:
        if event == "connected":
            self.connected = True
            for feed in self.feeds.values():
                feed.subscribed()
            self.notify("recorder_connected", url=data["url"], coins=list(self.feeds), attempt=data["attempt"])
        else:
            if not self.connected:  # the first attempt failed: a wrong URL or no network, not a drop
                raise DataError(f"ws_url={self.params.ws_url}: {data['reason']}; nothing recorded")
            for feed in self.feeds.values():
                feed.disconnected(data["reason"])
            self.notify("recorder_disconnected", **data)

    def _on_book(self, data: dict[str, Any], recv_ns: int) -> None:
        self._gap_note(self.feeds[data["coin"]].on_book(data, recv_ns))

    def _on_trades(self, trades: list[dict[str, Any]], recv_ns: int) -> None:
        self._gap_note(self.feeds[trades[0]["coin"]].on_trades(trades, recv_ns))

    def _gap_note(self, gap: Optional[dict[str, Any]]) -> None:
        if gap is not None:
            self.notify("recorder_gap", **gap)

    # -- the files -----------------------------------------------------------------------------------------------
    async def _flush_every(self, stop: asyncio.Event) -> None:
        """Flush on a fixed cadence (a slow write does not push the next flush back)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while not stop.is_set():
                due = max(due + self.params.flush_seconds, loop.time())
                await pause(stop, due - loop.time())
                if not stop.is_set():
                    await self._flush(final=False)
        except BaseException:
            stop.set()
            raise

    async def _flush(self, final: bool) -> None:
        for coin, feed in self.feeds.items():
            notes = await asyncio.to_thread(self.stores[coin].store, feed.take(), final)
            for event, data in notes:
                self.notify(event, **data)
