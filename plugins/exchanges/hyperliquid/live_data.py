"""Hyperliquid's push data for a live process: every venue's book, and the account's order updates, fills and
funding payments, kept current by one :class:`~.stream.Stream` (one websocket connection per process and URL) on a
thread of its own.

* **Books**: :meth:`LiveData.watch_book` subscribes a coin's ``l2Book``; each snapshot replaces the coin's
  :class:`BookView` and calls the watcher (from the stream's thread), so a book change can trigger that asset's step.
* **Account**: :meth:`LiveData.watch_account` subscribes ``orderUpdates``, ``userFills`` and ``userFundings`` of one
  user and hands their entries to the watcher's callbacks. A ``userFills`` or ``userFundings`` snapshot (its first
  message after each subscription, ``isSnapshot``) is handed over like any message: the watcher keys fills by trade
  id, so one seen before is skipped.
* **Gaps**: while the connection is down :attr:`LiveData.connected` is False and the books keep their last (aging)
  view: the pipeline's data-age check turns that into the stale-data risk state. Each connection bumps
  :attr:`LiveData.generation` (and sets :attr:`LiveData.connected_ns`), so a venue knows to reconcile over HTTP after a
  reconnection and to wait for a book pushed on the new connection.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .stream import Stream, StreamSettings

Watcher = Callable[[], None]
Entries = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class BookView:
    """One coin's latest book: the exchange's snapshot time (ms), its levels (best first) and when it arrived."""

    time_ms: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    recv_ns: int


class LiveData:
    """See the module docstring. Start with :meth:`start`; shared per URL through :func:`open_live_data`."""

    def __init__(self, settings: StreamSettings):
        self.stream = Stream(settings, on_state=self._on_state)
        self.books: dict[str, BookView] = {}
        self.connected = False
        self.generation = 0  # connections made so far
        self.connected_ns = 0  # when the current connection opened (a book older than this predates a gap)
        self.connected_at = 0.0  # ... and on the monotonic clock (a read sent after it covers the gap)
        self.users = 0  # venues sharing this connection
        self._book_watchers: dict[str, list[Watcher]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, wait_s: float) -> bool:
        """Start the connection's thread; True once connected within ``wait_s`` seconds (it keeps trying after)."""
        ready = threading.Event()

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await self.stream.run(self._stop)

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), name="botmm-hl-stream", daemon=True)
        self._thread.start()
        ready.wait(wait_s)
        deadline = time.monotonic() + wait_s
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connected

    def stop(self) -> None:
        """Close the connection and end its thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5.0)

    def _on_state(self, event: str, **data: Any) -> None:
        if event == "connected":
            self.connected_ns, self.connected_at = time.time_ns(), time.monotonic()
            self.generation += 1
        self.connected = event == "connected"

    def _subscribe(self, subscription: dict[str, Any], handler: Callable[[Any, int], None]) -> None:
        """Subscribe now on a live connection (from any thread), and at every later (re)connection."""
        self.stream.subscribe(subscription, handler)
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.stream.send_subscription(subscription), self._loop)

    # -- books -------------------------------------------------------------------------------------------------
    def watch_book(self, coin: str, watcher: Watcher) -> None:
        """Keep ``coin``'s book current and call ``watcher`` on each change."""
        first = coin not in self._book_watchers
        self._book_watchers.setdefault(coin, []).append(watcher)
        if first:
            self._subscribe({"type": "l2Book", "coin": coin}, self._on_book)

    def _on_book(self, data: dict[str, Any], recv_ns: int) -> None:
        bids, asks = ([(float(level["px"]), float(level["sz"])) for level in side] for side in data["levels"])
        coin = data["coin"]
        self.books[coin] = BookView(int(data["time"]), bids, asks, recv_ns)
        for watcher in self._book_watchers.get(coin, ()):
            watcher()

    # -- account -----------------------------------------------------------------------------------------------
    def watch_account(self, user: str, on_orders: Entries, on_fills: Entries, on_fundings: Entries) -> None:
        """Hand ``user``'s order updates, fills and funding payments to the callbacks, as they arrive."""
        user = user.lower()
        self._subscribe({"type": "orderUpdates", "user": user}, lambda data, ns: on_orders(data))
        self._subscribe({"type": "userFills", "user": user}, lambda data, ns: on_fills(data["fills"]))
        self._subscribe({"type": "userFundings", "user": user}, lambda data, ns: on_fundings(data["fundings"]))


@dataclass
class _Shared:
    connections: dict[str, LiveData]
    lock: threading.Lock


_SHARED = _Shared({}, threading.Lock())


def open_live_data(settings: StreamSettings, wait_s: float) -> LiveData:
    """The process's connection to ``settings.ws_url`` (started on first use, then shared; each call must be matched
    by :func:`close_live_data`)."""
    with _SHARED.lock:
        data = _SHARED.connections.get(settings.ws_url)
        if data is None:
            data = _SHARED.connections[settings.ws_url] = LiveData(settings)
            data.start(wait_s)
        data.users += 1
        return data


def close_live_data(data: LiveData) -> None:
    """Release one use of ``data``; the last user closes the connection."""
    with _SHARED.lock:
        data.users -= 1
        if data.users > 0:
            return
        _SHARED.connections.pop(data.stream.settings.ws_url, None)
    data.stop()
