"""The L2 event dataset: files by symbol-hour, streaming reads, and every check made on load (an error, or a counted
repair), including crossed books found by the replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest

from botmm.config import AssetConfig
from botmm.data.l2 import (
    HOUR_NS, KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, L2Writer, MemoryL2Feed,
    ValidationReport, iter_l2, l2_files, read_l2, read_meta, write_l2,
)
from botmm.errors import DataError
from botmm.plugins.feeds.l2 import L2FileFeed
from botmm.sim.costs import Costs
from botmm.sim.latency import LatencyModel
from botmm.sim.replay import OrderBookFillParams, ReplayVenue

H0 = 1_722_470_400 * 1_000_000_000  # 2024-08-01 00:00 UTC, ns
MS = 1_000_000
META = L2Meta("BTCUSDT", 0.1, 0.001, "test")
NAN = float("nan")


def ev(rows) -> L2Events:
    """Rows of (ts_exchange ns, ts_local ns, kind, side, price, size)."""
    cols = list(zip(*rows))
    return L2Events.build(ts_exchange=cols[0], ts_local=cols[1], kind=cols[2], side=cols[3], price=cols[4],
                          size=cols[5])


def book(t: int) -> list[tuple]:
    return [(t, t, KIND_CLEAR, 0, NAN, 0.0), (t, t, KIND_SNAPSHOT, 1, 100.0, 1.0),
            (t, t, KIND_SNAPSHOT, -1, 100.1, 1.0)]


def write_one(tmp_path: Path, rows, name: str = "2024-08-01_00") -> Path:
    """One hour file holding ``rows`` as they are (no ordering or checks), as a broken recorder might write it, in
    the first layout of the dataset (int64 times, no symbol column, NaN prices): such files keep reading."""
    import json
    from dataclasses import asdict

    from botmm.data.l2 import COLUMNS, DTYPES, META_KEY

    folder = tmp_path / "BTCUSDT"
    folder.mkdir(parents=True, exist_ok=True)
    events = ev(rows)
    schema = pa.schema([pa.field(c, pa.from_numpy_dtype(np.dtype(DTYPES[c])), nullable=False) for c in COLUMNS],
                       metadata={META_KEY: json.dumps(asdict(META)).encode()})
    pq.write_table(pa.table({c: getattr(events, c) for c in COLUMNS}, schema=schema), folder / f"{name}.parquet")
    return folder


def test_events_are_written_one_file_per_symbol_hour_and_read_back_file_by_file(tmp_path):
    rows = book(H0) + [(H0 + h * HOUR_NS + i * MS, H0 + h * HOUR_NS + i * MS + 3 * MS, KIND_TRADE, 1, 100.1, 0.5)
                       for h in range(3) for i in range(5)]
    paths = write_l2(ev(rows), tmp_path, META)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "BTCUSDT/2024-08-01_00.parquet", "BTCUSDT/2024-08-01_01.parquet", "BTCUSDT/2024-08-01_02.parquet"]
    assert read_meta(tmp_path) == META
    for where in (tmp_path, tmp_path / "BTCUSDT"):
        assert l2_files(where) == paths
    chunks = list(iter_l2(tmp_path))
    assert [len(c) for c in chunks] == [8, 5, 5]
    back = read_l2(tmp_path / "BTCUSDT")
    np.testing.assert_array_equal(back.ts_local, ev(rows).ts_local)
    np.testing.assert_array_equal(back.kind, ev(rows).kind)
    assert np.isnan(back.price[0]) and back.price[1] == 100.0
    table = pq.read_table(paths[0])  # plain Parquet: readable by any tool
    assert table.column_names == ["symbol", "ts_exchange", "ts_local", "kind", "side", "price", "size"]
    assert table.schema.field("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert table.schema.field("ts_exchange").type == table.schema.field("ts_local").type == pa.timestamp("ns", "UTC")
    assert table.column("symbol").to_pylist() == ["BTCUSDT"] * table.num_rows
    assert table.column("price").null_count == 1 and table.column("price")[0].as_py() is None  # the clear row


def test_a_dataset_of_several_symbols_queries_as_one_table(tmp_path):
    """Two symbols' hour files under one root: polars (and pyarrow) read them as one table, each row with its
    symbol, times as UTC timestamps, the book clears' prices null."""
    import polars as pl

    eth = L2Meta("ETH", 0.1, 0.001, "test")
    write_l2(ev(book(H0) + [(H0 + 5 * MS, H0 + 6 * MS, KIND_TRADE, 1, 100.1, 0.5)]), tmp_path, META)
    write_l2(ev(book(H0) + [(H0 + 7 * MS, H0 + 8 * MS, KIND_TRADE, -1, 99.9, 0.25)] * 2), tmp_path, eth)
    trades = (pl.scan_parquet(tmp_path / "*" / "*.parquet").filter(pl.col("kind") == KIND_TRADE)
              .group_by("symbol").agg(pl.len().alias("trades"), pl.col("size").sum(), pl.col("ts_exchange").min())
              .sort("symbol").collect())
    assert trades["symbol"].cast(pl.String).to_list() == ["BTCUSDT", "ETH"]
    assert trades["trades"].to_list() == [1, 2] and trades["size"].to_list() == [0.5, 0.5]
    assert trades["ts_exchange"].dtype == pl.Datetime("ns", "UTC")
    assert trades["ts_exchange"].dt.epoch("ns").to_list() == [H0 + 5 * MS, H0 + 7 * MS]
    clears = pl.read_parquet(tmp_path / "*" / "*.parquet").filter(pl.col("kind") == 0)
    assert clears["price"].null_count() == clears.height == 2
    table = pa.dataset.dataset(tmp_path, format="parquet").to_table(filter=pa.compute.field("symbol") == "ETH")
    assert table.num_rows == len(book(H0)) + 2


def test_the_writer_streams_chunks_in_exchange_order_and_refuses_disorder(tmp_path):
    rows = book(H0) + [(H0 + i * 600_000 * MS, H0 + i * 600_000 * MS, KIND_TRADE, -1, 100.0, 0.1) for i in range(12)]
    events = ev(rows)
    with L2Writer(tmp_path, META) as writer:
        for start in range(0, len(events), 4):
            writer.write(events.take(slice(start, start + 4)))
    assert [p.name for p in writer.paths] == ["2024-08-01_00.parquet", "2024-08-01_01.parquet"]
    assert len(read_l2(tmp_path)) == len(events)
    with L2Writer(tmp_path / "x", META) as writer:
        writer.write(events.take(slice(5, 6)))
        with pytest.raises(DataError, match="exchange order"):
            writer.write(events.take(slice(0, 1)))


def test_a_dataset_path_must_name_one_symbol(tmp_path):
    write_l2(ev(book(H0)), tmp_path, META)
    write_l2(ev(book(H0)), tmp_path, L2Meta("ETHUSDT", 0.01, 0.001))
    with pytest.raises(DataError, match="several symbols"):
        l2_files(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        l2_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .parquet files"):
        l2_files(tmp_path / "empty")


BAD_CASES = {
    # name: (rows after a clean book, counter, message fragment)
    "bad_rows": ([(H0 + MS, H0 + MS, 7, 1, 100.0, 1.0), (H0 + MS, H0 + MS, KIND_DELTA, 2, 100.0, 1.0)],
                 "bad_rows", "bad row"),
    "negative_sizes": ([(H0 + MS, H0 + MS, KIND_DELTA, 1, 100.0, -1.0)], "negative_sizes", "negative size"),
    "time_backwards": ([(H0 + 5 * MS, H0 + 5 * MS, KIND_TRADE, 1, 100.1, 1.0),
                        (H0 + 2 * MS, H0 + 2 * MS, KIND_TRADE, 1, 100.1, 1.0)], "time_backwards", "earlier"),
    "negative_latency": ([(H0 + 5 * MS, H0 + 4 * MS, KIND_TRADE, 1, 100.1, 1.0)], "negative_latency", "before"),
    "stale_latency": ([(H0 + 5 * MS, H0 + 5 * MS + 120_000 * MS, KIND_TRADE, 1, 100.1, 1.0)], "stale_latency",
                      "exceeds max_latency"),
    "gaps": ([(H0 + 1_000_000 * MS, H0 + 1_000_000 * MS, KIND_TRADE, 1, 100.1, 1.0)], "gaps", "no event for"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_bad_data_case_is_an_error_or_a_counted_repair(tmp_path, case):
    rows, counter, fragment = BAD_CASES[case]
    folder = write_one(tmp_path, book(H0) + rows)
    with pytest.raises(DataError, match=fragment) as err:
        read_l2(folder, on_bad_data="error", max_gap_ns=600_000 * MS)
    assert "2024-08-01_00.parquet" in str(err.value) and "on_bad_data=repair" in str(err.value)
    report = ValidationReport()
    repaired = read_l2(folder, report=report, max_gap_ns=600_000 * MS)
    assert getattr(report, counter) >= 1
    assert sum(report.counts()[k] for k in BAD_CASES) == getattr(report, counter)
    assert np.all(np.diff(repaired.ts_exchange) >= 0)
    assert np.all(repaired.ts_local >= repaired.ts_exchange)
    assert np.all(repaired.ts_local - repaired.ts_exchange <= 60_000 * MS)
    assert np.all(repaired.size[repaired.kind != KIND_CLEAR] >= 0)
    assert set(np.unique(repaired.kind)) <= {KIND_CLEAR, KIND_SNAPSHOT, KIND_DELTA, KIND_TRADE}


def test_repairs_keep_the_good_rows_and_fix_the_rest(tmp_path):
    late = H0 + 5 * MS
    folder = write_one(tmp_path, book(H0) + [(late, late, KIND_TRADE, 1, 100.1, 1.0),
                                             (H0 + 2 * MS, H0 + 1 * MS, KIND_TRADE, -1, 100.0, 2.0),
                                             (late, late, KIND_DELTA, -1, 100.2, -3.0)])
    report = ValidationReport()
    out = read_l2(folder, report=report)
    assert report.counts() == {**report.counts(), "negative_sizes": 1, "time_backwards": 1, "negative_latency": 1}
    trades = out.take(out.kind == KIND_TRADE)
    assert trades.side.tolist() == [-1, 1] and trades.ts_local.tolist() == [H0 + 2 * MS, late]  # re-sorted, raised


def test_a_missing_hour_file_is_a_gap(tmp_path):
    write_l2(ev(book(H0) + [(H0 + 2 * HOUR_NS, H0 + 2 * HOUR_NS, KIND_TRADE, 1, 100.1, 1.0)]), tmp_path, META)
    assert [p.name for p in l2_files(tmp_path)] == ["2024-08-01_00.parquet", "2024-08-01_02.parquet"]
    with pytest.raises(DataError, match="missing hour file"):
        read_l2(tmp_path, on_bad_data="error")
    report = ValidationReport()
    read_l2(tmp_path, report=report)
    assert report.gaps == 1 and report.notes == ["missing hours: 2024-08-01_01"]


def test_time_going_backwards_across_files_is_clamped(tmp_path):
    folder = write_one(tmp_path, book(H0 + 10 * MS), "2024-08-01_00")
    write_one(tmp_path, [(H0 + 5 * MS, H0 + 5 * MS, KIND_TRADE, 1, 100.1, 1.0)], "2024-08-01_01")
    report = ValidationReport()
    out = read_l2(folder, report=report)
    assert report.time_backwards == 1 and out.ts_exchange[-1] == H0 + 10 * MS


CROSSING = [  # asks below the best change at 5 ms, then the bids jump through them at 7 ms and stay there
    (H0 + 5 * MS, H0 + 5 * MS, KIND_DELTA, -1, 100.2, 1.0),
    (H0 + 5 * MS, H0 + 5 * MS, KIND_DELTA, -1, 100.5, 1.0),
    (H0 + 7 * MS, H0 + 7 * MS, KIND_DELTA, 1, 100.3, 2.0),
    (H0 + 900 * MS, H0 + 900 * MS, KIND_TRADE, 1, 100.4, 0.1),
]


def replay(folder: Path, on_bad_data: str) -> ReplayVenue:
    venue = ReplayVenue(L2FileFeed(str(folder), on_bad_data), OrderBookFillParams(book_ticks=1024),
                        AssetConfig(symbol="BTC", tick_size=0.1, lot_size=0.001), Costs(), 100 * MS,
                        LatencyModel.constant(0, 0))
    venue.connect()
    return venue


def test_a_book_left_crossed_is_repaired_on_the_stale_side_and_counted(tmp_path):
    folder = write_one(tmp_path, book(H0) + CROSSING)
    venue = replay(folder, "repair")
    market = venue.poll(venue.next_tick())  # the best ask (100.1) was set longer ago than the best bid: stale
    assert (market.bid, market.ask) == (100.3, 100.5)
    assert market.book.asks == [(100.5, 1.0)] and market.book.bids == [(100.3, 2.0), (100.0, 1.0)]
    stats = venue.fill_stats()
    assert (stats["data_crossed_exchange"], stats["data_crossed_local"]) == (1, 1)
    with pytest.raises(DataError, match=r"crossed (local|exchange) book at ts=1722470400007000000"):
        replay(folder, "error").next_tick()


def test_a_transient_cross_inside_one_message_is_not_a_repair(tmp_path):
    t = H0 + 5 * MS  # the price moves up one tick: the new bid comes before the old ask's deletion, same timestamp
    rows = book(H0) + [(t, t, KIND_DELTA, 1, 100.1, 1.0), (t, t, KIND_DELTA, -1, 100.1, 0.0),
                       (t, t, KIND_DELTA, -1, 100.2, 1.0), (t, t, KIND_DELTA, 1, 100.0, 0.0),
                       (H0 + 900 * MS, H0 + 900 * MS, KIND_TRADE, 1, 100.2, 0.1)]
    venue = replay(write_one(tmp_path, rows), "error")
    market = venue.poll(venue.next_tick())
    assert (market.bid, market.ask) == (100.1, 100.2)
    assert "data_crossed_exchange" not in venue.fill_stats()


def test_memory_feed_serves_chunks_in_order():
    events = ev(book(H0) + [(H0 + i * MS, H0 + i * MS, KIND_TRADE, 1, 100.1, 0.1) for i in range(1, 8)])
    feed = MemoryL2Feed(events, META, chunk_rows=4)
    assert [len(c) for c in feed.batches()] == [4, 4, 2]


def test_a_file_in_the_first_layout_reads_as_the_same_events(tmp_path):
    rows = book(H0) + [(H0 + i * MS, H0 + i * MS + 2 * MS, KIND_TRADE, 1, 100.1, 0.5) for i in range(1, 4)]
    old = read_l2(write_one(tmp_path / "old", rows))
    new = read_l2(write_l2(ev(rows), tmp_path / "new", META)[0])
    for column in ("ts_exchange", "ts_local", "kind", "side", "price", "size"):
        np.testing.assert_array_equal(getattr(old, column), getattr(new, column), err_msg=column)
        assert getattr(old, column).dtype == getattr(new, column).dtype
