"""``botmm data convert tardis``: tardis.dev ``incremental_book_L2`` and ``trades`` CSV files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from botmm.data.convert import convert, convert_tardis
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, read_l2

US = 1_722_470_400_000_000  # exchange microseconds
BOOK = """exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
binance-futures,BTCUSDT,{t0},{l0},true,bid,61800.1,1.013
binance-futures,BTCUSDT,{t0},{l0},true,ask,61800.2,0.997
binance-futures,BTCUSDT,{t1},{l1},false,bid,61800.1,0
binance-futures,BTCUSDT,{t1},{l1},false,bid,61799.9,2.501
binance-futures,BTCUSDT,{t3},{l3},true,bid,61805.0,0.301
binance-futures,BTCUSDT,{t3},{l3},true,ask,61805.3,0.412
"""
TRADES = """exchange,symbol,timestamp,local_timestamp,id,side,price,amount
binance-futures,BTCUSDT,{t2},{l2},1,sell,61799.9,0.125
binance-futures,BTCUSDT,{t2},{l2},2,unknown,61799.9,0.002
binance-futures,BTCUSDT,{t4},{l4},3,buy,61805.3,0.011
"""


def files(tmp_path: Path, gz: bool = False) -> tuple[Path, Path]:
    stamps = {f"t{i}": US + i * 1000 for i in range(5)}
    stamps.update({f"l{i}": US + i * 1000 + 2000 for i in range(5)})
    book, trades = tmp_path / "book.csv", tmp_path / "trades.csv"
    if gz:  # the book gzipped, the trades plain: both forms are read
        book = tmp_path / "book.csv.gz"
        with gzip.open(book, "wt") as f:
            f.write(BOOK.format(**stamps))
    else:
        book.write_text(BOOK.format(**stamps))
    trades.write_text(TRADES.format(**stamps))
    return book, trades


def test_incremental_book_and_trades_become_events(tmp_path):
    book, trades = files(tmp_path, gz=True)
    result = convert_tardis(book, trades, tmp_path / "out")
    assert result.counts == {"snapshots": 2, "unknown_side_trades": 1}
    assert (result.meta.symbol, result.meta.tick_size, result.meta.lot_size) == ("BTCUSDT", 0.1, 0.001)
    events = read_l2(tmp_path / "out")
    got = [(int(e // 1_000_000 - US // 1000), k, s, None if np.isnan(p) else p, q)
           for e, k, s, p, q in zip(events.ts_exchange, events.kind, events.side, events.price, events.size)]
    assert got == [
        (0, KIND_CLEAR, 0, None, 0.0),
        (0, KIND_SNAPSHOT, 1, 61800.1, 1.013), (0, KIND_SNAPSHOT, -1, 61800.2, 0.997),
        (1, KIND_DELTA, 1, 61800.1, 0.0), (1, KIND_DELTA, 1, 61799.9, 2.501),
        (2, KIND_TRADE, -1, 61799.9, 0.125),
        (3, KIND_CLEAR, 0, None, 0.0),  # a new snapshot after incremental rows resets the book
        (3, KIND_SNAPSHOT, 1, 61805.0, 0.301), (3, KIND_SNAPSHOT, -1, 61805.3, 0.412),
        (4, KIND_TRADE, 1, 61805.3, 0.011),
    ]
    assert set((events.ts_local - events.ts_exchange).tolist()) == {2_000_000}


def test_the_command_line_converts_a_book_with_its_trades(tmp_path):
    book, trades = files(tmp_path)
    result = CliRunner().invoke(convert, ["tardis", str(book), "--trades", str(trades), "--out",
                                          str(tmp_path / "ob"), "--tick-size", "0.1", "--lot-size", "0.001"])
    assert result.exit_code == 0, result.output
    assert "10 events, BTCUSDT" in result.output
    missing = CliRunner().invoke(convert, ["tardis", str(trades), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "missing column(s) is_snapshot" in missing.output
