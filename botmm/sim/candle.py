"""The candle venue: simulated fills against bars, for backtests (``exchange=sim``) and paper runs
(``exchange=paper``).

Fill model ``candle`` (``fill_model=candle``):

* an order placed at time t can fill only in bars that end after t, so a quote made after seeing bar t (at its
  close) can fill in bar t+1 at the earliest, never in the bar it was computed from. In paper runs ticks and bars
  are not aligned, and an order placed inside a bar's span takes part in that bar;
* ``rule=through``: a resting bid fills when a later bar's low trades at least one tick below its price (an ask:
  the high at least one tick above); ``rule=touch``: reaching the price is enough;
* fills are at the order's own price, as maker, paying ``maker_fee`` (a fraction of notional; negative = rebate);
* ``volume_cap``: when set, the size filled in one bar is at most that fraction of the bar's volume (the rest of the
  order keeps resting);
* post-only: an order that would cross the book when placed (a bid at or above the ask) is rejected.

In backtests the clock is the data: ``next_tick()`` gives the close of the next bar. In paper runs bars are released
at wall-clock pace (``speed`` bars' worth of time per second of wall time), stamped with wall-clock times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

from botmm.config import AssetConfig, require
from botmm.core.inventory import InventoryTracker
from botmm.model import CANDLE_ARRAYS, Candles, Fill, Market, Order, Position, QuoteLevel, Side
from botmm.protocols import Feed


@dataclass
class CandleFillParams:
    name: str = "candle"
    rule: str = "through"  # through | touch
    volume_cap: Optional[float] = None  # max fraction of a bar's volume one order may fill

    def __post_init__(self) -> None:
        require(self.rule in ("through", "touch"), self, "rule", "must be through or touch")
        require(self.volume_cap is None or 0 < self.volume_cap <= 1, self, "volume_cap", "must be in (0, 1]")


class CandleVenue:
    """A simulated exchange over a feed of bars; see the module docstring for the fill rules."""

    max_batch = 1000

    def __init__(
        self, feed: Feed, fill: CandleFillParams, asset: AssetConfig, maker_fee: float,
        wall_clock: bool = False, speed: float = 1.0,
    ):
        self.feed, self.asset, self.maker_fee = feed, asset, maker_fee
        tick = asset.tick_size  # how far beyond the price a bar must trade, less float noise
        self.margin = (tick if fill.rule == "through" else 0.0) - tick * 1e-6
        self.volume_cap = fill.volume_cap
        self.wall_clock, self.speed = wall_clock, speed
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.rejected = 0
        self.book = InventoryTracker()  # the venue's own record of the account's position
        self._oid = 0
        self._batches: Iterator[Candles] | None = None
        self._bar: list[list] = []  # columns of the current batch as Python lists
        self._i = self._n = 0  # the next bar and the length of the current batch
        self._bar_ms = 0
        self._t0 = 0  # wall-clock ms of the first bar's open (paper)
        self._k = 0  # bars released so far
        self._market: Market | None = None

    # -- clock -------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        self._batches = iter(self.feed.batches())
        self._t0 = int(time.time() * 1000)
        self._load()

    def disconnect(self) -> None:
        self._batches = None

    def _load(self) -> bool:
        """Move to the next non-empty batch of the feed; False when the feed is exhausted."""
        while self._i >= self._n:
            batch = next(self._batches, None) if self._batches else None
            if batch is None:
                return False
            self._bar_ms = batch.bar_ms
            self._bar = [getattr(batch, name).tolist() for name in CANDLE_ARRAYS]
            self._i, self._n = 0, len(batch)
        return True

    def next_tick(self) -> int | None:
        """The close of the next bar, or None at the end of the data (backtests tick once per bar)."""
        if self._i >= self._n and not self._load():
            return None
        if self.wall_clock:
            return self._t0 + int((self._k + 1) * self._bar_ms / self.speed)
        return self._bar[0][self._i] + self._bar_ms

    def poll(self, now_ms: int) -> Market | None:
        end = self.next_tick()
        while end is not None and end <= now_ms:
            self._release(end)
            end = self.next_tick()
        return self._market

    def _release(self, end_ms: int) -> None:
        i = self._i
        _, o, h, low, c, v, bid, ask, bid_size, ask_size = self._bar
        self._i = i + 1
        self._k += 1
        if self.orders:
            self._match(end_ms, h[i], low[i], v[i])
        self._market = Market(end_ms, bid[i], ask[i], o[i], h[i], low[i], c[i], v[i], bid_size[i], ask_size[i])

    def _match(self, end_ms: int, high: float, low: float, volume: float) -> None:
        cap = None if self.volume_cap is None else self.volume_cap * volume
        for order in list(self.orders.values()):
            if order.ts >= end_ms:
                continue
            if order.side is Side.BUY:
                hit = low <= order.price - self.margin
            else:
                hit = high >= order.price + self.margin
            if not hit:
                continue
            size = order.size if cap is None else min(order.size, cap)
            if size <= 0:
                continue
            self._fill(order, size, end_ms)

    def _fill(self, order: Order, size: float, ts: int) -> None:
        fee = self.maker_fee * order.price * size
        self.fills.append(Fill(ts, order.oid, order.side, order.price, size, fee, True))
        order.size = round(order.size - size, 12)
        order.filled = round(order.filled + size, 12)
        if order.size <= 0:
            del self.orders[order.oid]
        self.book.record(self.fills[-1])

    # -- orders ------------------------------------------------------------------------------------------------
    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        placed = []
        market = self._market
        for level in levels:
            if market is not None and (
                (level.side is Side.BUY and level.price >= market.ask)
                or (level.side is Side.SELL and level.price <= market.bid)
            ):
                self.rejected += 1  # post-only: would cross on arrival
                continue
            self._oid += 1
            order = Order(self._oid, level.side, level.price, level.size, now_ms)
            self.orders[order.oid] = order
            placed.append(order)
        return placed

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        """Cancel-and-replace, as on Hyperliquid: the new order gets a new id and a new place in the queue."""
        self.cancel_orders([oid for oid, _ in changes])
        return self.place_orders([level for _, level in changes], now_ms)

    def cancel_orders(self, oids: Sequence[int]) -> None:
        for oid in oids:
            self.orders.pop(oid, None)

    def cancel_all_orders(self) -> int:
        count = len(self.orders)
        self.orders.clear()
        return count

    def get_open_orders(self) -> list[Order]:
        return list(self.orders.values())

    def fill_stats(self) -> dict[str, Any]:
        """The fill model's settings and the venue's counters, for ``result.json``."""
        rule = "through" if self.margin > 0 else "touch"
        return {"fill_model": "candle", "rule": rule, "volume_cap": self.volume_cap,
                "post_only_rejected": self.rejected}

    def get_position(self) -> Position:
        return Position(self.book.position, self.book.avg_entry)

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        count = len(self.fills)
        return (self.fills[cursor:] if cursor < count else []), count
