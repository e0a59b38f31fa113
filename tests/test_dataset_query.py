"""The cross-symbol query of docs/data.md, as printed there, in pyarrow, duckdb and polars, over an L2 dataset of two
symbols: each tool gets each symbol's trades, hour by hour, and the three agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botmm.data.l2 import HOUR_NS, KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, write_l2

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"
H0 = 1_722_470_400 * 1_000_000_000  # 2024-08-01 00:00 UTC, ns
MS = 1_000_000
NAN = float("nan")

# symbol -> trades (ns after H0, price, size): BTCUSDT trades in hours 0 and 1, ETH in hour 0 only
TRADES = {
    "BTCUSDT": [(5 * MS, 100.0, 1.0), (9 * MS, 102.0, 3.0), (HOUR_NS + MS, 110.0, 0.5)],
    "ETH": [(7 * MS, 10.0, 2.0), (8 * MS, 11.0, 2.0)],
}
EXPECTED = [  # (symbol, hour after H0, trades, volume, vwap)
    ("BTCUSDT", 0, 2, 4.0, (100.0 * 1.0 + 102.0 * 3.0) / 4.0),
    ("BTCUSDT", 1, 1, 0.5, 110.0),
    ("ETH", 0, 2, 4.0, 10.5),
]


def doc_block(tool: str) -> str:
    """The code block that follows the line naming ``tool`` in docs/data.md's "One query, three tools"."""
    section = DOC.read_text().split("## One query, three tools", 1)[1]
    match = re.search(rf"^{tool}\n\n```\w*\n(.*?)```", section, re.S | re.M)
    assert match, f"docs/data.md: no {tool} block"
    return match.group(1)


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``data/orderbook`` under the working directory, as the docs' queries name it: two symbols' hour files."""
    for symbol, trades in TRADES.items():
        rows = [(H0, KIND_CLEAR, 0, NAN, 0.0), (H0, KIND_SNAPSHOT, 1, 99.0, 1.0), (H0, KIND_SNAPSHOT, -1, 101.0, 1.0)]
        rows += [(H0 + t, KIND_TRADE, 1, price, size) for t, price, size in trades]
        ts, kind, side, price, size = zip(*rows)
        events = L2Events.build(ts_exchange=ts, ts_local=ts, kind=kind, side=side, price=price, size=size)
        write_l2(events, tmp_path / "data" / "orderbook", L2Meta(symbol, 0.1, 0.001, "test"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data" / "orderbook"


def rows(symbols, hours, trades, volumes, vwaps) -> list[tuple]:
    """(symbol, hour after H0, trades, volume, vwap) rows, hours given as ns since the epoch."""
    return [(str(s), (int(h) - H0) // HOUR_NS, int(n), pytest.approx(v), pytest.approx(w))
            for s, h, n, v, w in zip(symbols, hours, trades, volumes, vwaps)]


def test_the_duckdb_query_gets_each_symbols_rows(dataset):
    import duckdb
    found = duckdb.sql(doc_block("duckdb")).fetchall()
    assert rows(*zip(*[(s, h.timestamp() * 1e9, n, v, w) for s, h, n, v, w in found])) == EXPECTED


def test_the_polars_query_gets_each_symbols_rows(dataset):
    namespace: dict = {}
    exec(doc_block("polars"), namespace)
    hourly = namespace["hourly"]
    assert rows(hourly["symbol"].cast(str).to_list(), hourly["hour"].dt.epoch("ns").to_list(),
                hourly["trades"].to_list(), hourly["volume"].to_list(), hourly["vwap"].to_list()) == EXPECTED


def test_the_pyarrow_query_gets_each_symbols_rows(dataset):
    import pyarrow as pa

    namespace: dict = {}
    exec(doc_block("pyarrow"), namespace)
    hourly = namespace["hourly"]
    found = sorted(zip(hourly["symbol"].to_pylist(), hourly["hour"].cast(pa.int64()).to_pylist(),
                       hourly["size_count"].to_pylist(), hourly["size_sum"].to_pylist(),
                       [n / v for n, v in zip(hourly["notional_sum"].to_pylist(), hourly["size_sum"].to_pylist())]))
    assert rows(*zip(*found)) == EXPECTED
