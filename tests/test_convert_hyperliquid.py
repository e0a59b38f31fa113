"""``botmm data convert hyperliquid``: top-N ``l2Book`` snapshots become level changes, the subscription's trade
backfill and repeated trades are dropped, and the result replays."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from botmm.data.convert import convert, convert_hyperliquid
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, read_l2
from conftest import shared_file

T = 1_737_918_843_000  # exchange ms


def book(t: int, bids: dict, asks: dict) -> dict:
    levels = [[{"px": px, "sz": sz, "n": 1} for px, sz in side.items()] for side in (bids, asks)]
    return {"channel": "l2Book", "data": {"coin": "BTC", "time": t, "levels": levels}}


def trades(*items) -> dict:
    return {"channel": "trades", "data": [{"coin": "BTC", "side": side, "px": px, "sz": sz, "time": t, "tid": tid}
                                          for t, side, px, sz, tid in items]}


MESSAGES = [  # (received ms, message)
    (T + 300, book(T, {"105055.0": "3.03622", "105054.0": "0.1428"}, {"105056.0": "6.34472", "105057.0": "0.0001"})),
    (T + 400, trades((T - 50_000, "B", "105056.0", "0.00219", 1), (T - 40_000, "A", "105055.0", "0.00035", 2))),
    (T + 700, book(T + 500, {"105055.0": "3.03622", "105054.0": "0.1428"},
                   {"105056.0": "6.34472", "105057.0": "0.0001"})),  # unchanged: no rows
    (T + 900, trades((T + 600, "A", "105055.0", "1.00011", 3))),
    (T + 1000, trades((T + 600, "A", "105055.0", "1.00011", 3), (T + 650, "B", "105056.0", "0.02222", 4))),
    (T + 1300, book(T + 1000, {"105055.0": "2.03611", "105053.0": "0.5"},  # 105054 gone, 105053 new, 105055 smaller
                    {"105056.0": "6.32250", "105057.0": "0.0001"})),
]


def capture(path: Path) -> Path:
    with gzip.open(path, "wt") as f:
        for received_ms, msg in MESSAGES:
            f.write(f"{received_ms * 1_000_000} {json.dumps(msg)}\n")
    return path


def test_snapshots_become_level_changes_and_the_trade_backfill_is_dropped(tmp_path):
    result = convert_hyperliquid(capture(tmp_path / "hl.gz"), tmp_path / "out")
    assert result.counts == {"backfill_trades": 2, "duplicate_trades": 1, "ignored_messages": 0}
    assert (result.meta.symbol, result.meta.tick_size, result.meta.lot_size) == ("BTC", 1.0, 0.00001)
    events = read_l2(tmp_path / "out")
    got = [(int(e // 1_000_000 - T), k, s, None if np.isnan(p) else p, q)
           for e, k, s, p, q in zip(events.ts_exchange, events.kind, events.side, events.price, events.size)]
    assert got == [
        (0, KIND_CLEAR, 0, None, 0.0),
        (0, KIND_SNAPSHOT, 1, 105055.0, 3.03622), (0, KIND_SNAPSHOT, 1, 105054.0, 0.1428),
        (0, KIND_SNAPSHOT, -1, 105056.0, 6.34472), (0, KIND_SNAPSHOT, -1, 105057.0, 0.0001),
        (600, KIND_TRADE, -1, 105055.0, 1.00011),
        (650, KIND_TRADE, 1, 105056.0, 0.02222),
        (1000, KIND_DELTA, 1, 105054.0, 0.0),  # vanished levels go first
        (1000, KIND_DELTA, 1, 105055.0, 2.03611), (1000, KIND_DELTA, 1, 105053.0, 0.5),
        (1000, KIND_DELTA, -1, 105056.0, 6.3225),
    ]
    assert result.latency_shift_ns == 0  # receive times are after the exchange's: nothing to shift
    assert (events.ts_local - events.ts_exchange).min() == 300_000_000


def test_the_command_line_converts_a_capture(tmp_path):
    result = CliRunner().invoke(convert, ["hyperliquid", str(capture(tmp_path / "hl.gz")), "--out",
                                          str(tmp_path / "ob")])
    assert result.exit_code == 0, result.output
    assert "11 events, BTC, tick 1, lot 1e-05" in result.output and "backfill_trades: 2" in result.output
    assert (tmp_path / "ob" / "BTC" / "2025-01-26_19.parquet").is_file()


def test_the_shared_hyperliquid_capture_converts(tmp_path):
    src = shared_file("hyperliquid/btcusd_20250126.gz")
    result = convert_hyperliquid(src, tmp_path / "out")
    assert result.counts["backfill_trades"] == 30  # the first trades message predates the capture
    events = read_l2(tmp_path / "out")
    assert events.kind[0] == KIND_CLEAR and (events.kind == KIND_SNAPSHOT).sum() == 40
    assert np.all(np.diff(events.ts_exchange) >= 0) and np.all(events.ts_local >= events.ts_exchange)
