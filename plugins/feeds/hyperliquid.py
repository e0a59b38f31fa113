"""``feed=hyperliquid``: live public market data from Hyperliquid as 1-second bars, for paper trading on real prices
(``botmm run exchange=paper feed=hyperliquid``). No key, no orders: only ``/info`` reads.

A background thread polls ``l2Book`` every ``poll_s`` (weight 2 each: 240 a minute at the default 0.5 s, a fifth of
the 1200 an IP may spend) and closes a bar every ``bar_seconds``: open/high/low/close of the mids it saw, bid/ask
and their sizes from the last book. ``volume`` is 0: reading trades costs 20 weight a poll, more than a per-second
feed can afford. A bar with no successful poll repeats the last book, until no book has arrived for ``stall_s``:
then the feed ends with a DataError, which stops the run (cancelling its paper orders) rather than quoting on stale
prices. Bars are yielded as they close, so the paper venue's wall clock waits for each one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from botmm.config import ComponentParams, require
from botmm.errors import DataError
from botmm.model import Candles
from botmm.registry import BuildContext, hookimpl

log = logging.getLogger("botmm.feed.hyperliquid")


@dataclass
class HyperliquidFeedParams(ComponentParams):
    base_url: str = "https://api.hyperliquid.xyz"  # public data: mainnet prices, read only
    coin: Optional[str] = None  # None: the asset's symbol (ETH, ETHUSDT, ETH-PERP all map to ETH)
    bar_seconds: float = 1.0  # seconds per bar built from the polled prices
    poll_s: float = 0.5
    timeout_s: float = 3.0
    stall_s: float = 30.0  # no book for this long ends the feed

    def __post_init__(self) -> None:
        require(self.base_url.startswith(("http://", "https://")), self, "base_url", "must be an http(s) URL")
        require(self.bar_seconds > 0, self, "bar_seconds", "must be > 0")
        require(0 < self.poll_s <= self.bar_seconds, self, "poll_s", "must be > 0 and <= bar_seconds")
        require(self.timeout_s > 0, self, "timeout_s", "must be > 0")
        require(self.stall_s > self.bar_seconds, self, "stall_s", "must be > bar_seconds")


class _Poller(threading.Thread):
    """Polls the book and puts one bar dict per ``bar_seconds`` on ``bars``."""

    def __init__(self, api: Any, coin: str, params: HyperliquidFeedParams):
        super().__init__(name=f"botmm-feed-{coin}", daemon=True)
        self.api, self.coin, self.params = api, coin, params
        self.bars: queue.Queue[dict] = queue.Queue()
        self.stop = threading.Event()
        self._book: Optional[tuple[float, float, float, float]] = None  # bid, ask, bid size, ask size
        self._book_at = 0.0
        self._mids: list[float] = []
        self._failing = False

    def _read(self) -> None:
        try:
            book = self.api.post("/info", {"type": "l2Book", "coin": self.coin})
            bids, asks = book["levels"][0], book["levels"][1]
            top = (float(bids[0]["px"]), float(asks[0]["px"]), float(bids[0]["sz"]), float(asks[0]["sz"]))
        except Exception as exc:  # any failure of one poll: the bar repeats the last book until stall_s
            if not self._failing:
                log.warning("l2Book %s failing (%s); repeating the last book", self.coin,
                            str(exc)[:120] or type(exc).__name__)
            self._failing = True
            return
        if self._failing:
            log.info("l2Book %s answering again", self.coin)
        self._failing = False
        self._book, self._book_at = top, time.monotonic()
        self._mids.append(0.5 * (top[0] + top[1]))

    def run(self) -> None:
        bar_s = self.params.bar_seconds
        start = time.time()
        k = 0
        while not self.stop.is_set():
            bar_end = start + (k + 1) * bar_s
            while not self.stop.is_set() and time.time() < bar_end:
                self._read()
                self.stop.wait(max(0.0, min(self.params.poll_s, bar_end - time.time())))
            if self._book is None or time.monotonic() - self._book_at > self.params.stall_s:
                if time.time() - start > self.params.stall_s:
                    self.bars.put({})  # stalled: the consumer raises
                    return
                k += 1
                continue
            bid, ask, bid_size, ask_size = self._book
            mids = self._mids or [0.5 * (bid + ask)]
            self.bars.put({"ts": int((start + k * bar_s) * 1000), "open": mids[0], "high": max(mids),
                           "low": min(mids), "close": mids[-1], "bid": bid, "ask": ask, "bid_size": bid_size,
                           "ask_size": ask_size})
            self._mids = []
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
        poller = _Poller(api, self._coin(api), p)
        poller.start()
        try:
            while True:
                try:
                    bar = poller.bars.get(timeout=p.stall_s + p.bar_seconds)
                except queue.Empty:
                    bar = {}
                if not bar:
                    raise DataError(f"feed=hyperliquid: no {poller.coin} book from {p.base_url} for {p.stall_s:g}s")
                yield Candles(**{name: np.array([value], dtype=np.int64 if name == "ts" else float)
                                 for name, value in bar.items()}, volume=np.zeros(1),
                              bar_ms=int(p.bar_seconds * 1000))
        finally:
            poller.stop.set()


def make_hyperliquid_feed(params: HyperliquidFeedParams, ctx: BuildContext) -> HyperliquidFeed:
    return HyperliquidFeed(params, ctx.asset.symbol)


@hookimpl
def botmm_register_feeds(register):
    register("hyperliquid", make_hyperliquid_feed, HyperliquidFeedParams)
