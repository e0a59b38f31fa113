"""The synthetic L2 order flow: reproducible, well-formed, market-like, and replayed in bounded memory."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from botmm.config import AssetConfig
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, L2Events, MemoryL2Feed
from botmm.data.synthetic_l2 import SyntheticL2Params, iter_synthetic_l2, synthetic_l2, synthetic_meta
from botmm.sim import replay_kernels as k
from botmm.sim.costs import Costs
from botmm.sim.latency import LatencyModel
from botmm.sim.replay import OrderBookFillParams, ReplayVenue

HOUR = SyntheticL2Params(duration_s=3600.0)


@pytest.fixture(scope="module")
def hour() -> L2Events:
    return synthetic_l2(HOUR)


def test_a_seed_gives_the_same_events_whatever_the_chunk_size(hour):
    again = L2Events.concat(list(iter_synthetic_l2(dataclasses.replace(HOUR, chunk_s=120.0))))
    for column in ("ts_exchange", "ts_local", "kind", "side", "price", "size"):
        np.testing.assert_array_equal(getattr(again, column), getattr(hour, column))
    other = synthetic_l2(dataclasses.replace(HOUR, seed=8, duration_s=60.0))
    assert not np.array_equal(other.price[:500], hour.price[:500])


def test_the_stream_is_well_formed(hour):
    assert hour.kind[0] == KIND_CLEAR and np.isnan(hour.price[0])
    snapshot = hour.kind[1:81]
    assert np.all(snapshot == KIND_SNAPSHOT) and hour.kind[81] != KIND_SNAPSHOT
    assert np.all(np.diff(hour.ts_exchange) >= 0) and np.all(np.diff(hour.ts_local) >= 0)
    latency_ms = (hour.ts_local - hour.ts_exchange) / 1e6
    assert latency_ms.min() >= 0 and 1.5 < np.median(latency_ms) < 3.0
    levels = hour.kind != KIND_CLEAR
    ticks = hour.price[levels] / HOUR.tick_size
    assert np.allclose(ticks, np.round(ticks)) and np.all(hour.size[levels] >= 0)
    lots = hour.size[hour.kind == KIND_TRADE] / HOUR.lot_size
    assert np.allclose(lots, np.round(lots)) and lots.min() >= 1
    trades = np.flatnonzero(hour.kind == KIND_TRADE)
    after = trades + 1  # every print is followed by the depth change it makes at the same price and time
    assert np.all(hour.kind[after] == KIND_DELTA) and np.all(hour.price[after] == hour.price[trades])
    assert np.all(hour.side[after] == -hour.side[trades])
    assert 60 < len(hour) / HOUR.duration_s < 120  # about 90 events a second


def test_the_market_it_makes_is_tight_and_moves(hour):
    venue = ReplayVenue(MemoryL2Feed(hour, synthetic_meta(HOUR, "ETH")), OrderBookFillParams(),
                        AssetConfig(symbol="ETH", tick_size=0.1, lot_size=0.0001), Costs(), 1_000_000_000,
                        LatencyModel.constant(0, 0))
    venue.connect()
    mids, spreads = [], []
    while (now := venue.next_tick()) is not None:
        m = venue.poll(now)
        mids.append(m.mid)
        spreads.append(round((m.ask - m.bid) / HOUR.tick_size))
    assert np.median(spreads) == 1 and np.mean(np.array(spreads) <= 2) > 0.9
    minute = np.diff(np.log(np.array(mids)[::60]))
    annual_vol = minute.std() * np.sqrt(525_600)
    assert 0.3 < annual_vol < 1.2
    stats = venue.fill_stats()
    assert "data_crossed_exchange" not in stats and stats["levels_dropped"] == 0


def test_replaying_many_hours_keeps_one_chunk_in_memory():
    params = SyntheticL2Params(duration_s=3 * 3600.0, chunk_s=600.0)
    chunk_rows = max(len(c) for c in iter_synthetic_l2(params))
    from botmm.plugins.feeds.l2 import SyntheticL2Feed

    venue = ReplayVenue(SyntheticL2Feed(params, "ETH"), OrderBookFillParams(book_levels=0),
                        AssetConfig(symbol="ETH", tick_size=0.1, lot_size=0.0001), Costs(), 1_000_000_000,
                        LatencyModel.constant(0, 0))
    logging.getLogger("botmm.sim.replay").setLevel(logging.WARNING)
    venue.connect()
    largest = 0
    while venue.next_tick() is not None:
        largest = max(largest, int(venue.int_state[k.I_N]))
    assert venue.fill_stats()["events_exchange"] > 8 * chunk_rows  # many chunks went through ...
    assert largest <= chunk_rows * 1.01  # ... but the buffer never held much more than one
