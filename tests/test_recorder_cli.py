"""``botmm record`` end to end against the loopback Hyperliquid websocket server: what it writes ``botmm replay``
replays; a dropped connection is reconnected and marked; SIGKILL loses at most ``flush_seconds`` of the open hour.

The stream is the real capture ``../shared/data/hyperliquid/btcusd_20250126.gz`` when present (or where
``$BOTMM_SHARED_DATA`` points), synthetic messages otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from jobs import wait_for
from botmm.data.l2 import KIND_CLEAR, KIND_TRADE, hour_name, read_l2
from botmm.data import is_gap
from botmm.errors import DataError
from ws_server import HLWsServer, capture_messages, synthetic_messages
from conftest import shared_file_or_none

BOTMM = [sys.executable, "-c", "from botmm.cli import main; main()"]
CAPTURE = "hyperliquid/btcusd_20250126.gz"
MS = 1_000_000


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["COLUMNS"] = "250"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _record(tmp_path: Path, url: str, *overrides: str) -> subprocess.Popen:
    out = (tmp_path / "record.out").open("w")
    return subprocess.Popen([*BOTMM, "record", f"ws_url={url}", f"root={tmp_path / 'data'}", "flush_seconds=1",
                             "reconnect_min_s=0.1", f"hydra.run.dir={tmp_path / 'rec'}", *overrides],
                            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT, text=True)


def _books_recorded(folder: Path) -> int:
    """Book snapshots the recorder has flushed to ``folder`` so far (-1 while nothing readable is there)."""
    try:
        ev = read_l2(folder, on_bad_data="error")
    except (DataError, OSError, ValueError):  # not there yet, or a file half written
        return -1
    return int(((ev.kind == KIND_CLEAR) & (ev.size == 0)).sum())


def test_record_reconnects_marks_the_gap_and_replays(tmp_path: Path) -> None:
    capture = shared_file_or_none(CAPTURE)
    if capture is not None:
        stream, backfill = capture_messages(capture)
    else:
        stream, backfill = synthetic_messages({"BTC": 105_000.0}, 36, 0, 700)
    drop = len(stream) // 2
    server = HLWsServer(stream, backfill, interval_s=0.05, drop_at=[drop], live_times=True)
    url = server.start()
    proc = _record(tmp_path, url, "asset=btc")
    try:
        assert server.done.wait(60), (tmp_path / "record.out").read_text()
        assert wait_for(lambda: _books_recorded(tmp_path / "data" / "BTC") == len(server.delivered("l2Book")), 30,
                        every=0.3), (tmp_path / "record.out").read_text()  # a flush after the last message
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    output = (tmp_path / "record.out").read_text()
    assert code == 0, output
    assert "Traceback" not in output and "botmm record BTC" in output

    ev = read_l2(tmp_path / "data" / "BTC", on_bad_data="error")
    books = server.delivered("l2Book")
    assert any(not p.delivered for p in server.log), "the drop lost no message"
    snapshot = (ev.kind == KIND_CLEAR) & (ev.size == 0)
    assert ev.ts_exchange[snapshot].tolist() == [p.message["data"]["time"] * MS for p in books]
    live = [t for p in server.delivered("trades") for t in p.message["data"]]
    trades = ev.kind == KIND_TRADE
    assert sorted(zip(ev.ts_exchange[trades].tolist(), ev.price[trades].tolist(), ev.size[trades].tolist(),
                      ev.side[trades].tolist())) == sorted(
        (t["time"] * MS, float(t["px"]), float(t["sz"]), 1 if t["side"] == "B" else -1) for t in live)
    (gap,) = np.flatnonzero(is_gap(ev))
    times = {p.index: (p.message["data"]["time"] if p.message["channel"] == "l2Book"
                       else max(t["time"] for t in p.message["data"])) for p in server.log if p.delivered}
    last_before = max(t for i, t in times.items() if i <= drop)
    first_after = min(t for i, t in times.items() if i > drop)
    assert ev.ts_exchange[gap] == last_before * MS
    assert 0 < ev.size[gap] <= (first_after - last_before) / 1e3 + 1e-9

    job = tmp_path / "rec"
    result = json.loads((job / "result.json").read_text())
    assert result["reconnects"] == 1 and result["gaps"] == 1 and result["rows"] == {"BTC": len(ev)}
    assert result["backfill_dropped"] == sum(len(b) for b in server.backfills_sent)
    log = (job / "botmm.log").read_text()
    for said in ("record started: BTC", "recorder disconnected", "reconnect #1", "gap of", "record ended"):
        assert said in log, said

    replay = subprocess.run([*BOTMM, "replay", "feed=l2_file", f"feed.path={tmp_path / 'data' / 'BTC'}", "asset=btc",
                             f"hydra.run.dir={tmp_path / 'rep'}"], cwd=tmp_path, env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert replayed["symbol"] == "BTC" and replayed["ticks"] >= 10
    assert ev.ts_exchange[0] // MS <= replayed["start_ms"] and replayed["end_ms"] <= ev.ts_local[-1] // MS + 100


def test_sigkill_keeps_finished_hours_and_the_open_one_to_the_last_flush(tmp_path: Path) -> None:
    hour_ms = 3_600_000
    start = (int(time.time() * 1000) // hour_ms - 8) * hour_ms  # exchange time runs a minute per message
    stream, backfill = synthetic_messages({"ETH": 3000.0, "BTC": 100_000.0}, 420, start, 60_000, levels=3)
    server = HLWsServer(stream, backfill, interval_s=0.006)
    url = server.start()
    proc = _record(tmp_path, url, "asset=[eth,btc]")
    try:
        assert wait_for(lambda: len(server.log) > 700, 60), (tmp_path / "record.out").read_text()
        proc.send_signal(signal.SIGKILL)
        killed = time.time_ns()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    flushed_by = killed - int(1.8e9)  # flush_seconds=1, plus the time a flush takes to write under load
    for coin in ("ETH", "BTC"):
        files = sorted((tmp_path / "data" / coin).glob("*.parquet"))
        assert len(files) >= 4, files  # hours rotated: finished files, and the open one
        # every file reads, finished or open (exchange time runs ahead: latencies of hours are expected)
        kept = read_l2(files[0].parent, on_bad_data="error", max_latency_ns=None)
        clears = kept.ts_exchange[(kept.kind == KIND_CLEAR) & (kept.size == 0)]
        books = server.delivered("l2Book", coin)
        for f in files[:-1]:  # finished hours are whole
            expected = [t * MS for t in (p.message["data"]["time"] for p in books) if hour_name(t * MS) == f.stem]
            assert expected and [t for t in clears.tolist() if hour_name(t) == f.stem] == expected, f
        due = [p.message["data"]["time"] * MS for p in books if p.wall_ns <= flushed_by]
        assert set(due) <= set(clears.tolist()), "data older than the last flush was lost"
        assert set(clears.tolist()) <= {p.message["data"]["time"] * MS for p in books}
    log = (tmp_path / "rec" / "botmm.log").read_text()  # each line names its symbol
    assert " ETH botmm.notify: file finished: " in log and " BTC botmm.notify: file finished: " in log
