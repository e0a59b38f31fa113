"""The replay kernel's book bookkeeping under any stream of level updates, clears and crossings in a small price
window that keeps moving: the per-block level counts (what a window move and a clear walk) and each row's best index
always describe the book exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.config import AssetConfig
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, MemoryL2Feed
from botmm.sim import replay_kernels as kernels
from botmm.sim.costs import Costs
from botmm.sim.latency import LatencyModel
from botmm.sim.orderbook_fill import OrderBookFillParams
from botmm.sim.replay import ReplayVenue

T0, MS = 1_700_000_000_000_000_000, 1_000_000
META = L2Meta("T", 1.0, 1.0)
ASSET = AssetConfig(symbol="T", tick_size=1.0, lot_size=1.0, min_notional=0.0)

# (ms, kind, side, ticks from the drifting mid, size, feed latency ms): the mid climbs 400 ticks in 2 s, so the
# window keeps moving with levels on both sides, and levels 40 to 60 ticks out fall outside the smaller windows
ROW = st.tuples(st.integers(0, 2000), st.sampled_from([KIND_DELTA] * 8 + [KIND_SNAPSHOT, KIND_CLEAR, KIND_TRADE]),
                st.sampled_from([1, -1, 0]), st.integers(0, 60), st.sampled_from([0.0, 0.4, 1.0, 2.0, 7.0]),
                st.integers(0, 30))


def price(ms: int, side: int, ticks: int) -> float:
    mid = 1000 + ms // 5
    return float(mid - 1 - ticks if side > 0 else mid + ticks)


def block_counts(book: np.ndarray, blocks: int) -> np.ndarray:
    padded = np.zeros((4, blocks << kernels.BLOCK_BITS))
    padded[:, :book.shape[1]] = book > 0.0
    return padded.reshape(4, blocks, -1).sum(axis=2)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=300), width=st.sampled_from([64, 100, 256, 300]))
def test_block_counts_and_best_levels_match_the_book_after_every_tick(rows, width):
    rows = sorted(rows)
    events = L2Events.build(
        ts_exchange=[T0 + ms * MS for ms, *_ in rows], ts_local=[T0 + (ms + feed) * MS for ms, *_, feed in rows],
        kind=[kind for _, kind, *_ in rows],
        side=[side if kind in (KIND_CLEAR, KIND_TRADE) else side or 1 for _, kind, side, *_ in rows],
        price=[float("nan") if kind == KIND_CLEAR and ticks % 3 == 0 else price(ms, side or 1, ticks)
               for ms, kind, side, ticks, *_ in rows],
        size=[size for *_, size, _ in rows])
    fill = OrderBookFillParams(book_ticks=width, book_levels=3)
    venue = ReplayVenue(MemoryL2Feed(events, META), fill, ASSET, Costs(), 50 * MS, LatencyModel.constant(MS, MS))
    venue.connect()
    while venue.next_tick() is not None:
        book, state = venue.levels, venue.int_state
        assert np.array_equal(block_counts(book, venue.occupied.shape[1]), venue.occupied)
        for r in range(4):
            used = np.flatnonzero(book[r] > 0.0)
            best = state[kernels.I_BEST + r]
            if r % 2 == 0:
                assert best == (used[-1] if len(used) else -1)
                assert not len(used) or state[kernels.I_BOUND + r] <= used[0]
            else:
                assert best == (used[0] if len(used) else width)
                assert not len(used) or state[kernels.I_BOUND + r] >= used[-1]
