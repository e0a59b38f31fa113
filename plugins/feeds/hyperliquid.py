"""``feed=hyperliquid``: live public market data from Hyperliquid as 1-second bars, for paper trading on real prices
(``botmm run exchange=paper feed=hyperliquid``). No key, no orders: one ``/info`` read (``meta``, to map the
symbol), then the books the exchange pushes.

The books come from the process's websocket connection (:mod:`botmm.plugins.exchanges.hyperliquid.live_data`, the
one the live venue uses: reconnection, pings and staleness are handled there), subscribed to the coin's ``l2Book``.
A background thread closes a bar every ``bar_seconds``: open/high/low/close of the mids pushed during it, bid/ask
and their sizes from the last book. ``volume`` is 0. A bar without a new book repeats the last one, until no book
has arrived for ``stall_s``: then the feed ends with a DataError, which stops the run (cancelling its paper orders)
rather than quoting on stale prices. Bars are yielded as they close, so the paper venue's wall clock waits for each
one.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from botmm import BuildContext, Candles, ComponentParams, DataError, hookimpl, require
from botmm.plugins.exchanges.hyperliquid.config import websocket_url
from botmm.plugins.exchanges.hyperliquid.live_data import LiveData, close_live_data, open_live_data
from botmm.plugins.exchanges.hyperliquid.stream import StreamSettings

@dataclass
class HyperliquidFeedParams(ComponentParams):
    base_url: str = "https://api.hyperliquid.xyz"  # public data: mainnet prices, read only
    ws_url: Optional[str] = None  # None: base_url's websocket (wss://api.hyperliquid.xyz/ws)
    coin: Optional[str] = None  # None: the asset's symbol (ETH, ETHUSDT, ETH-PERP all map to ETH)
    bar_seconds: float = 1.0  # seconds per bar built from the pushed books
    timeout_s: float = 3.0  # the meta request, and the wait for the websocket at start
    stall_s: float = 30.0  # no book for this long ends the feed

    def __post_init__(self) -> None:
        require(self.base_url.startswith(("http://", "https://")), self, "base_url", "must be an http(s) URL")
        require(self.bar_seconds > 0, self, "bar_seconds", "must be > 0")
        require(self.ws_url is None or self.ws_url.startswith(("ws://", "wss://")), self, "ws_url",
                "must be a ws:// or wss:// URL, or null for base_url's websocket")
        require(self.timeout_s > 0, self, "timeout_s", "must be > 0")
        require(self.stall_s > self.bar_seconds, self, "stall_s", "must be > bar_seconds")


class _Bars(threading.Thread):
    """Collects the coin's pushed books and puts one bar dict per ``bar_seconds`` on ``bars``."""

    def __init__(self, live: LiveData, coin: str, params: HyperliquidFeedParams):
        super().__init__(name=f"botmm-feed-{coin}", daemon=True)
        self.live, self.coin, self.params = live, coin, params
        self.bars: queue.Queue[dict] = queue.Queue()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._book: Optional[tuple[float, float, float, float]] = None  # bid, ask, bid size, ask size
        self._book_at = 0.0
        self._mids: list[float] = []

    def on_book(self) -> None:
        """A pushed book (called from the connection's thread)."""
        view = self.live.books[self.coin]
        if not view.bids or not view.asks:
            return
        top = (view.bids[0][0], view.asks[0][0], view.bids[0][1], view.asks[0][1])
        with self._lock:
            self._book, self._book_at = top, time.monotonic()
            self._mids.append(0.5 * (top[0] + top[1]))

    def run(self) -> None:
        bar_s = self.params.bar_seconds
        start = time.time()
        k = 0
        while not self.stop.wait(max(0.0, start + (k + 1) * bar_s - time.time())):
            with self._lock:
                book, book_at, mids, self._mids = self._book, self._book_at, self._mids, []
            if book is None or time.monotonic() - book_at > self.params.stall_s:
                if time.time() - start > self.params.stall_s:
                    self.bars.put({})  # stalled: the consumer raises
                    return
                k += 1
                continue
            bid, ask, bid_size, ask_size = book
            mids = mids or [0.5 * (bid + ask)]
            self.bars.put({"ts": int((start + k * bar_s) * 1000), "open": mids[0], "high": max(mids),
                           "low": min(mids), "close": mids[-1], "bid": bid, "ask": ask, "bid_size": bid_size,
                           "ask_size": ask_size})
            k += 1


class HyperliquidFeed:
    def __init__(self, params: HyperliquidFeedParams, symbol: str):
        self.params, self.symbol = params, symbol

    def _coin(self, api: Any) -> str:
        from botmm.plugins.exchanges.hyperliquid.symbols import to_coin

        try:
            meta = api.post("/info", {"type": "meta"})
            universe = [entry["name"] for entry in meta["universe"]]
        except Exception as exc:
            raise DataError(f"feed.base_url={self.params.base_url}: cannot read Hyperliquid meta "
                            f"({str(exc)[:80] or type(exc).__name__})") from None
        key = "feed.coin" if self.params.coin else "asset.symbol"
        return to_coin(self.params.coin or self.symbol, universe, key)

    def batches(self) -> Iterator[Candles]:
        from hyperliquid.api import API

        p = self.params
        api = API(p.base_url.rstrip("/"), p.timeout_s)
        coin = self._coin(api)
        ws_url = p.ws_url or websocket_url(p.base_url.rstrip("/"))
        live = open_live_data(StreamSettings(ws_url), p.timeout_s)
        poller = _Bars(live, coin, p)
        live.watch_book(coin, poller.on_book)
        poller.start()
        try:
            while True:
                try:
                    bar = poller.bars.get(timeout=p.stall_s + p.bar_seconds)
                except queue.Empty:
                    bar = {}
                if not bar:
                    raise DataError(f"feed=hyperliquid: no {coin} book from {ws_url} for {p.stall_s:g}s")
                yield Candles(**{name: np.array([value], dtype=np.int64 if name == "ts" else float)
                                 for name, value in bar.items()}, volume=np.zeros(1),
                              bar_ms=int(p.bar_seconds * 1000))
        finally:
            poller.stop.set()
            close_live_data(live)


def make_hyperliquid_feed(params: HyperliquidFeedParams, ctx: BuildContext) -> HyperliquidFeed:
    return HyperliquidFeed(params, ctx.asset.symbol)


@hookimpl
def botmm_register_feeds(register):
    register("hyperliquid", make_hyperliquid_feed, HyperliquidFeedParams)
