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
        from botmm.data.synthetic_l2_kernels import _generate

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
