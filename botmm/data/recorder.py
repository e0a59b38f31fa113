"""The L2 recorder: Hyperliquid ``l2Book`` and ``trades`` over one websocket, written as the L2 event dataset of
:mod:`botmm.data.l2` (``<root>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet``), which ``botmm replay feed.path=...`` reads as is.

* **Rows.** Each ``l2Book`` message is a full top-20 snapshot: a clear (side 0, price NaN, size 0) and its levels
  (kind snapshot). Each trade is a trade row (side +1 when the buyer was the aggressor, ``"B"``). ``ts_exchange``
  is the message's ``time``; ``ts_local`` the time it arrived (raised to ``ts_exchange`` when the local clock is
  behind, so the dataset's ``ts_local >= ts_exchange`` holds).
* **Gaps.** When the connection drops, the recorder reconnects (exponential backoff with jitter, from
  ``reconnect_min_s`` to ``reconnect_max_s``) and resubscribes: the connection is the Hyperliquid plugin's
  :class:`~botmm.plugins.exchanges.hyperliquid.stream.Stream`; the SDK's websocket would not reconnect. The gap is marked in
  the data by a clear of the whole book (side 0, price NaN) whose ``size`` is the gap's length in seconds (> 0),
  at the exchange time of the last event before it: a replay empties its book there and refills it at the next
  snapshot. A restart that resumes an hour file marks its gap the same way. No message for ``stale_seconds``
  counts as a drop (a half-open connection); ``{"method": "ping"}`` goes out every ``ping_seconds`` so the
  exchange does not close a quiet connection. The first connection is not retried: when it fails (a name that does
  not resolve, a refused or silent server past ``open_timeout_s``) the recorder stops with one line.
* **Trade backfill.** The first ``trades`` message after each subscription is the exchange's backfill of recent
  trades, already recorded or from before the recording (or inside a gap, where the book is unknown): it is dropped
  and counted (``backfill_dropped``).
* **Files and crashes.** The open hour is held in memory and, every ``flush_seconds``, written whole to a temporary
  file that atomically replaces the hour file: on disk every hour file is always a complete Parquet file, and a
  crash (even SIGKILL) loses at most the last ``flush_seconds``. Rewriting costs about 40 ms per 300,000 rows (an
  hour of BTC snapshots), a fraction of a percent of a core at ``flush_seconds=5``. An hour is finished (and
  announced) once the exchange clock is ``LATE_GRACE_S`` past its end; an event arriving later still is moved to the
  start of the next open hour (``late``). A graceful stop (SIGINT, SIGTERM, ``duration``) writes every open hour.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from botmm.config import require
from botmm.data.l2 import (COLUMNS, HOUR_NS, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, hour_name,
                           read_l2, write_l2)
from botmm.errors import DataError
from botmm.plugins.exchanges.hyperliquid.stream import Stream, StreamSettings, pause

log = logging.getLogger("botmm.recorder")

HL_MAINNET_WS = "wss://api.hyperliquid.xyz/ws"
SOURCE = "hyperliquid"
LATE_GRACE_S = 5
TMP_DIR = ".recording"  # under the root: temporary files, renamed into place (never read as data)
MIN_GAP_S = 0.001  # a gap marker's size is at least this, so it never reads as a snapshot's clear (size 0)
Notify = Callable[..., None]


@dataclass
class RecorderParams:
    """The recorder's settings (the root keys of ``conf/record.yaml``)."""

    ws_url: str = HL_MAINNET_WS  # the exchange's public websocket (mainnet; testnet: api.hyperliquid-testnet.xyz)
    root: str = "data/orderbook"  # the dataset root: <root>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet
    flush_seconds: float = 5.0  # the hour file on disk is at most this old: what a crash can lose
    duration: Optional[str] = None  # stop after this long (15s, 2h, ...); null: until SIGINT or SIGTERM
    reconnect_min_s: float = 0.5  # first reconnect delay, doubled per failed attempt ...
    reconnect_max_s: float = 30.0  # ... up to this
    ping_seconds: float = 20.0  # application ping period (Hyperliquid drops connections silent for 60 s)
    stale_seconds: float = 45.0  # no message for this long: the connection is dead, reconnect
    open_timeout_s: float = 5.0  # deadline of each connection attempt (name resolution, connect, handshake)

    def __post_init__(self) -> None:
        require(self.ws_url.startswith(("ws://", "wss://")), self, "ws_url", "must be a ws:// or wss:// URL")
        require(bool(self.root), self, "root", "must name a folder")
        require(self.flush_seconds > 0, self, "flush_seconds", "must be > 0")
        require(self.reconnect_min_s > 0, self, "reconnect_min_s", "must be > 0")
        require(self.reconnect_max_s >= self.reconnect_min_s, self, "reconnect_max_s", "must be >= reconnect_min_s")
        require(self.ping_seconds > 0, self, "ping_seconds", "must be > 0")
        require(self.stale_seconds > self.ping_seconds, self, "stale_seconds", "must be > ping_seconds")
        require(self.open_timeout_s > 0, self, "open_timeout_s", "must be > 0")


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds")


def gap_marker(start_ns: int, local_ns: int, seconds: float) -> L2Events:
    """The row marking a gap that began at exchange time ``start_ns`` and lasted ``seconds``: a clear of the whole
    book whose size is the gap's length (see the module docstring)."""
    return L2Events.build(ts_exchange=[start_ns], ts_local=[max(local_ns, start_ns)], kind=[KIND_CLEAR], side=[0],
                          price=[math.nan], size=[max(seconds, MIN_GAP_S)])


def is_gap(events: L2Events) -> np.ndarray:
    """Mask of the gap markers among ``events``."""
    return (events.kind == KIND_CLEAR) & (events.size > 0)


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
        seconds = max((ts_ns - gap.start_ns) / 1e9, MIN_GAP_S)
        marker = gap_marker(gap.start_ns, gap.local_ns, seconds)
        self._add(*([getattr(marker, c)[0].item()] for c in COLUMNS))
        self.counts["gaps"] += 1
        return {"symbol": self.meta.symbol, "seconds": round(seconds, 3), "reason": gap.reason,
                "start": _iso(gap.start_ns), "end": _iso(ts_ns)}

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


class HourlyStore:
    """The file side of one symbol: the open hours in memory, each rewritten atomically on every store (see the
    module docstring). Used from one thread at a time."""

    def __init__(self, root: str | os.PathLike[str], meta: L2Meta):
        self.root, self.meta = Path(root), meta
        self.dir = self.root / meta.symbol
        self.tmp_root = self.root / TMP_DIR
        shutil.rmtree(self.tmp_root / meta.symbol, ignore_errors=True)  # a crashed write's leftover
        self.open: dict[int, L2Events] = {}
        self.dirty: set[int] = set()
        self.closed_until: Optional[int] = None  # exchange time before which every hour is finished
        self.newest = np.iinfo(np.int64).min
        self.files: list[Path] = []
        self.rows = 0
        self.late = 0

    def path(self, hour: int) -> Path:
        return self.dir / f"{hour_name(hour * HOUR_NS)}.parquet"

    def store(self, batch: L2Events, final: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Add ``batch``, write every hour that changed, finish the hours the exchange clock has left behind (all of
        them when ``final``). Returns the notifications to send: ``recorder_gap`` for a resumed file,
        ``recorder_rotated`` for each hour finished before the final store."""
        notes: list[tuple[str, dict[str, Any]]] = []
        if len(batch):
            batch = batch.take(np.argsort(batch.ts_exchange, kind="stable"))
            if self.closed_until is not None and batch.ts_exchange[0] < self.closed_until:
                late = batch.ts_exchange < self.closed_until
                self.late += int(late.sum())
                ts = np.maximum(batch.ts_exchange, self.closed_until)
                batch = L2Events(ts, np.maximum(batch.ts_local, ts), batch.kind, batch.side, batch.price, batch.size)
            self.rows += len(batch)
            hours = batch.ts_exchange // HOUR_NS
            cuts = np.flatnonzero(np.diff(hours)) + 1
            for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(hours)]):
                hour = int(hours[start])
                part = batch.take(slice(int(start), int(stop)))
                if hour not in self.open:
                    self.open[hour] = self._resume(hour, part, notes)
                self.open[hour] = _append(self.open[hour], part)
                self.dirty.add(hour)
            self.newest = max(self.newest, int(batch.ts_exchange[-1]))
        for hour in sorted(self.open):
            if hour in self.dirty:
                self._write(hour)
            if final or (hour + 1) * HOUR_NS + LATE_GRACE_S * 1_000_000_000 <= self.newest:
                rows = len(self.open.pop(hour))
                self.closed_until = max(self.closed_until or 0, (hour + 1) * HOUR_NS)
                if not final:
                    notes.append(("recorder_rotated", {"symbol": self.meta.symbol, "file": str(self.path(hour)),
                                                       "rows": rows}))
        return notes

    def _resume(self, hour: int, first: L2Events, notes: list[tuple[str, dict[str, Any]]]) -> L2Events:
        """The rows an earlier session left in this hour's file, closed by a gap marker; nothing when new."""
        path = self.path(hour)
        if not path.is_file():
            return first.take(slice(0, 0))
        old = read_l2(path)
        if len(old) == 0:
            return old
        start, local = int(old.ts_exchange[-1]), int(old.ts_local[-1])
        seconds = max((int(first.ts_exchange[0]) - start) / 1e9, MIN_GAP_S)
        notes.append(("recorder_gap", {"symbol": self.meta.symbol, "seconds": round(seconds, 3),
                                       "reason": f"resumed {path.name} after a restart", "start": _iso(start),
                                       "end": _iso(int(first.ts_exchange[0]))}))
        return L2Events.concat([old, gap_marker(start, local, seconds)])

    def _write(self, hour: int) -> None:
        """Write the hour to a temporary file, sync it, and rename it over the hour file."""
        (tmp,) = write_l2(self.open[hour], self.tmp_root, self.meta)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        final = self.path(hour)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        if final not in self.files:
            self.files.append(final)
        self.dirty.discard(hour)


def _append(events: L2Events, part: L2Events) -> L2Events:
    """``part`` appended to ``events``, kept in exchange order (stable: earlier rows first on equal times)."""
    if len(events) == 0:
        return part
    merged = L2Events.concat([events, part])
    if part.ts_exchange[0] < events.ts_exchange[-1]:
        merged = merged.take(np.argsort(merged.ts_exchange, kind="stable"))
    return merged


class Recorder:
    """Records ``metas``' coins from one websocket into ``root`` until ``stop`` is set (see the module docstring).

    ``notify(event, **data)`` is told about connections, disconnections, gaps and finished files (the recorder does
    not log them itself: ``notifier=console`` does).
    """

    def __init__(self, params: RecorderParams, metas: Sequence[L2Meta], coins: Sequence[str],
                 notify: Optional[Notify] = None):
        self.params = params
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
            "url": self.params.ws_url,
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
