"""Differential validation of the replay venue against hftbacktest 2.4.4: the same touch quoter, the same data.

The **touch quoter** (REPLAY_REFERENCE semantics): every ``interval``, (1) count the orders that came back filled
or rejected, (2) cancel every open order, (3) unless the local book has not yet received its snapshot, post one
post-only bid of ``qty`` at the local best bid while ``round(position / lot) < max_lots`` and one post-only ask at the
local best ask while ``> -max_lots``. Constant entry and response latency, no partial fills, zero fees. With a
round trip shorter than the interval every open order is acknowledged by the next step, so cancelling every open
order equals hftbacktest's "cancel every cancellable order".

:func:`run_botmm` drives :class:`~botmm.sim.replay.ReplayVenue` through the same methods ``Pipeline.step`` uses;
:func:`run_hftbacktest` runs the same loop compiled against hftbacktest's ``HashMapMarketDepthBacktest``
(``pip install botmm[validate]``). Both time only the strategy loop, after loading the data and compiling.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from botmm.config import AssetConfig
from botmm.data.l2 import L2Events, L2Meta, MemoryL2Feed
from botmm.model import QuoteLevel, Side
from botmm.sim import replay_kernels as kernels
from botmm.sim.costs import Costs
from botmm.sim.latency import LatencyModel
from botmm.sim.replay import L2Feed, OrderBookFillParams, ReplayVenue

QUEUES = {"risk_averse": ("risk_averse", "power"), "power2": ("prob", "power")}

# hftbacktest constants (hftbacktest.order / hftbacktest.types), so that this module imports without hftbacktest
_HBT_BUY, _HBT_GTX, _HBT_LIMIT, _HBT_EXPIRED, _HBT_FILLED = 1, 1, 0, 2, 3
_HBT_SNAPSHOT, _HBT_EXCH = 4, 1 << 31


@dataclass(frozen=True)
class TouchParams:
    """The touch quoter's settings (REPLAY_REFERENCE defaults)."""

    queue: str = "risk_averse"  # risk_averse | power2
    interval_ns: int = 100_000_000
    entry_ns: int = 10_000_000
    response_ns: int = 10_000_000
    qty_lots: int = 1
    max_lots: int = 10


@dataclass
class TouchResult:
    """What one engine produced; ``seconds`` is the timed strategy loop, ``events`` the dataset rows it replayed."""

    engine: str
    queue: str
    filled_buy: int
    filled_sell: int
    traded_qty: float
    final_position: float
    final_mid: float
    cash: float
    equity_pnl: float
    bids_posted: int
    asks_posted: int
    rejected: int
    steps: int
    events: int
    seconds: float


def touch_venue(feed: L2Feed, p: TouchParams) -> ReplayVenue:
    """The replay venue the touch quoter runs on: ``p``'s queue model and latencies, post-only, no partial fills,
    no fees, no book levels."""
    meta = feed.meta
    queue, weighting = QUEUES[p.queue]
    fill = OrderBookFillParams(queue=queue, prob_weighting=weighting, prob_n=2.0, partial_fills=False,
                               post_only=True, book_levels=0)
    asset = AssetConfig(symbol=meta.symbol, tick_size=meta.tick_size, lot_size=meta.lot_size, min_notional=0.0)
    return ReplayVenue(feed, fill, asset, Costs(), p.interval_ns, LatencyModel.constant(p.entry_ns, p.response_ns))


def run_botmm(feed: L2Feed, p: TouchParams) -> TouchResult:
    """The touch quoter on the replay venue over ``feed`` (a dataset, or events in memory), through the venue's
    Python methods, the ones ``Pipeline.step`` uses."""
    meta = feed.meta
    venue = touch_venue(feed, p)
    lot = meta.lot_size
    qty = p.qty_lots * lot
    buy, sell = Side.BUY, Side.SELL  # read once: an enum member read through its class costs ~0.2 us
    counts = {buy: 0, sell: 0}
    steps = bids = asks = 0
    traded = cash = 0.0
    cursor = 0
    start = time.thread_time()
    venue.connect()
    next_tick, poll, fills_since, cancel_all = venue.next_tick, venue.poll, venue.fills_since, venue.cancel_all_orders
    while True:
        now = next_tick()
        fills, cursor = fills_since(cursor)  # the tally: fills whose response has arrived (after the last step too)
        for f in fills:
            counts[f.side] += 1
            cash -= f.side * f.size * f.price
            traded += f.size
        if now is None:
            break
        steps += 1
        cancel_all()
        market = poll(now)
        if market is None:
            continue
        pos = round(venue.inventory.position / lot)
        levels = []
        if pos < p.max_lots:
            levels.append(QuoteLevel(buy, market.bid, qty))
            bids += 1
        if pos > -p.max_lots:
            levels.append(QuoteLevel(sell, market.ask, qty))
            asks += 1
        venue.place_orders(levels, now)
    seconds = time.thread_time() - start
    return _venue_result("botmm", venue, p, (counts[buy], counts[sell], traded, venue.inventory.position,
                                             cash, bids, asks, venue.rejected, steps), seconds)


def _venue_result(engine: str, venue: ReplayVenue, p: TouchParams, tally: tuple, seconds: float) -> TouchResult:
    """The result of a touch run on ``venue``; ``tally`` is buy and sell fills, traded quantity, position, cash,
    bids and asks posted, rejections and steps."""
    buy, sell, traded, position, cash, bids, asks, rejected, steps = tally
    bid, ask = venue.best_prices()
    mid = 0.5 * (bid + ask)
    events = int(venue.fill_stats()["events_exchange"])
    return TouchResult(engine, p.queue, int(buy), int(sell), round(traded, 9), round(position, 9), mid, cash,
                       cash + position * mid, int(bids), int(asks), int(rejected), int(steps), events, seconds)


# the compiled touch loop's state, kept between its calls (it returns to Python to load the next chunk of data or to
# make room in a queue, then resumes where it stopped): integers, then floats
(D_PHASE, D_TARGET, D_NOW, D_T0, D_INTERVAL, D_ENTRY, D_LAST_REQUEST, D_OID, D_MAX_LOTS, D_OPEN, D_STEPS, D_BIDS,
 D_ASKS, D_BUY, D_SELL, D_REJECTED) = range(16)
A_QTY, A_CASH, A_TRADED, A_POSITION = range(4)
PHASE_ADVANCE, PHASE_QUOTE = 0, 1


@njit(cache=True, error_model="numpy")
def _tally_responses(rsp_i, rsp_f, int_state, grid, loop, amounts, open_oids):
    """What ``run_botmm`` tallies from ``fills_since`` and the venue from its responses, for the rows the last kernel
    call delivered: fills (counts, cash, traded quantity, position as ``InventoryTracker`` keeps it) and rejections,
    and the orders they close leave the open list."""
    for row in range(int_state[kernels.I_RSP_READ], int_state[kernels.I_RSP_HEAD]):
        kind, oid, flags = rsp_i[row, kernels.S_KIND], rsp_i[row, kernels.S_OID], rsp_i[row, kernels.S_FLAGS]
        if kind == kernels.RSP_FILL:
            qty = rsp_f[row]
            side = -1.0 if flags & kernels.FLAG_SELL else 1.0
            price = kernels.tick_price(rsp_i[row, kernels.S_TICK], grid)
            loop[D_SELL if side < 0 else D_BUY] += 1
            amounts[A_CASH] -= side * qty * price
            amounts[A_TRADED] += qty
            position = amounts[A_POSITION]
            new = position + side * qty
            if position != 0.0 and (position > 0) != (side > 0) and abs(new) < 1e-12:
                new = 0.0
            amounts[A_POSITION] = new
            if not flags & kernels.FLAG_DONE:
                continue
        elif kind == kernels.RSP_REJECT:
            loop[D_REJECTED] += 1
        n_open = loop[D_OPEN]
        for i in range(n_open):
            if open_oids[i] == oid:
                open_oids[i:n_open - 1] = open_oids[i + 1:n_open]
                loop[D_OPEN] = n_open - 1
                break


@njit(cache=True, error_model="numpy")
def _request(req_i, req_f, int_state, arrival, kind, oid, side, tick, qty):
    """Append a request to the kernel's queue, as ``ReplayVenue.place_orders`` and ``cancel_orders`` do."""
    tail = int_state[kernels.I_REQ_TAIL]
    req_i[tail, kernels.R_TS], req_i[tail, kernels.R_KIND], req_i[tail, kernels.R_OID] = arrival, kind, oid
    req_i[tail, kernels.R_SIDE], req_i[tail, kernels.R_TICK] = side, tick
    req_f[tail] = qty
    int_state[kernels.I_REQ_TAIL] = tail + 1


@njit(cache=True, error_model="numpy")
def _quote_tick(price, grid, side):
    """``ReplayVenue.place_orders``' rounding of a price to the grid: nearest, or away from the other side when off
    the grid."""
    units = price / grid
    tick = np.rint(units)
    if abs(units - tick) > 1e-6:
        tick = math.floor(units) if side > 0 else math.ceil(units)
    return np.int64(tick)


@njit(cache=True, error_model="numpy")
def _touch_loop(data_i, data_k, size, book, occupied, int_state, float_state, ord_i, ord_f, req_i, req_f, rsp_i,
                rsp_f, lat, top, grid, supply, loop, amounts, open_oids):
    """``run_botmm``'s loop compiled against the replay kernel, as ``_hbt_touch`` is against hftbacktest: the same
    ticks, requests (with the venue's FIFO entry latency), tally and quotes, without a Python call per tick. Run by
    ``ReplayVenue.run_compiled`` (``supply``: the data loaded, and whether more is left)."""
    horizon, more = supply[0], supply[1]
    while True:
        if loop[D_PHASE] == PHASE_ADVANCE:  # next_tick
            target = loop[D_TARGET]
            status = kernels.advance(data_i, data_k, size, book, occupied, int_state, float_state, ord_i, ord_f, req_i,
                                     req_f, rsp_i, rsp_f, lat, top, grid, min(target, horizon))
            _tally_responses(rsp_i, rsp_f, int_state, grid, loop, amounts, open_oids)
            if status != kernels.ST_DONE:
                return status
            if target > horizon and more:
                return kernels.LOOP_LOAD
            rows = int_state[kernels.I_N]
            if not more and int_state[kernels.I_EI] >= rows and int_state[kernels.I_LI] >= rows:
                return kernels.LOOP_END
            loop[D_NOW] = target
            loop[D_STEPS] += 1
            int_state[kernels.I_TRADES] = 0
            float_state[kernels.F_VOLUME] = 0.0
            loop[D_PHASE] = PHASE_QUOTE
        if req_i.shape[0] - int_state[kernels.I_REQ_TAIL] < loop[D_OPEN] + 2:
            return kernels.LOOP_REQUEST_ROOM
        now = loop[D_NOW]
        arrival = max(now + loop[D_ENTRY], loop[D_LAST_REQUEST])
        if loop[D_OPEN]:  # cancel every open order
            loop[D_LAST_REQUEST] = arrival
            for i in range(loop[D_OPEN]):
                _request(req_i, req_f, int_state, arrival, kernels.REQ_CANCEL, open_oids[i], 0, 0, 0.0)
            loop[D_OPEN] = 0
        bid, ask = top[0, 0], top[2, 0]
        if int_state[kernels.I_SNAPSHOT] and bid == bid and ask == ask:
            position = np.rint(amounts[A_POSITION] / float_state[kernels.F_LOT])
            quote_bid, quote_ask = position < loop[D_MAX_LOTS], position > -loop[D_MAX_LOTS]
            if quote_bid or quote_ask:
                loop[D_LAST_REQUEST] = arrival
            for side, price, quoted, posted in ((1, bid, quote_bid, D_BIDS), (-1, ask, quote_ask, D_ASKS)):
                if quoted:
                    loop[D_OID] += 1
                    _request(req_i, req_f, int_state, arrival, kernels.REQ_NEW, loop[D_OID], side,
                             _quote_tick(price, grid, side), amounts[A_QTY])
                    open_oids[loop[D_OPEN]] = loop[D_OID]
                    loop[D_OPEN] += 1
                    loop[posted] += 1
        t0, interval = loop[D_T0], loop[D_INTERVAL]
        loop[D_TARGET] = t0 + ((now - t0) // interval + 1) * interval
        loop[D_PHASE] = PHASE_ADVANCE


def run_botmm_compiled(feed: L2Feed, p: TouchParams) -> TouchResult:
    """The touch quoter of :func:`run_botmm` compiled against the replay venue's kernel (:func:`_touch_loop`), the
    like-for-like of :func:`run_hftbacktest`'s compiled loop: the same fills, no Python per tick."""
    venue = touch_venue(feed, p)
    loop = np.zeros(16, dtype=np.int64)
    amounts = np.zeros(4, dtype=np.float64)
    open_oids = np.zeros(2, dtype=np.int64)  # every tick cancels all, then posts at most a bid and an ask
    amounts[A_QTY] = p.qty_lots * feed.meta.lot_size
    start = time.thread_time()
    venue.connect()
    t0 = venue.now_ns
    loop[[D_TARGET, D_T0, D_INTERVAL, D_ENTRY]] = t0 + p.interval_ns, t0, p.interval_ns, p.entry_ns
    loop[D_MAX_LOTS] = p.max_lots
    loop[D_LAST_REQUEST] = np.iinfo(np.int64).min
    venue.run_compiled(_touch_loop, loop, amounts, open_oids)
    seconds = time.thread_time() - start
    return _venue_result("botmm (compiled loop)", venue, p,
                         (*loop[[D_BUY, D_SELL]].tolist(), amounts[A_TRADED], amounts[A_POSITION], amounts[A_CASH],
                          *loop[[D_BIDS, D_ASKS, D_REJECTED, D_STEPS]].tolist()), seconds)


@njit
def _hbt_touch(hbt, interval, qty, lot, max_lots, quote_from, out):
    buy = sell = bids = asks = rejected = steps = 0
    traded = 0.0
    oid = 0
    while True:
        end = hbt.elapse(interval) != 0
        orders = hbt.orders(0)
        values = orders.values()
        while values.has_next():
            order = values.get()
            if order.status == _HBT_FILLED:
                if order.side == _HBT_BUY:
                    buy += 1
                else:
                    sell += 1
                traded += order.exec_qty
            elif order.status == _HBT_EXPIRED:
                rejected += 1
        hbt.clear_inactive_orders(0)
        if end:
            break
        steps += 1
        values = orders.values()
        while values.has_next():
            order = values.get()
            if order.cancellable:
                hbt.cancel(0, order.order_id, False)
        if hbt.current_timestamp < quote_from:
            continue
        depth = hbt.depth(0)
        pos = round(hbt.position(0) / lot)
        if pos < max_lots and np.isfinite(depth.best_bid):
            oid += 1
            hbt.submit_buy_order(0, oid, depth.best_bid, qty, _HBT_GTX, _HBT_LIMIT, False)
            bids += 1
        if pos > -max_lots:
            oid += 1
            hbt.submit_sell_order(0, oid, depth.best_ask, qty, _HBT_GTX, _HBT_LIMIT, False)
            asks += 1
    depth = hbt.depth(0)
    state = hbt.state_values(0)
    out[0], out[1], out[2], out[3] = buy, sell, traded, hbt.position(0)
    out[4], out[5] = 0.5 * (depth.best_bid + depth.best_ask), state.balance - state.fee
    out[6], out[7], out[8], out[9] = bids, asks, rejected, steps


def hftbacktest_data(capture: str | os.PathLike[str]) -> np.ndarray:
    """The capture converted by hftbacktest's own Binance futures converter (library defaults)."""
    from hftbacktest.data.utils import binancefutures

    with contextlib.redirect_stdout(io.StringIO()):
        return binancefutures.convert(os.fspath(capture), buffer_size=10_000_000)


def normalise_spot(captures: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Binance spot capture files (one stream, in order) rewritten into the futures shape hftbacktest's converter
    reads, as the reference run did (``REPLAY_REFERENCE.md``): each diff gets ``T = E``, each trade
    ``X = "MARKET"``, bookTicker lines are dropped and the snapshot gets ``T`` = the ``E`` of the last diff whose
    ``u`` <= its ``lastUpdateId``. Returns ``out``."""
    lines = []
    for capture in captures:
        with gzip.open(capture, "rb") as f:
            lines += [(local, json.loads(payload)) for local, _, payload in (line.partition(b" ") for line in f)]
    covered: dict[int, int] = {}  # lastUpdateId -> the E of the last diff it covers
    for _, msg in lines:
        if "lastUpdateId" in msg:
            last_id = msg["lastUpdateId"]
            covered[last_id] = max((m["data"]["E"] for _, m in lines if m.get("data", {}).get("e") == "depthUpdate"
                                    and m["data"]["u"] <= last_id), default=0)
    with gzip.open(out, "wb") as f:
        for local, msg in lines:
            data = msg.get("data")
            if data is None:
                msg = {**msg, "T": covered[msg["lastUpdateId"]]}
            elif data.get("e") == "depthUpdate":
                msg = {**msg, "data": {**data, "T": data["E"]}}
            elif data.get("e") == "trade":
                msg = {**msg, "data": {"X": "MARKET", **data}}
            else:
                continue
            f.write(local + b" " + json.dumps(msg, separators=(",", ":")).encode() + b"\n")
    return Path(out)


def run_hftbacktest(data: np.ndarray, meta: L2Meta, p: TouchParams) -> TouchResult:
    """The touch quoter on hftbacktest over its converted ``data`` (see :func:`hftbacktest_data`)."""
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (BacktestAsset().data([data]).linear_asset(1.0).constant_order_latency(p.entry_ns, p.response_ns)
             .no_partial_fill_exchange().trading_value_fee_model(0.0, 0.0).tick_size(meta.tick_size)
             .lot_size(meta.lot_size))
    asset = asset.power_prob_queue_model(2.0) if p.queue == "power2" else asset.risk_adverse_queue_model()
    hbt = HashMapMarketDepthBacktest([asset])
    snapshot = data[(data["ev"] & 0xFF) == _HBT_SNAPSHOT]
    quote_from = int(snapshot["local_ts"].min()) if len(snapshot) else 0
    out = np.zeros(10)
    start = time.thread_time()
    _hbt_touch(hbt, p.interval_ns, p.qty_lots * meta.lot_size, meta.lot_size, p.max_lots, quote_from, out)
    seconds = time.thread_time() - start
    hbt.close()
    buy, sell, traded, position, mid, cash, bids, asks, rejected, steps = out.tolist()
    source = int(np.count_nonzero(data["ev"] & _HBT_EXCH))
    return TouchResult("hftbacktest", p.queue, int(buy), int(sell), round(traded, 9), round(position, 9), mid, cash,
                       cash + position * mid, int(bids), int(asks), int(rejected), int(steps), source, seconds)


def warm_up(events: L2Events, meta: L2Meta, data: np.ndarray | None, rows: int = 20_000) -> None:
    """Compile (or load from cache) both engines on the first ``rows`` rows, so timings exclude compilation."""
    head = MemoryL2Feed(events.take(slice(0, rows)), meta)
    for queue in QUEUES:
        run_botmm(head, TouchParams(queue=queue))
        run_botmm_compiled(head, TouchParams(queue=queue))
    if data is not None:
        run_hftbacktest(data[:rows], meta, TouchParams())
