"""The candle venue: simulated fills against bars, for backtests (``exchange=sim``) and paper runs
(``exchange=paper``).

Fill model ``candle`` (``fill_model=candle``):

* an order placed at time t can fill only in bars that end after t, so a quote made after seeing bar t (at its
  close) can fill in bar t+1 at the earliest, never in the bar it was computed from. In paper runs ticks and bars
  are not aligned, and an order placed inside a bar's span takes part in that bar;
* ``rule=through``: a resting bid fills when a later bar's low trades at least one tick below its price (an ask:
  the high at least one tick above); ``rule=touch``: reaching the price is enough;
* resting orders fill at their own price, as maker, paying ``exchange.maker_fee`` (a fraction of notional;
  negative = rebate);
* ``path``: the order in which a bar visits its prices, ``open-high-low-close``, ``open-low-high-close`` or
  ``adverse``. Orders fill in the order the path reaches them (a gap at the open fills first), which decides which
  side fills first when a bar reaches both. ``adverse`` takes, bar by bar, the path that fills first the side that
  is worth less at the bar's close: the bids when the close is below the middle of the first bid and ask reached,
  else the asks;
* ``volume_cap``: when set, all our fills in one bar together are at most that fraction of the bar's volume, handed
  out in path order, so a bar reaching both sides may fill only the first; what is not filled keeps resting.
  Without a cap every order a bar reaches fills in full, and the path only sets the order of the fills;
* ``post_only=true``: an order that would cross the book when placed (a bid at or above the ask) is rejected; with
  ``post_only=false`` it takes liquidity at once, all of it at the best opposite price (no volume cap), paying
  ``exchange.taker_fee``. Bars without a book (bid = ask = close: candle files have none) are given one a tick wide,
  half a tick either side of the close, so that the strategy's mid stays the close and a quote at the close rests
  (a zero-width book would reject it as crossing, and a bot skewed by inventory to its mid could never unwind);
* funding (``exchange.funding_rate``, :mod:`botmm.sim.costs`) is charged on the position held at each funding time,
  marked at the close of the bar that reaches it.

In backtests the clock is the data: ``next_tick()`` gives the close of the next bar. In paper runs bars are released
at wall-clock pace (``speed`` bars' worth of time per second of wall time), stamped with wall-clock times.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from mypy_extensions import mypyc_attr

from botmm.config import AssetConfig
from botmm.core.inventory import InventoryTracker
from botmm.core.metrics import FillLog
from botmm.model import CANDLE_ARRAYS, Candles, Fill, Market, Order, Position, QuoteLevel, Side, make_fill
from botmm.protocols import Feed, SimulatedVenue
from botmm.rounding import round12
from botmm.sim.candle_params import CandleFillParams
from botmm.sim.costs import Costs, Funding


_BUY, _SELL = Side.BUY, Side.SELL  # enum members are slow class attributes on 3.11: looked up once
@mypyc_attr(allow_interpreted_subclasses=True)  # the paper venue and plugins' venues build on it
class CandleVenue(SimulatedVenue):
    """A simulated exchange over a feed of bars; see the module docstring for the fill rules."""

    max_batch = 1000

    def __init__(
        self, feed: Feed, fill: CandleFillParams, asset: AssetConfig, costs: Costs,
        wall_clock: bool = False, speed: float = 1.0,
    ):
        self.feed, self.fill, self.asset, self.costs = feed, fill, asset, costs
        self._fee_rates = (costs.taker_fee, costs.maker_fee)  # indexed by ``maker``
        tick = asset.tick_size  # how far beyond the price a bar must trade, less float noise
        self.margin = (tick if fill.rule == "through" else 0.0) - tick * 1e-6
        self.wall_clock, self.speed = wall_clock, speed
        self.funding = Funding(costs)
        self.orders: dict[int, Order] = {}
        self.fills = FillLog()
        self.rejected = self.taker_fills = 0
        self._inventory = InventoryTracker()  # the venue's own record of the account's position (see ``inventory``)
        self._booked = 0  # fills booked into it so far
        self._oid = 0
        self._batches: Iterator[Candles] | None = None
        self._bar: list[tuple] = []  # the current batch's bars, each a tuple of the CANDLE_ARRAYS values
        self._i = self._n = 0  # the next bar and the length of the current batch
        self._bar_ms = 0
        self._t0 = 0  # wall-clock ms of the first bar's open (paper)
        self._k = 0  # bars released so far
        self._market: Market | None = None

    # -- clock -------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        self._batches = iter(self.feed.batches())
        self._t0 = int(time.time() * 1000)
        if self._load():
            self.funding.start(self._t0 if self.wall_clock else self._bar[0][0])

    def disconnect(self) -> None:
        self._batches = None

    def _load(self) -> bool:
        """Move to the next non-empty batch of the feed; False when the feed is exhausted."""
        while self._i >= self._n:
            batch = next(self._batches, None) if self._batches else None
            if batch is None:
                return False
            self._bar_ms = batch.bar_ms
            columns = {name: getattr(batch, name) for name in CANDLE_ARRAYS}
            no_book = columns["bid"] >= columns["ask"]
            if no_book.any():
                half = 0.5 * self.asset.tick_size
                columns["bid"] = np.where(no_book, columns["close"] - half, columns["bid"])
                columns["ask"] = np.where(no_book, columns["close"] + half, columns["ask"])
            self._bar = list(zip(*(columns[name].tolist() for name in CANDLE_ARRAYS)))
            self._i, self._n = 0, len(batch)
        return True

    def next_tick(self) -> int | None:
        """The close of the next bar, or None at the end of the data (backtests tick once per bar)."""
        if self._i >= self._n and not self._load():
            return None
        if self.wall_clock:
            return self._t0 + int((self._k + 1) * self._bar_ms / self.speed)
        return self._bar[self._i][0] + self._bar_ms

    def poll(self, now_ms: int) -> Market | None:
        if self.wall_clock:
            end = self.next_tick()
            while end is not None and end <= now_ms:
                self._release(end)
                end = self.next_tick()
        else:  # a backtest: the bars' own clock, read here without a call per bar
            while self._i < self._n or self._load():
                end = self._bar[self._i][0] + self._bar_ms
                if end > now_ms:
                    break
                self._release(end)
        return self._market

    def _release(self, end_ms: int) -> None:
        i = self._i
        _, o, h, low, c, v, bid, ask, bid_size, ask_size = self._bar[i]
        self._i = i + 1
        self._k += 1
        if self.orders:
            self._match(end_ms, o, h, low, c, v)
        self._market = Market(end_ms, bid, ask, o, h, low, c, v, bid_size, ask_size)
        if end_ms >= self.funding.due_ms:
            self.funding.settle(end_ms, self.inventory.position, c)

    def _match(self, end_ms: int, open_: float, high: float, low: float, close: float, volume: float) -> None:
        margin = self.margin
        hits = [order for order in self.orders.values() if order.ts < end_ms and (
            low <= order.price - margin if order.side is _BUY else high >= order.price + margin)]
        if not hits:
            return
        if len(hits) > 1:
            hits.sort(key=self._path_order(hits, open_, high, low, close))
        cap = self.fill.volume_cap
        budget = math.inf if cap is None else cap * volume
        for order in hits:
            size = order.size
            if budget < size:  # min(size, budget)
                size = budget
            if size <= 0:
                return
            budget -= size
            self._fill(order, size, end_ms, order.price, True)

    def _path_order(self, hits: list[Order], open_: float, high: float, low: float, close: float):
        """A sort key: how far the bar's price has walked along its path (open, first extreme, second extreme) when
        it trades through an order."""
        path = self.fill.path
        if path == "adverse":
            bids = [o.price for o in hits if o.side is _BUY]
            asks = [o.price for o in hits if o.side is _SELL]
            bids_first = bool(bids and asks) and close < 0.5 * (max(bids) + min(asks))
            path = "open-low-high-close" if bids_first else "open-high-low-close"
        first, second = (low, high) if path == "open-low-high-close" else (high, low)
        margin = self.margin

        def walked(order: Order) -> float:
            # the distance from each point of the path to the level the price must trade at (<= 0: through it)
            if order.side is _BUY:
                level = order.price - margin
                to_open, to_first, to_second = open_ - level, first - level, second - level
            else:
                level = order.price + margin
                to_open, to_first, to_second = level - open_, level - first, level - second
            if to_open <= 0:
                return 0.0  # the bar opened through it
            if to_first <= 0:
                return to_open
            if to_second <= 0:
                return abs(first - open_) + to_first
            return math.inf

        return walked

    def _fill(self, order: Order, size: float, ts: int, price: float, maker: bool) -> None:
        side = order.side
        fee = self._fee_rates[maker] * price * size
        self.fills.append(make_fill((ts, order.oid, side, price, size, fee, maker, 0)))
        if not maker:
            self.taker_fills += 1
        remaining = order.size - size
        order.size = round12(remaining) if remaining else 0.0
        filled = order.filled + size
        order.filled = round12(filled) if filled else filled
        if order.size <= 0:
            self.orders.pop(order.oid, None)

    @property
    def inventory(self) -> InventoryTracker:
        """The venue's own record of the account's position, brought up to date with its fills when read: most
        backtests never read it (no funding), so each fill is booked once, by the job, rather than twice."""
        fills, self._booked = self.fills.since(self._booked)
        record = self._inventory.record_fill
        for fill in fills:
            record(fill.side, fill.price, fill.size, fill.fee)
        return self._inventory

    # -- orders ------------------------------------------------------------------------------------------------
    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        placed = []
        market, orders, post_only = self._market, self.orders, self.fill.post_only
        for side, price, size, _ in levels:
            crossing = market is not None and (price >= market.ask if side is _BUY else price <= market.bid)
            if crossing and post_only:
                self.rejected += 1  # post-only: would cross on arrival
                continue
            self._oid = oid = self._oid + 1
            order = Order(oid, side, price, size, now_ms)
            placed.append(order)
            if crossing:  # takes liquidity: all of it at the best opposite price
                assert market is not None  # crossing is False without a market
                self._fill(order, size, now_ms, market.ask if side is _BUY else market.bid, False)
            else:
                orders[oid] = order
        return placed

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        """Cancel-and-replace, as on Hyperliquid: the new order gets a new id and a new place in the queue."""
        pop = self.orders.pop
        for oid, _ in changes:
            pop(oid, None)
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
        fill = self.fill
        return {"fill_model": "candle", "rule": fill.rule, "path": fill.path, "volume_cap": fill.volume_cap,
                "post_only": fill.post_only, "post_only_rejected": self.rejected,
                "taker_fills": self.taker_fills}

    def get_position(self) -> Position:
        inventory = self.inventory
        return Position(inventory.position, inventory.avg_entry)

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        return self.fills.since(cursor)
