"""A seeded order-flow simulator that produces L2 events (:mod:`botmm.data.l2`), so a replay runs with no data.

The model is a zero-intelligence limit order book (in the spirit of Smith, Farmer, Gillemot and Krishnamurthy,
"Statistical theory of the continuous double auction", 2003), simulated event by event in continuous time
(Gillespie: the next event comes after an exponential wait at the total rate, and its type is drawn in proportion to
the rates). Per side, with defaults in brackets:

* **Limit orders** arrive at ``limit_rate`` [20/s]. A buy lands ``d`` ticks below the best ask minus one tick, with
  P(d) proportional to exp(-d / ``decay_ticks``) [4] for d < ``depth_ticks`` [40]: intensity decays away from the
  touch, and an order with d = 0 improves the bid whenever the spread is wider than one tick. Sells mirror this.
* **Cancels**: every resting order is cancelled at rate ``cancel_rate`` [0.8/s], counted in mean-sized orders over
  the ``2 * depth_ticks`` levels behind the best; a cancel hits a level chosen in proportion to its size and removes
  one order's size (at most the level).
* **Market orders** arrive at ``market_rate`` [1.5/s] with a mean size of ``market_size`` [4] limit orders; each
  sweeps the opposite side from the best, printing one trade per level it reaches (at most 32 levels).
* A side left empty by a cancel or a sweep is refilled at once, one tick from the other side's best, with the
  event's order size (liquidity providers step in), so the book always has both sides.
* **Sizes**: lognormal with log-sd ``size_sigma`` [0.8], mean ``order_notional`` [1000] quote units / start price,
  rounded to whole lots (at least one).
* **Times**: exchange times are the simulated ones (ns); each event reaches the recorder after a lognormal feed
  latency (median ``feed_latency_ms`` [2 ms], log-sd ``latency_sigma`` [0.5]), never before an earlier event (FIFO).
  Events of one market order share their times; a trade row comes before the depth row it causes.

At equilibrium the touch holds about ``limit_rate * P(0) / cancel_rate`` orders (5.5 with the defaults), market
orders consume it within seconds, and the mid moves as a random walk (about 60 % annualised volatility with the
defaults, measured on one-minute returns) with a one-tick spread most of the time. The stream opens with a snapshot
(a clear and ``depth_ticks`` levels a side) and runs about 90 events a second.

Randomness: the stream is cut into blocks of ``block_s`` seconds; block b draws uniforms from its own generator
``SeedSequence(seed, spawn_key=(b,))``, so a seed always gives the same events, whatever the chunk size. The book is
a window of 8192 ticks that re-centres on the mid (levels falling off are deleted with a delta row).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from botmm.data.l2 import KIND_CLEAR, KIND_SNAPSHOT, L2Events, L2Meta

WINDOW = 8192
MAX_SWEEP = 32
_OK, _NEED_RANDOM, _OUT_FULL = 0, 1, 2
# integer state slots
S_BASE, S_T, S_LOCAL, S_BID, S_ASK = 0, 1, 2, 3, 4
# float params slots
P_LIMIT, P_CANCEL, P_MARKET, P_MSIZE, P_DECAY, P_SIGMA, P_MEAN_LOTS, P_LAT_MED, P_LAT_SIGMA = range(9)


@dataclass(frozen=True)
class SyntheticL2Params:
    """Parameters of the synthetic order flow; see the module docstring for the model."""

    seed: int = 7
    start_ns: int = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
    duration_s: float = 3600.0
    start_price: float = 3000.0
    tick_size: float = 0.1
    lot_size: float = 0.0001
    order_notional: float = 1000.0
    limit_rate: float = 20.0
    cancel_rate: float = 0.8
    market_rate: float = 1.5
    market_size: float = 4.0
    decay_ticks: float = 4.0
    depth_ticks: int = 40
    size_sigma: float = 0.8
    feed_latency_ms: float = 2.0
    latency_sigma: float = 0.5
    block_s: float = 60.0
    chunk_s: float = 300.0  # seconds of events per yielded chunk

    def __post_init__(self) -> None:
        positive = ("duration_s", "start_price", "tick_size", "lot_size", "order_notional", "limit_rate",
                    "cancel_rate", "market_size", "decay_ticks", "block_s", "chunk_s")
        for key in positive:
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}={getattr(self, key)}: must be > 0")
        if self.market_rate < 0 or self.size_sigma < 0 or self.feed_latency_ms < 0 or self.latency_sigma < 0:
            raise ValueError("market_rate, size_sigma, feed_latency_ms and latency_sigma must be >= 0")
        if not 1 <= self.depth_ticks <= WINDOW // 8:
            raise ValueError(f"depth_ticks={self.depth_ticks}: must be in [1, {WINDOW // 8}]")


def synthetic_meta(p: SyntheticL2Params, symbol: str) -> L2Meta:
    return L2Meta(symbol=symbol, tick_size=p.tick_size, lot_size=p.lot_size, source=f"synthetic_l2 seed={p.seed}")


@njit(cache=True, error_model="numpy")
def _lognormal_lots(u1, u2, mean_lots, sigma):
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    lots = mean_lots * math.exp(sigma * z - 0.5 * sigma * sigma)
    return max(1, int(lots + 0.5))


@njit(cache=True, error_model="numpy")
def _emit(out_i, out_k, n, t, local, kind, side, tick, lots):
    out_i[n, 0] = t
    out_i[n, 1] = local
    out_i[n, 2] = tick
    out_i[n, 3] = lots
    out_k[n, 0] = kind
    out_k[n, 1] = side
    return n + 1


@njit(cache=True, error_model="numpy")
def _best_bid(bids, start):
    for i in range(start, -1, -1):
        if bids[i] > 0:
            return i
    return -1


@njit(cache=True, error_model="numpy")
def _best_ask(asks, start):
    for i in range(start, asks.shape[0]):
        if asks[i] > 0:
            return i
    return asks.shape[0]


@njit(cache=True, error_model="numpy")
def _generate(bids, asks, st, pf, depth, u, ui, out_i, out_k, n, t_end):
    """Simulate until ``t_end`` (ns) or until the uniforms or the output run out; returns (status, ui, n)."""
    w = bids.shape[0]
    limit_rate, cancel_rate, market_rate = pf[P_LIMIT], pf[P_CANCEL], pf[P_MARKET]
    decay, sigma, mean_lots = pf[P_DECAY], pf[P_SIGMA], pf[P_MEAN_LOTS]
    trunc = 1.0 - math.exp(-depth / decay)
    while True:
        if ui + 8 > u.shape[0]:
            return _NEED_RANDOM, ui, n
        if n + 2 * MAX_SWEEP + w + 4 > out_i.shape[0]:
            return _OUT_FULL, ui, n
        bb, ba = st[S_BID], st[S_ASK]
        # recentre the window on the mid when the touch nears an edge
        ref = (bb + ba) // 2 if bb >= 0 and ba < w else (bb if bb >= 0 else (ba if ba < w else w // 2))
        if ref < w // 4 or ref > 3 * w // 4:
            shift = ref - w // 2
            t, local = st[S_T], st[S_LOCAL]
            for i in range(w):
                j = i - shift
                if (j < 0 or j >= w) and bids[i] > 0:
                    n = _emit(out_i, out_k, n, t, local, 2, 1, st[S_BASE] + i, 0)
                if (j < 0 or j >= w) and asks[i] > 0:
                    n = _emit(out_i, out_k, n, t, local, 2, -1, st[S_BASE] + i, 0)
            nb = np.zeros(w, dtype=np.int64)
            na = np.zeros(w, dtype=np.int64)
            for i in range(w):
                j = i - shift
                if 0 <= j < w:
                    nb[j] = bids[i]
                    na[j] = asks[i]
            bids[:] = nb
            asks[:] = na
            st[S_BASE] += shift
            st[S_BID] = _best_bid(bids, w - 1)
            st[S_ASK] = _best_ask(asks, 0)
            continue
        cb = 0
        if bb >= 0:
            for i in range(max(0, bb - 2 * depth), bb + 1):
                cb += bids[i]
        ca = 0
        if ba < w:
            for i in range(ba, min(w, ba + 2 * depth + 1)):
                ca += asks[i]
        rate_cb = cancel_rate * cb / mean_lots
        rate_ca = cancel_rate * ca / mean_lots
        total = 2.0 * limit_rate + rate_cb + rate_ca + 2.0 * market_rate
        dt = -math.log(u[ui]) / total
        t = st[S_T] + max(1, np.int64(dt * 1e9))
        if t >= t_end:
            st[S_T] = t_end  # memoryless: the next block draws afresh from t_end
            return _OK, ui + 1, n
        st[S_T] = t
        z = math.sqrt(-2.0 * math.log(u[ui + 1])) * math.cos(2.0 * math.pi * u[ui + 2])
        local = t + np.int64(pf[P_LAT_MED] * 1e6 * math.exp(pf[P_LAT_SIGMA] * z))
        if local < st[S_LOCAL]:
            local = st[S_LOCAL]
        st[S_LOCAL] = local
        pick = u[ui + 3] * total
        lots = _lognormal_lots(u[ui + 4], u[ui + 5], mean_lots, sigma)
        ui += 8
        base = st[S_BASE]
        if pick < 2.0 * limit_rate:
            buy = pick < limit_rate
            d = int(-decay * math.log(1.0 - u[ui - 2] * trunc))
            if d >= depth:
                d = depth - 1
            if buy:
                i = (ba - 1 - d) if ba < w else (bb - d if bb >= 0 else w // 2 - d)
                bids[i] += lots
                if i > bb:
                    st[S_BID] = i
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
            else:
                i = (bb + 1 + d) if bb >= 0 else (ba + d if ba < w else w // 2 + 1 + d)
                asks[i] += lots
                if i < ba:
                    st[S_ASK] = i
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
            continue
        pick -= 2.0 * limit_rate
        if pick < rate_cb + rate_ca:
            bid_side = pick < rate_cb
            target = u[ui - 1] * (cb if bid_side else ca)
            if bid_side:
                acc = 0
                i = bb
                for j in range(bb, max(0, bb - 2 * depth) - 1, -1):
                    acc += bids[j]
                    i = j
                    if acc > target:
                        break
                bids[i] -= min(bids[i], lots)
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
                if i == bb and bids[i] == 0:
                    st[S_BID] = _best_bid(bids, bb)
            else:
                acc = 0
                i = ba
                for j in range(ba, min(w, ba + 2 * depth + 1)):
                    acc += asks[j]
                    i = j
                    if acc > target:
                        break
                asks[i] -= min(asks[i], lots)
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
                if i == ba and asks[i] == 0:
                    st[S_ASK] = _best_ask(asks, ba)
        else:
            n = _market_order(bids, asks, st, out_i, out_k, n, t, local, base,
                              pick - rate_cb - rate_ca < market_rate, max(1, int(lots * pf[P_MSIZE] + 0.5)))
        # a side left empty is refilled at once next to the other side's best, as liquidity providers would
        if st[S_BID] < 0 and st[S_ASK] < w:
            i = st[S_ASK] - 1
            bids[i] += lots
            st[S_BID] = i
            n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
        elif st[S_ASK] >= w and st[S_BID] >= 0:
            i = st[S_BID] + 1
            asks[i] += lots
            st[S_ASK] = i
            n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])


@njit(cache=True, error_model="numpy")
def _market_order(bids, asks, st, out_i, out_k, n, t, local, base, buy, want):
    """Sweep the opposite side from its best, one trade and one depth row per level reached."""
    w = bids.shape[0]
    bb, ba = st[S_BID], st[S_ASK]
    swept = 0
    if buy:
        i = ba
        while want > 0 and i < w and swept < MAX_SWEEP:
            if asks[i] > 0:
                take = min(asks[i], want)
                want -= take
                asks[i] -= take
                swept += 1
                n = _emit(out_i, out_k, n, t, local, 3, 1, base + i, take)
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
            i += 1
        st[S_ASK] = _best_ask(asks, max(ba, 0))
    else:
        i = bb
        while want > 0 and i >= 0 and swept < MAX_SWEEP:
            if bids[i] > 0:
                take = min(bids[i], want)
                want -= take
                bids[i] -= take
                swept += 1
                n = _emit(out_i, out_k, n, t, local, 3, -1, base + i, take)
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
            i -= 1
        st[S_BID] = _best_bid(bids, min(bb, w - 1))
    return n


class SyntheticL2:
    """The event stream of one parameter set, produced chunk by chunk (memory holds one chunk)."""

    def __init__(self, p: SyntheticL2Params):
        self.p = p
        self.decimals = max(0, -math.floor(math.log10(p.tick_size)) + 2)
        mean_lots = p.order_notional / p.start_price / p.lot_size
        self.pf = np.array([p.limit_rate, p.cancel_rate, p.market_rate, p.market_size, p.decay_ticks,
                            p.size_sigma, max(1.0, mean_lots), p.feed_latency_ms, p.latency_sigma], dtype=np.float64)

    def _snapshot(self, bids: np.ndarray, asks: np.ndarray, st: np.ndarray) -> L2Events:
        """An equilibrium book around the start price (one-tick spread) and its snapshot rows."""
        p = self.p
        rng = np.random.default_rng(np.random.SeedSequence(p.seed, spawn_key=(2**31,)))
        center = WINDOW // 2
        d = np.arange(p.depth_ticks)
        weight = np.exp(-d / p.decay_ticks) * (1 - math.exp(-1 / p.decay_ticks)) / (
            1 - math.exp(-p.depth_ticks / p.decay_ticks))
        orders = p.limit_rate * weight / p.cancel_rate
        for book, sign, first in ((bids, -1, center), (asks, 1, center + 1)):
            noise = rng.lognormal(-0.125, 0.5, p.depth_ticks)
            book[first + sign * d] = np.maximum(1, np.rint(orders * self.pf[P_MEAN_LOTS] * noise)).astype(np.int64)
        st[S_BASE] = int(round(p.start_price / p.tick_size)) - center
        st[S_T] = st[S_LOCAL] = p.start_ns
        st[S_BID], st[S_ASK] = center, center + 1
        bid_idx = center - d
        ask_idx = center + 1 + d
        n = 1 + 2 * p.depth_ticks
        ticks = np.concatenate([[0], st[S_BASE] + bid_idx, st[S_BASE] + ask_idx])
        lots = np.concatenate([[0], bids[bid_idx], asks[ask_idx]])
        sides = np.concatenate([[0], np.ones(p.depth_ticks), -np.ones(p.depth_ticks)])
        kinds = np.full(n, KIND_SNAPSHOT)
        kinds[0] = KIND_CLEAR
        ts = np.full(n, p.start_ns)
        prices = self._prices(ticks)
        prices[0] = np.nan
        return L2Events.build(ts_exchange=ts, ts_local=ts, kind=kinds, side=sides, price=prices,
                              size=lots * p.lot_size)

    def _prices(self, ticks: np.ndarray) -> np.ndarray:
        return np.round(ticks * self.p.tick_size, self.decimals)

    def chunks(self) -> Iterator[L2Events]:
        """The whole stream, ``chunk_s`` seconds of exchange time at a time."""
        p = self.p
        bids = np.zeros(WINDOW, dtype=np.int64)
        asks = np.zeros(WINDOW, dtype=np.int64)
        st = np.zeros(5, dtype=np.int64)
        pending = [self._snapshot(bids, asks, st)]
        end_ns = p.start_ns + round(p.duration_s * 1e9)
        block_ns = round(p.block_s * 1e9)
        chunk_ns = round(p.chunk_s * 1e9)
        expected = int((2 * (p.limit_rate + p.market_rate) + 2 * p.limit_rate) * p.block_s) + 1024
        out_i = np.zeros((4 * expected + 2 * WINDOW, 4), dtype=np.int64)
        out_k = np.zeros((len(out_i), 2), dtype=np.int8)
        chunk_end = p.start_ns + chunk_ns
        block = 0
        while st[S_T] < end_ns:
            rng = np.random.default_rng(np.random.SeedSequence(p.seed, spawn_key=(block,)))
            block_end = min(end_ns, p.start_ns + (block + 1) * block_ns)
            u = rng.random(8 * expected)
            ui, n = 0, 0
            while True:
                status, ui, n = _generate(bids, asks, st, self.pf, p.depth_ticks, u, ui, out_i, out_k, n, block_end)
                if status == _NEED_RANDOM:
                    u = np.concatenate([u[ui:], rng.random(8 * expected)])
                    ui = 0
                elif status == _OUT_FULL:
                    pending.append(self._rows(out_i[:n], out_k[:n]))
                    n = 0
                else:
                    break
            pending.append(self._rows(out_i[:n], out_k[:n]))
            block += 1
            if st[S_T] >= chunk_end or st[S_T] >= end_ns:
                yield L2Events.concat(pending)
                pending = []
                chunk_end += chunk_ns

    def _rows(self, out_i: np.ndarray, out_k: np.ndarray) -> L2Events:
        return L2Events.build(ts_exchange=out_i[:, 0], ts_local=out_i[:, 1], kind=out_k[:, 0], side=out_k[:, 1],
                              price=self._prices(out_i[:, 2]), size=out_i[:, 3] * self.p.lot_size)


def iter_synthetic_l2(p: SyntheticL2Params) -> Iterator[L2Events]:
    """The synthetic event stream of ``p``, chunk by chunk."""
    return SyntheticL2(p).chunks()


def synthetic_l2(p: SyntheticL2Params) -> L2Events:
    """The whole synthetic stream in memory (for tests and short spans)."""
    return L2Events.concat(list(iter_synthetic_l2(p)))
