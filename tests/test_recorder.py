"""The L2 recorder in-process: messages to rows, the trade backfill, gap markers, hourly files that are always
complete, restarts, and the websocket loop against the loopback Hyperliquid server (drops and silent stalls)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from botmm.data.l2 import KIND_CLEAR, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, read_l2, read_meta
from botmm.data import HourlyStore, is_gap
from botmm.plugins.exchanges.hyperliquid.recorder import Recorder, RecorderParams, SymbolFeed
from ws_server import HLWsServer, synthetic_messages

META = L2Meta("BTC", 1.0, 1e-5, "hyperliquid")
T0_MS = 1_737_918_000_000  # 2025-01-26 19:00:00 UTC
MS = 1_000_000


def book(t_ms: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> dict:
    return {"coin": "BTC", "time": t_ms, "levels": [[{"px": p, "sz": s, "n": 1} for p, s in bids],
                                                   [{"px": p, "sz": s, "n": 1} for p, s in asks]]}


def trade(t_ms: int, side: str, px: str, sz: str) -> dict:
    return {"coin": "BTC", "side": side, "px": px, "sz": sz, "time": t_ms, "hash": "0x0", "tid": t_ms}


def rows(n: int, start_ms: int, step_ms: int) -> L2Events:
    """``n`` snapshot levels (clear first) every ``step_ms`` from ``start_ms``: simple rows for the store."""
    ts = (start_ms + np.arange(n) * step_ms) * MS
    kind = np.where(np.arange(n) % 3 == 0, KIND_CLEAR, KIND_SNAPSHOT)
    side = np.where(kind == KIND_CLEAR, 0, 1)
    price = np.where(kind == KIND_CLEAR, np.nan, 100_000.0 + np.arange(n))
    return L2Events.build(ts_exchange=ts, ts_local=ts + 3 * MS, kind=kind, side=side, price=price,
                          size=np.where(kind == KIND_CLEAR, 0.0, 0.5))


def test_a_book_message_is_a_clear_and_its_levels() -> None:
    feed = SymbolFeed(META, "BTC")
    recv = (T0_MS + 7) * MS
    assert feed.on_book(book(T0_MS, [("105055.0", "3.03622"), ("105054.0", "0.1428")],
                             [("105056.0", "6.34472")]), recv) is None
    ev = feed.take()
    assert ev.kind.tolist() == [KIND_CLEAR, KIND_SNAPSHOT, KIND_SNAPSHOT, KIND_SNAPSHOT]
    assert ev.side.tolist() == [0, 1, 1, -1]
    assert math.isnan(ev.price[0]) and ev.price[1:].tolist() == [105055.0, 105054.0, 105056.0]
    assert ev.size.tolist() == [0.0, 3.03622, 0.1428, 6.34472]
    assert set(ev.ts_exchange.tolist()) == {T0_MS * MS} and set(ev.ts_local.tolist()) == {recv}
    assert len(feed.take()) == 0  # taken once


def test_local_time_is_never_before_exchange_time() -> None:
    feed = SymbolFeed(META, "BTC")
    feed.on_book(book(T0_MS, [("1.0", "1")], [("2.0", "1")]), (T0_MS - 1300) * MS)  # local clock 1.3 s behind
    ev = feed.take()
    assert (ev.ts_local == ev.ts_exchange).all()


def test_the_first_trades_after_each_subscription_are_the_backfill_and_are_dropped() -> None:
    feed = SymbolFeed(META, "BTC")
    feed.subscribed()
    assert feed.on_trades([trade(T0_MS - 9000, "B", "105000", "0.1"), trade(T0_MS - 8000, "A", "105001", "0.2")],
                          T0_MS * MS) is None
    feed.on_trades([trade(T0_MS + 5, "B", "105057", "0.01"), trade(T0_MS + 6, "A", "105055", "0.5")],
                   (T0_MS + 10) * MS)
    ev = feed.take()
    assert ev.kind.tolist() == [KIND_TRADE, KIND_TRADE]
    assert ev.side.tolist() == [1, -1]  # "B": the buyer was the aggressor
    assert ev.price.tolist() == [105057.0, 105055.0] and ev.size.tolist() == [0.01, 0.5]
    assert ev.ts_exchange.tolist() == [(T0_MS + 5) * MS, (T0_MS + 6) * MS]
    assert feed.counts["backfill_dropped"] == 2 and feed.counts["trades"] == 2
    feed.subscribed()  # a reconnection: its backfill is dropped too
    feed.on_trades([trade(T0_MS + 6, "A", "105055", "0.5")], (T0_MS + 900) * MS)
    assert len(feed.take()) == 0 and feed.counts["backfill_dropped"] == 3


def test_a_disconnection_is_marked_where_the_data_stopped() -> None:
    feed = SymbolFeed(META, "BTC")
    feed.on_book(book(T0_MS, [("1.0", "1")], [("2.0", "1")]), (T0_MS + 5) * MS)
    feed.disconnected("ConnectionClosedError")
    gap = feed.on_book(book(T0_MS + 2500, [("1.0", "2")], [("2.0", "2")]), (T0_MS + 2505) * MS)
    assert gap is not None and gap["seconds"] == 2.5 and gap["symbol"] == "BTC"
    ev = feed.take()
    marks = np.flatnonzero(is_gap(ev))
    assert marks.tolist() == [3]  # after the first snapshot (clear + 2 levels), before the second
    assert ev.ts_exchange[3] == T0_MS * MS and ev.ts_local[3] == (T0_MS + 5) * MS  # when the book was last known
    assert ev.size[3] == 2.5 and ev.side[3] == 0 and math.isnan(ev.price[3])
    assert ev.size[4] == 0.0 and ev.kind[4] == KIND_CLEAR  # the next snapshot's own clear is not a gap
    assert feed.counts["gaps"] == 1


def test_no_gap_is_marked_before_the_first_event() -> None:
    feed = SymbolFeed(META, "BTC")
    feed.disconnected("refused")
    assert feed.on_book(book(T0_MS + 10, [("1.0", "1")], [("2.0", "1")]), (T0_MS + 11) * MS) is None
    assert not is_gap(feed.take()).any()


def test_hours_rotate_on_the_exchange_clock_and_every_file_is_complete(tmp_path: Path) -> None:
    store = HourlyStore(tmp_path, META)
    first = rows(90, T0_MS, 60_000)  # 90 minutes: 19:00 to 20:29
    notes = store.store(first)
    files = sorted((tmp_path / "BTC").glob("*.parquet"))
    assert [f.name for f in files] == ["2025-01-26_19.parquet", "2025-01-26_20.parquet"]
    assert notes == [("recorder_rotated", {"symbol": "BTC", "file": str(files[0]), "rows": 60})]
    assert len(read_l2(files[0], on_bad_data="error")) == 60
    assert len(read_l2(files[1], on_bad_data="error")) == 30  # the open hour, complete as of this store
    assert read_meta(files[0]) == META
    assert store.store(rows(10, T0_MS + 90 * 60_000, 60_000)) == []
    assert len(read_l2(files[1], on_bad_data="error")) == 40
    late = rows(1, T0_MS + 30 * 60_000, 1)  # an event for the finished 19:00 hour, arriving now
    store.store(late)
    assert store.late == 1 and len(read_l2(files[0])) == 60
    back = read_l2(files[1], on_bad_data="error")
    assert back.ts_exchange[0] == (T0_MS + 3_600_000) * MS  # moved to the start of the open hour
    assert store.store(L2Events.concat([]), final=True) == []  # the final store finishes without announcing
    assert store.open == {} and len(read_l2(tmp_path / "BTC", on_bad_data="error")) == 101
    assert not list((tmp_path / ".recording").rglob("*.parquet"))  # no temporary file left behind


def test_a_restart_resumes_the_hour_file_behind_a_gap_marker(tmp_path: Path) -> None:
    HourlyStore(tmp_path, META).store(rows(30, T0_MS, 1000), final=True)
    restarted = HourlyStore(tmp_path, META)
    notes = restarted.store(rows(30, T0_MS + 60_000, 1000), final=True)
    assert [event for event, _ in notes] == ["recorder_gap"]
    assert notes[0][1]["seconds"] == 31.0  # from the last row written (29 s) to the first new one (60 s)
    ev = read_l2(tmp_path / "BTC", on_bad_data="error")
    assert len(ev) == 61 and np.flatnonzero(is_gap(ev)).tolist() == [30]
    assert (np.diff(ev.ts_exchange) >= 0).all()


async def _record(server: HLWsServer, params: RecorderParams, metas: list[L2Meta], coins: list[str],
                  notes: list) -> dict:
    recorder = Recorder(params, metas, coins, notify=lambda event, **data: notes.append((event, data)))
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    while not server.done.is_set():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    stop.set()
    return await asyncio.wait_for(task, 10)


def test_two_coins_through_a_drop_and_a_silent_stall(tmp_path: Path) -> None:
    coins = {"ETH": 3000.0, "BTC": 100_000.0}
    stream, backfill = synthetic_messages(coins, 40, T0_MS, 250)
    drop, stall = 25, 70  # message indices: a reset connection, then a connection that goes silent
    server = HLWsServer(stream, backfill, interval_s=0.01, drop_at=[drop], stall_at=[stall], stall_s=1.5,
                        live_times=True)
    params = RecorderParams(ws_url=server.start(), root=str(tmp_path), flush_seconds=0.3, reconnect_min_s=0.05,
                            ping_seconds=0.2, stale_seconds=0.6)
    metas = [L2Meta("ETH", 0.1, 1e-4, "hyperliquid"), L2Meta("BTC", 1.0, 1e-5, "hyperliquid")]
    notes: list = []
    try:
        result = asyncio.run(_record(server, params, metas, list(coins), notes))
    finally:
        server.stop()
    events = [event for event, _ in notes]
    assert result["reconnects"] >= 2 and events.count("recorder_connected") == result["reconnects"] + 1
    assert {d["reason"] for e, d in notes if e == "recorder_disconnected"} == {
        "ConnectionClosedError: no close frame received or sent", "TimeoutError: no message for 0.6s"}
    assert result["backfill_dropped"] == sum(len(b) for b in server.backfills_sent) > 0
    for coin in coins:
        ev = read_l2(tmp_path / coin, on_bad_data="error")
        books = server.delivered("l2Book", coin)
        snapshot_clears = (ev.kind == KIND_CLEAR) & (ev.size == 0)
        assert ev.ts_exchange[snapshot_clears].tolist() == [p.message["data"]["time"] * MS for p in books]
        live = [t for p in server.delivered("trades", coin) for t in p.message["data"]]
        trades = ev.kind == KIND_TRADE
        assert sorted(zip(ev.ts_exchange[trades].tolist(), ev.price[trades].tolist())) == sorted(
            (t["time"] * MS, float(t["px"])) for t in live)
        gaps = np.flatnonzero(is_gap(ev))
        assert len(gaps) == 2, coin
        lost = [p for p in server.log if not p.delivered]
        assert lost, "the drop and the stall lost messages"
        for g in gaps:  # each marker sits at the last event before the gap and spans it
            before, after = ev.ts_exchange[g - 1], ev.ts_exchange[g + 1]
            assert ev.ts_exchange[g] == before and ev.size[g] == pytest.approx((after - before) / 1e9, abs=1e-3)
    assert result["gaps"] == 4 and result["rows"] == {c: len(read_l2(tmp_path / c)) for c in coins}
