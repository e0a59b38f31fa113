"""The order-book replay venue (``exchange=sim fill_model=orderbook``; ``botmm replay`` is its preset).

It replays an L2 event stream (:mod:`botmm.data.l2`) twice over, like hftbacktest: the **exchange book** is built
from the events at ``ts_exchange`` and matches our orders; the **local book** is built from the same events at
``ts_local`` (feed latency) and is what the strategy sees. The clock ticks every ``interval`` from the first event
(t_k = t0 + k * interval, k = 1, 2, ...); before a tick returns, everything with a time <= t_k has happened, and the
run ends at the first tick after which no event is left.

Orders:

* An order or cancel sent at t reaches the exchange at t + entry latency; what the exchange does with it (a fill, a
  post-only rejection) reaches the strategy after the response latency (:mod:`botmm.sim.latency`). So an order
  cannot fill before it arrives, and a cancel cannot undo a fill made before the cancel arrived: that fill still
  reaches the strategy. Acknowledgements and cancel confirmations carry nothing the strategy's view needs (a cancelled
  order leaves it when the cancel is sent), so they are not delivered, though they keep their place in the FIFO
  order of responses.
* Post-only (default): an order that would cross the exchange book on arrival (a bid at or above the best ask) is
  rejected. With ``post_only=false`` it takes liquidity at once as taker: the whole order at the best opposite price
  (``partial_fills=false``), or walking the displayed levels up to its limit with the unfilled rest cancelled
  (``partial_fills=true``; our trades never change the replayed book).
* A resting order joins the back of its level: queue ahead = the exchange book's size there (our own size is never
  added to the book). It fills, always at its own price as maker, when the best opposite price reaches it, when a
  trade prints through its price, or when trades at its price exhaust the queue ahead (by at least half a lot).
  ``partial_fills=true`` fills only what those trades leave after the queue ahead; otherwise the whole order.
* Queue models: ``risk_averse`` - only trades at our price advance us; a level shrinking below our position caps it.
  ``prob`` - a decrease not explained by trades advances us by the share of it estimated to come from ahead of us,
  weight f(back) / (f(back) + f(front)) with f(x) = x**n (``prob_weighting=power``) or log(1 + x)**n (``log``).
* Costs (:mod:`botmm.sim.costs`): ``exchange.maker_fee`` on maker fills, ``exchange.taker_fee`` on taker fills
  (fractions of notional); ``exchange.funding_rate`` on the position the strategy knows of at each funding time,
  marked at the mid.

What the strategy sees: ``poll`` gives the local book (best prices and sizes, ``book_levels`` levels a side as
``Market.book``) and the trades received since the previous tick as open/high/low/close/volume (all equal to the mid,
volume 0, when none). Before the local book has received a snapshot it returns None. ``get_open_orders`` lists
orders sent and not known to be done - acknowledged or still in flight, so a reconcile does not place twice - minus
those with a cancel sent; ``fills_since`` gives fills whose response has reached the strategy, stamped with the
exchange's fill time (ms). Prices live on a grid: the asset's tick when it divides the data's, else the data's.

Data streams through one chunk (a Parquet row group or a synthetic block) at a time; between ticks all events are
processed by one compiled call (:mod:`botmm.sim.replay_kernels`).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from botmm.config import AssetConfig, parse_duration
from botmm.core.inventory import InventoryTracker
from botmm.core.metrics import FillLog
from botmm.data.l2 import L2Events, L2Feed
from botmm.errors import DataError
from botmm.model import Book, Fill, Market, Order, Position, QuoteLevel, Side
from botmm.protocols import SimulatedVenue
from botmm.sim import replay_kernels as kernels
from botmm.sim.costs import Costs, Funding
from botmm.sim.latency import LatencyModel, duration_ns
from botmm.sim.orderbook_fill import OrderBookFillParams

log = logging.getLogger(__name__)
_advance_kernel = kernels.advance_compiled
_tick_price = kernels.tick_price.py_func
_RSP_HEAD, _RSP_READ = kernels.I_RSP_HEAD, kernels.I_RSP_READ
_REQ_HEAD, _REQ_TAIL = kernels.I_REQ_HEAD, kernels.I_REQ_TAIL
_TRADES, _REQ_NEW, _REQ_CANCEL = kernels.I_TRADES, kernels.REQ_NEW, kernels.REQ_CANCEL
_BUY, _SELL = Side.BUY, Side.SELL  # an enum member read through its class costs ~0.2 us on Python 3.11

# the registry boundary: fill_model.queue and fill_model.prob_weighting (names) -> the compiled kernel's codes
QUEUE_CODES = {"risk_averse": kernels.Q_RISK_AVERSE, "prob": kernels.Q_PROB}
WEIGHTING_CODES = {"power": kernels.W_POWER, "log": kernels.W_LOG}


def price_grid(data_tick: float, asset_tick: float) -> float:
    """The book's price step: the asset's tick when it divides the data's (orders on a finer grid than the data
    stay exact), else the data's (orders are then rounded to it, bids down and asks up)."""
    ratio = data_tick / asset_tick
    return asset_tick if ratio >= 1 and abs(ratio - round(ratio)) < 1e-9 * ratio else data_tick


class ReplayVenue(SimulatedVenue):
    """The replay venue; see the module docstring for the semantics."""

    max_batch = 1000

    def __init__(self, feed: L2Feed, fill: OrderBookFillParams, asset: AssetConfig, costs: Costs,
                 interval_ns: int, latency: LatencyModel):
        self.feed, self.fill, self.asset = feed, fill, asset
        self.maker_fee, self.taker_fee = costs.maker_fee, costs.taker_fee
        self.funding = Funding(costs)
        self.interval_ns = interval_ns
        self.latency = latency
        self.grid = price_grid(feed.meta.tick_size, asset.tick_size)
        self.lot = feed.meta.lot_size
        self.levels, self.occupied, self.int_state, self.float_state = kernels.new_state(
            fill.book_ticks, QUEUE_CODES[fill.queue], WEIGHTING_CODES[fill.prob_weighting], fill.prob_n, self.lot,
            fill.partial_fills, fill.post_only, feed.on_bad_data == "error")
        self.top = np.zeros((4, max(1, fill.book_levels)), dtype=np.float64)
        self._levels = self.top.shape[1]
        self._iv = memoryview(self.int_state).cast("B").cast("q")
        self._fv = memoryview(self.float_state).cast("B").cast("d")
        self._tv = memoryview(self.top.reshape(-1)).cast("B").cast("d")
        self.ord_i = np.zeros((16, 4), dtype=np.int64)
        self.ord_f = np.zeros((16, 3), dtype=np.float64)
        self.req_i = np.zeros((64, 5), dtype=np.int64)
        self.req_f = np.zeros(64, dtype=np.float64)
        self.rsp_i = np.zeros((256, 6), dtype=np.int64)
        self.rsp_f = np.zeros(256, dtype=np.float64)
        self.lat = np.vstack([latency.ts, latency.response])
        self._entry_const = int(latency.entry[0]) if len(latency.ts) == 1 else None
        self._data = (np.zeros((4, 0), dtype=np.int64), np.zeros((2, 0), dtype=np.int8), np.zeros(0))
        self._args: tuple = ()
        self._bind()
        self._chunks: Iterator[L2Events] | None = None
        self._more = False
        self._horizon = 0
        self._t0 = 0
        self._ticks = 0
        self._now = 0
        self._now_ms = 0
        self._ended = False
        self._last_req = np.iinfo(np.int64).min
        self._req_views()
        self._oid = 0
        self._open: dict[int, Order] = {}
        self._market: Market | None = None
        self.fills = FillLog()
        self.inventory = InventoryTracker()
        self.rejected = 0
        self.sent = 0

    # -- clock -------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        self._chunks = iter(self.feed.batches())
        self._more = True
        while not self._t0 and self._more:
            self._load()
        self._ended = not self._t0
        log.info("replay: %s, latency %s, interval %g ms, grid %g, lot %g, %s", self.fill.describe(),
                 self.latency.describe(), self.interval_ns / 1e6, self.grid, self.lot, self.feed.meta.symbol)

    def disconnect(self) -> None:
        if self._chunks is not None:
            self._chunks = None
            log.info("replay: %s", ", ".join(f"{key}={value}" for key, value in self.fill_stats().items()))

    def next_tick(self) -> int | None:
        """Advance to the next tick and return it in ms; None once the data is used up."""
        if self._ended:
            return None
        target = self._t0 + ((self._now - self._t0) // self.interval_ns + 1) * self.interval_ns
        self._advance(target)
        if not self._more:
            iv = self._iv
            if iv[kernels.I_EI] >= iv[kernels.I_N] and iv[kernels.I_LI] >= iv[kernels.I_N]:
                self._ended = True
                return None
        self._ticks += 1
        self._now = target
        self._now_ms = target // 1_000_000
        self._snap()
        return self._now_ms

    def poll(self, now_ms: int) -> Market | None:
        """The market view at ``now_ms``: the last tick's, or, for a later time, the view after replaying up to it
        (the next tick then follows on the interval grid after that time)."""
        if now_ms != self._now_ms and now_ms * 1_000_000 > self._now and not self._ended:
            self._now, self._now_ms = now_ms * 1_000_000, now_ms
            self._advance(self._now)
            self._snap()
        return self._market

    def best_prices(self) -> tuple[float, float]:
        """The local book's best bid and ask now (NaN for an empty side), whether or not a tick has been taken."""
        return float(self.top[0, 0]), float(self.top[2, 0])

    @property
    def now_ns(self) -> int:
        """The venue's clock: the last tick, in ns."""
        return self._now

    def _load(self) -> None:
        """Append the feed's next chunk to the working buffer, keeping the rows not yet processed on either side."""
        assert self._chunks is not None
        chunk = next(self._chunks, None)
        if chunk is None:
            self._more = False
            self._horizon = kernels.BIG
            return
        if len(chunk) == 0:
            return
        int_state = self.int_state
        n, ei, li = int(int_state[kernels.I_N]), int(int_state[kernels.I_EI]), int(int_state[kernels.I_LI])
        data_i, data_k, size = self._data
        if n:
            done = np.zeros(n, dtype=bool)
            done[data_i[3, :li]] = True
            keep = np.concatenate([np.flatnonzero(~done[:ei]), np.arange(ei, n)])
            int_state[kernels.I_EI] = int(np.count_nonzero(~done[:ei]))
        else:
            keep = np.zeros(0, dtype=np.int64)
            int_state[kernels.I_EI] = 0
        m, kept = len(keep) + len(chunk), len(keep)
        new_i = np.empty((4, m), dtype=np.int64)
        new_k = np.empty((2, m), dtype=np.int8)
        for row in range(3):
            new_i[row, :kept] = data_i[row, keep]
        new_i[0, kept:] = chunk.ts_exchange
        new_i[1, kept:] = chunk.ts_local
        kernels.to_ticks(chunk.price, self.grid, new_i[2, kept:])
        if not self._t0:
            self._t0 = int(min(chunk.ts_exchange[0], chunk.ts_local.min()))
            self._now, self._now_ms = self._t0, self._t0 // 1_000_000
            self.funding.start(self._now_ms)
            valid = np.flatnonzero(new_i[2] != kernels.BIG)
            if len(valid):
                int_state[kernels.I_BASE] = new_i[2, valid[0]] - self.levels.shape[1] // 2
        new_k[0, :kept], new_k[0, kept:] = data_k[0, keep], chunk.kind
        new_k[1, :kept], new_k[1, kept:] = data_k[1, keep], chunk.side
        new_size = np.empty(m, dtype=np.float64)
        new_size[:kept], new_size[kept:] = size[keep], chunk.size
        new_i[3] = np.argsort(new_i[1], kind="stable")
        self._data = (new_i, new_k, new_size)
        self._bind()
        int_state[kernels.I_N], int_state[kernels.I_LI] = m, 0
        self._horizon = int(chunk.ts_exchange[-1]) - 1

    def _advance(self, target: int) -> None:
        iv = self._iv  # the kernel's integer state, read and written as plain ints
        while True:
            status = _advance_kernel(*self._args, target if target < self._horizon else self._horizon)
            if iv[_RSP_HEAD] != iv[_RSP_READ]:
                self._deliver()
            if status:
                self.resolve(status)
                continue
            if target > self._horizon and self._more:
                self._load()
                continue
            return

    def run_compiled(self, loop: Callable[..., int], *state: np.ndarray) -> None:
        """Run a compiled strategy loop, one that calls :func:`~botmm.sim.replay_kernels.advance` itself, from the
        connected venue to the end of the data: ``loop(*kernel arguments but the limit, supply, *state)`` returns a
        kernel status or a ``LOOP_*`` code, and is called again, resuming from ``state``, after the venue acted on it.
        ``supply`` holds the time up to which data is loaded and whether more is left."""
        supply = np.zeros(2, dtype=np.int64)
        while not self._ended:
            supply[0], supply[1] = self._horizon, self._more
            status = loop(*self._args, supply, *state)
            if status == kernels.LOOP_END:
                self._ended = True
            elif status == kernels.LOOP_LOAD:
                self._load()
            elif status == kernels.LOOP_REQUEST_ROOM:
                self._grow_requests()
            else:
                self.resolve(status)

    def resolve(self, status: int) -> None:
        """Act on a kernel status other than ST_DONE: make room in the response queue or the order table (then call
        the kernel again), or raise the crossed-book error."""
        if status == kernels.ST_RSP_FULL:
            self._compact_responses()
        elif status == kernels.ST_ORD_FULL:
            self._grow_orders()
        else:
            iv = self._iv
            where = "exchange" if iv[kernels.I_ERR_BOOK] == 0 else "local"
            raise DataError(f"{self.feed.meta.symbol}: crossed {where} book at ts={iv[kernels.I_ERR_TS]} ns "
                            f"(on_bad_data=error; on_bad_data=repair deletes the stale side's levels)")

    def _bind(self) -> None:
        """The kernel's arguments, gathered once and again whenever an array is replaced."""
        self._args = (*self._data, self.levels, self.occupied, self.int_state, self.float_state, self.ord_i, self.ord_f, self.req_i,
                      self.req_f, self.rsp_i, self.rsp_f, self.lat, self.top, self.grid)

    def _snap(self) -> None:
        """Build the market view at the current tick and start a new interval for the trade accumulators."""
        iv, fv, tv, n = self._iv, self._fv, self._tv, self._levels
        bid, ask = tv[0], tv[2 * n]
        if not iv[kernels.I_SNAPSHOT] or bid != bid or ask != ask:
            self._market = None
        else:
            if iv[_TRADES]:
                o, h, low, c = fv[kernels.F_OPEN], fv[kernels.F_HIGH], fv[kernels.F_LOW], fv[kernels.F_CLOSE]
                v = fv[kernels.F_VOLUME]
            else:
                o = h = low = c = 0.5 * (bid + ask)
                v = 0.0
            book = None
            if self.fill.book_levels:
                bp, bs, ap, asz = self.top.tolist()
                book = Book([(p, s) for p, s in zip(bp, bs) if s > 0], [(p, s) for p, s in zip(ap, asz) if s > 0])
            self._market = Market(self._now // 1_000_000, bid, ask, o, h, low, c, v, tv[n], tv[3 * n], book)
            if self._market.ts >= self.funding.due_ms:
                self.funding.settle(self._market.ts, self.inventory.position, 0.5 * (bid + ask))
        iv[_TRADES] = 0
        fv[kernels.F_VOLUME] = 0.0

    # -- messages ----------------------------------------------------------------------------------------------
    def _deliver(self) -> None:
        """Apply the responses that reached the strategy (fills, post-only rejections, a taker order's expired
        rest) to its view of orders, fills and position."""
        read, head = self._iv[_RSP_READ], self._iv[_RSP_HEAD]
        flat = self.rsp_i[read:head].ravel().tolist()
        qtys = self.rsp_f[read:head].tolist()
        opened = self._open
        for j in range(head - read):
            _, kind, oid, exch_ts, tick, flags = flat[6 * j:6 * j + 6]
            if kind == kernels.RSP_FILL:
                qty = qtys[j]
                maker = bool(flags & kernels.FLAG_MAKER)
                price = _tick_price(tick, self.grid)
                fee = (self.maker_fee if maker else self.taker_fee) * price * qty
                fill = Fill(exch_ts // 1_000_000, oid, _SELL if flags & kernels.FLAG_SELL else _BUY, price, qty,
                            fee, maker)
                self.fills.append(fill)
                self.inventory.record(fill)
                if flags & kernels.FLAG_DONE:
                    opened.pop(oid, None)
                elif oid in opened:
                    order = opened[oid]
                    order.size = round(order.size - qty, 12)
                    order.filled = round(order.filled + qty, 12)
            else:
                self.rejected += kind == kernels.RSP_REJECT
                opened.pop(oid, None)

    def _arrival(self, now_ms: int) -> int:
        """When a request sent now reaches the exchange: after the entry latency, and never before one sent
        earlier (FIFO)."""
        send = self._now if now_ms == self._now_ms else max(self._now, now_ms * 1_000_000)
        entry = self._entry_const
        arrival = send + (entry if entry is not None else self.latency.entry_at(send))
        if arrival < self._last_req:
            arrival = self._last_req
        self._last_req = arrival
        return arrival

    def _req_views(self) -> None:
        self._req_mv = memoryview(self.req_i.reshape(-1)).cast("B").cast("q")
        self._reqf_mv = memoryview(self.req_f).cast("B").cast("d")

    def _grow_requests(self) -> None:
        """Make room at the request queue's tail: drop the consumed head and double the capacity."""
        iv = self._iv
        head, tail = iv[_REQ_HEAD], iv[_REQ_TAIL]
        self.req_i = np.concatenate([self.req_i[head:tail], np.zeros((len(self.req_f), 5), dtype=np.int64)])
        self.req_f = np.concatenate([self.req_f[head:tail], np.zeros(len(self.req_f))])
        iv[_REQ_HEAD], iv[_REQ_TAIL] = 0, tail - head
        self._req_views()
        self._bind()

    def _grow_orders(self) -> None:
        self.ord_i = np.concatenate([self.ord_i, np.zeros_like(self.ord_i)])
        self.ord_f = np.concatenate([self.ord_f, np.zeros_like(self.ord_f)])
        self._bind()

    def _compact_responses(self) -> None:
        """Move the responses still in flight to the front of their queue, doubling it when it stays too full."""
        head, tail = int(self.int_state[kernels.I_RSP_HEAD]), int(self.int_state[kernels.I_RSP_TAIL])
        self.rsp_i[:tail - head] = self.rsp_i[head:tail]
        self.rsp_f[:tail - head] = self.rsp_f[head:tail]
        self.int_state[kernels.I_RSP_HEAD], self.int_state[kernels.I_RSP_TAIL] = 0, tail - head
        if len(self.rsp_i) - (tail - head) < 2 * (int(self.int_state[kernels.I_ORD_ACTIVE]) + kernels.MAX_WALK + 2):
            self.rsp_i = np.concatenate([self.rsp_i, np.zeros_like(self.rsp_i)])
            self.rsp_f = np.concatenate([self.rsp_f, np.zeros_like(self.rsp_f)])
            self._bind()

    # -- orders ------------------------------------------------------------------------------------------------
    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        """Send orders; they reach the exchange after the entry latency. Returns every order sent: a post-only
        rejection is only known when its response arrives (it then leaves the open orders and counts in
        ``rejected``). Prices off the book's grid are rounded away from the other side (bids down, asks up)."""
        if not levels:
            return []
        arrival = self._arrival(now_ms)
        grid, opened, iv = self.grid, self._open, self._iv
        placed = []
        oid = self._oid
        for side, price, size, _ in levels:
            units = price / grid
            tick = round(units)
            if abs(units - tick) > 1e-6:
                tick = math.floor(units) if side > 0 else math.ceil(units)
                price = _tick_price(tick, grid)
            oid += 1
            order = Order(oid, side, price, size, now_ms)
            tail = iv[_REQ_TAIL]
            if tail == len(self.req_f):
                self._grow_requests()
                tail = iv[_REQ_TAIL]
            mv, at = self._req_mv, 5 * tail
            mv[at], mv[at + 1], mv[at + 2], mv[at + 3], mv[at + 4] = (
                arrival, _REQ_NEW, oid, 1 if side > 0 else -1, tick)
            self._reqf_mv[tail] = size
            iv[_REQ_TAIL] = tail + 1
            opened[oid] = order
            placed.append(order)
        self.sent += oid - self._oid
        self._oid = oid
        return placed

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        """Cancel-and-replace, as on Hyperliquid: the new order gets a new id and a new place in the queue."""
        self._cancel([oid for oid, _ in changes], now_ms)
        return self.place_orders([level for _, level in changes], now_ms)

    def cancel_orders(self, oids: Sequence[int]) -> None:
        self._cancel(oids, self._now_ms)

    def _cancel(self, oids: Sequence[int], now_ms: int) -> None:
        """Cancels leave the strategy's view at once; at the exchange the order lives until the cancel arrives."""
        arrival = self._arrival(now_ms)
        opened, iv = self._open, self._iv
        for oid in oids:
            if opened.pop(oid, None) is not None:
                tail = iv[_REQ_TAIL]
                if tail == len(self.req_f):
                    self._grow_requests()
                    tail = iv[_REQ_TAIL]
                mv, at = self._req_mv, 5 * tail
                mv[at], mv[at + 1], mv[at + 2] = arrival, _REQ_CANCEL, oid
                self._reqf_mv[tail] = 0.0
                iv[_REQ_TAIL] = tail + 1
                self.sent += 1

    def cancel_all_orders(self) -> int:
        count = len(self._open)
        if count:
            self._cancel(list(self._open), self._now_ms)
        return count

    def get_open_orders(self) -> list[Order]:
        return list(self._open.values())

    def queue_ahead(self, oid: int) -> float | None:
        """The exchange's estimate of the size ahead of order ``oid`` in its level's queue (negative once trades
        have passed it), or None when the order is not resting at the exchange."""
        ord_i, used = self.ord_i, self._iv[kernels.I_ORD_USED]
        for o in range(used):
            if ord_i[o, kernels.O_ACTIVE] and ord_i[o, kernels.O_OID] == oid:
                return float(self.ord_f[o, kernels.OF_FRONT])
        return None

    def get_position(self) -> Position:
        return Position(self.inventory.position, self.inventory.avg_entry)

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        return self.fills.since(cursor)

    # -- reporting ---------------------------------------------------------------------------------------------
    def fill_stats(self) -> dict[str, Any]:
        """Settings and counters of the replay: queue and latency model, events, orders, rejections, repairs."""
        int_state, report = self.int_state, self.feed.report
        report.crossed_exchange, report.crossed_local = int(int_state[kernels.I_CROSSED]), int(int_state[kernels.I_CROSSED + 1])
        return {
            "queue": self.fill.queue if self.fill.queue == "risk_averse"
            else f"prob_{self.fill.prob_weighting}{self.fill.prob_n:g}",
            "latency": self.latency.describe(),
            "partial_fills": self.fill.partial_fills,
            "interval_ms": self.interval_ns / 1e6,
            "ticks": self._ticks,
            "events_exchange": int(int_state[kernels.I_EVENTS]),
            "events_local": int(int_state[kernels.I_EVENTS + 1]),
            "messages_sent": self.sent,
            "fills": len(self.fills),
            "post_only_rejected": self.rejected,
            "levels_dropped": int(int_state[kernels.I_DROPPED]),
            "window_moves": int(int_state[kernels.I_RECENTERS]),
            **{f"data_{key}": value for key, value in report.counts().items() if value},
        }


def replay_venue(fill: OrderBookFillParams, ctx: Any, exchange: Any) -> ReplayVenue:
    """``fill_model=orderbook``'s factory: a :class:`ReplayVenue` over the job's L2 feed (checked to be one by the
    plugin before it imports this module), charging ``exchange``'s costs (``exchange=sim``)."""
    if fill.latency_table:
        latency = LatencyModel.from_table(fill.latency_table)
    else:
        latency = LatencyModel.constant(duration_ns(fill.entry_latency, "fill_model.entry_latency"),
                                        duration_ns(fill.response_latency, "fill_model.response_latency"))
    interval_ns = round(parse_duration(ctx.cfg.interval, "interval") * 1e9)
    return ReplayVenue(ctx.feed, fill, ctx.asset, exchange.costs(), interval_ns, latency)
