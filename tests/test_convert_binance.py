"""``botmm data convert binance``: REST snapshot + depth diffs + trades, with Binance's update-id rules or
hftbacktest's converter semantics, a non-negative feed latency, and the command line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from botmm.data.convert import convert, convert_binance, infer_step
from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, read_l2, read_meta
from botmm.errors import DataError
from conftest import shared_file

T = 1_722_470_400_000  # exchange ms
SKEW = 1_000_000_000  # the recorder's clock runs 1 s behind the exchange's


def depth(t: int, first: int, last: int, prev: int, bids=(), asks=()) -> dict:
    return {"stream": "btcusdt@depth@0ms", "data": {"e": "depthUpdate", "E": t + 5, "T": t, "s": "BTCUSDT",
                                                    "U": first, "u": last, "pu": prev, "b": list(bids),
                                                    "a": list(asks)}}


def trade(t: int, price: str, qty: str, seller_aggressor: bool, kind: str = "MARKET") -> dict:
    return {"stream": "btcusdt@trade", "data": {"e": "trade", "E": t, "T": t, "s": "BTCUSDT", "t": t, "p": price,
                                                "q": qty, "X": kind, "m": seller_aggressor}}


SNAPSHOT = {"lastUpdateId": 100, "E": T + 2, "T": T + 1, "bids": [["100.00", "1.013"], ["99.90", "0.997"]],
            "asks": [["100.10", "1.021"], ["100.20", "0.999"]]}
MESSAGES = [  # (received, message), in arrival order
    (T, depth(T, 90, 95, 89, bids=[["100.00", "3.001"]])),  # older than the snapshot: dropped
    (T + 1, trade(T + 1, "100.10", "0.503", False)),
    (T + 2, depth(T + 2, 96, 101, 95, bids=[["100.00", "2.004"]])),  # bridges the snapshot, received before it
    (T + 3, SNAPSHOT),
    (T + 4, depth(T + 3, 102, 105, 101, asks=[["100.10", "0.000"]])),
    (T + 5, trade(T + 4, "100.00", "0.201", True)),
    (T + 6, trade(T + 4, "100.00", "0.100", True, kind="INSURANCE_FUND")),
    (T + 7, {"stream": "btcusdt@bookTicker", "data": {"e": "bookTicker", "b": "100.0", "a": "100.2"}}),
]


def capture(path: Path, messages=MESSAGES) -> Path:
    with gzip.open(path, "wt") as f:
        for received_ms, msg in messages:
            f.write(f"{received_ms * 1_000_000 - SKEW + 300_000} {json.dumps(msg)}\n")
    return path


def rows(events) -> list[tuple]:
    return [(int(e - T * 1_000_000) // 1_000_000, k, s, None if np.isnan(p) else round(p, 2), round(q, 3))
            for e, k, s, p, q in zip(events.ts_exchange, events.kind, events.side, events.price, events.size)]


def test_update_id_rules_drop_old_diffs_and_apply_buffered_ones_after_the_snapshot(tmp_path):
    result = convert_binance(capture(tmp_path / "cap.gz"), tmp_path / "out")
    assert result.counts == {"ignored_messages": 1, "non_market_trades": 1, "diffs_before_snapshot": 1,
                             "sequence_gaps": 0}
    assert (result.meta.symbol, result.meta.tick_size, result.meta.lot_size) == ("BTCUSDT", 0.1, 0.001)
    events = read_l2(tmp_path / "out")
    assert rows(events) == [
        (1, KIND_TRADE, 1, 100.1, 0.503),
        (1, KIND_CLEAR, 0, None, 0.0),
        (1, KIND_SNAPSHOT, 1, 100.0, 1.013), (1, KIND_SNAPSHOT, 1, 99.9, 0.997),
        (1, KIND_SNAPSHOT, -1, 100.1, 1.021), (1, KIND_SNAPSHOT, -1, 100.2, 0.999),
        (2, KIND_DELTA, 1, 100.0, 2.004),
        (3, KIND_DELTA, -1, 100.1, 0.0),
        (4, KIND_TRADE, -1, 100.0, 0.201),
    ]
    latency = (events.ts_local - events.ts_exchange) // 1_000_000
    assert latency.min() == 0  # the 1 s skew is shifted away: the fastest message has latency 0
    assert result.latency_shift_ns == SKEW - 300_000  # the smallest received - T was -(1 s - 0.3 ms)
    snapshot_local = events.ts_local[1]
    assert events.ts_local[6] == snapshot_local  # the bridging diff is applied when the snapshot has arrived


def test_hftbacktest_semantics_keep_every_diff_and_clear_each_side_out_to_the_snapshot_depth(tmp_path):
    convert_binance(capture(tmp_path / "cap.gz"), tmp_path / "out", sequence="none")
    events = read_l2(tmp_path / "out")
    assert rows(events) == [
        (0, KIND_DELTA, 1, 100.0, 3.001),
        (1, KIND_TRADE, 1, 100.1, 0.503),
        (1, KIND_CLEAR, 1, 99.9, 0.0), (1, KIND_SNAPSHOT, 1, 100.0, 1.013), (1, KIND_SNAPSHOT, 1, 99.9, 0.997),
        (1, KIND_CLEAR, -1, 100.2, 0.0), (1, KIND_SNAPSHOT, -1, 100.1, 1.021), (1, KIND_SNAPSHOT, -1, 100.2, 0.999),
        (2, KIND_DELTA, 1, 100.0, 2.004),
        (3, KIND_DELTA, -1, 100.1, 0.0),
        (4, KIND_TRADE, -1, 100.0, 0.201),
    ]
    assert np.all(np.diff(events.ts_exchange) >= 0)


def test_a_break_in_the_update_id_chain_is_an_error_or_a_counted_gap(tmp_path):
    broken = [*MESSAGES[:4], (T + 4, depth(T + 3, 110, 115, 109, asks=[["100.10", "0.000"]]))]
    path = capture(tmp_path / "cap.gz", broken)
    with pytest.raises(DataError, match=r"line 5: sequence gap .*pu=101"):
        convert_binance(path, tmp_path / "out")
    result = convert_binance(path, tmp_path / "out", on_gap="repair")
    assert result.counts["sequence_gaps"] == 1
    first = [*MESSAGES[3:4], (T + 4, depth(T + 3, 102, 105, 101))]  # the first diff kept must span lastUpdateId
    with pytest.raises(DataError, match=r"expected U <= 100 <= u"):
        convert_binance(capture(tmp_path / "c2.gz", first), tmp_path / "out2")


def test_a_capture_without_snapshot_or_with_bad_lines_is_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="no REST depth snapshot"):
        convert_binance(capture(tmp_path / "a.gz", [MESSAGES[0]]), tmp_path / "out")
    bad = tmp_path / "b.gz"
    with gzip.open(bad, "wt") as f:
        f.write("1722470400000000000 {not json\n")
    with pytest.raises(DataError, match="line 1: not JSON"):
        convert_binance(bad, tmp_path / "out")



def test_a_capture_without_snapshot_is_refused_before_its_lines_are_parsed(tmp_path):
    """A continuation file given alone fails at once: the snapshot is looked for in the raw lines, so a bad line
    after the first (which is parsed, to tell a capture from anything else) is never reached."""
    src = capture(tmp_path / "continuation.gz", [MESSAGES[4]])
    with gzip.open(src, "at") as f:
        f.write("1722470400000000001 {not json\n")
    with pytest.raises(DataError, match=r"continuation.gz: no REST depth snapshot .*\(convert binance first.gz"):
        convert_binance(src, tmp_path / "out")


def test_the_command_line_writes_the_dataset_and_reports_what_it_did(tmp_path):
    src = capture(tmp_path / "cap.gz")
    out = tmp_path / "orderbook"
    result = CliRunner().invoke(convert, ["binance", str(src), "--out", str(out), "--base-latency", "2ms"])
    assert result.exit_code == 0, result.output
    assert "9 events, BTCUSDT, tick 0.1, lot 0.001" in result.output
    assert "diffs_before_snapshot: 1" in result.output
    events = read_l2(out / "BTCUSDT")
    assert ((events.ts_local - events.ts_exchange).min()) == 2_000_000
    assert read_meta(out).source.startswith("binance_usdm cap.gz")
    failed = CliRunner().invoke(convert, ["binance", str(capture(tmp_path / "x.gz", [MESSAGES[0]])),
                                          "--out", str(out)])
    assert failed.exit_code == 1 and "no REST depth snapshot" in failed.output


def test_steps_are_inferred_from_the_values():
    assert infer_step(np.array([61800.2, 61800.1, 61799.9])) == 0.1
    assert infer_step(np.array([105055.0, 105040.0])) == 5.0
    assert infer_step(np.array([0.00219, 0.0001])) == 0.00001
    assert infer_step(np.array([0.5, 1.5, 0.0])) == 0.5


def test_the_shared_binance_capture_converts_to_the_same_events_hftbacktest_sees(tmp_path):
    src = shared_file("binance_usdm/btcusdt_20240808.gz")
    none = convert_binance(src, tmp_path / "none", sequence="none")
    assert none.rows == 466_836  # one row per source event: hftbacktest's EXCH-flagged rows
    assert none.latency_shift_ns == 1_272_156_851  # what hftbacktest's correct_local_timestamp removes
    binance = convert_binance(src, tmp_path / "binance")
    assert binance.counts["sequence_gaps"] == 0 and binance.counts["diffs_before_snapshot"] == 4
    assert binance.rows == 466_836 - 262 + 2  # 4 old diffs (262 levels) dropped; one clear instead of two
    assert [p.name for p in binance.paths] == ["2024-08-08_23.parquet", "2024-08-09_00.parquet"]


def spot_depth(t: int, first: int, last: int, bids=(), asks=()) -> dict:
    """A spot ``depth@100ms`` diff: event time ``E`` only, no ``T`` and no ``pu``."""
    return {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": t, "s": "BTCUSDT", "U": first,
                                                      "u": last, "b": list(bids), "a": list(asks)}}


SPOT_FIRST = [
    (T, spot_depth(T, 90, 99, bids=[["100.00", "3.00001"]])),  # covered by the snapshot: dropped, its E dates it
    (T + 2, spot_depth(T + 100, 100, 104, bids=[["100.00", "2.00004"]])),  # spans lastUpdateId + 1
    (T + 3, {"lastUpdateId": 99, "bids": [["100.00", "1.00013"]], "asks": [["100.10", "1.00021"]]}),
    (T + 4, trade(T + 150, "100.10", "0.50003", False)),
]
SPOT_CONTINUED = [(T + 200, spot_depth(T + 200, 105, 107, asks=[["100.10", "0.00000"]]))]


def test_a_spot_capture_converts_with_spot_rules_and_its_continuation_with_it(tmp_path):
    first, second = capture(tmp_path / "day1.gz", SPOT_FIRST), capture(tmp_path / "day2.gz", SPOT_CONTINUED)
    with pytest.raises(DataError, match="no REST depth snapshot .* together with the file before it"):
        convert_binance(second, tmp_path / "alone")
    result = convert_binance([first, second], tmp_path / "out")
    assert (result.meta.tick_size, result.meta.lot_size) == (0.01, 0.00001)  # Binance's spot BTCUSDT steps
    assert result.meta.source == "binance_spot day1.gz + day2.gz sequence=binance"
    assert result.counts["diffs_before_snapshot"] == 1 and result.counts["sequence_gaps"] == 0
    events = read_l2(tmp_path / "out" / "BTCUSDT")
    assert rows(events) == [
        (0, KIND_CLEAR, 0, None, 0.0),  # the snapshot, at the E of the last diff it covers
        (0, KIND_SNAPSHOT, 1, 100.0, 1.0), (0, KIND_SNAPSHOT, -1, 100.1, 1.0),
        (100, KIND_DELTA, 1, 100.0, 2.0),
        (150, KIND_TRADE, 1, 100.1, 0.5),
        (200, KIND_DELTA, -1, 100.1, 0.0),  # from the continuation file
    ]
    broken = [*SPOT_FIRST, (T + 200, spot_depth(T + 200, 106, 107))]  # U should be 105
    with pytest.raises(DataError, match=r"sequence gap .*expected U=105"):
        convert_binance(capture(tmp_path / "gap.gz", broken), tmp_path / "gap")


def test_the_shared_spot_captures_convert_as_one_stream(tmp_path):
    first, second = shared_file("binance_spot/btcusdt_20240808.gz"), shared_file("binance_spot/btcusdt_20240809.gz")
    with pytest.raises(DataError, match="btcusdt_20240809.gz: no REST depth snapshot"):
        convert_binance(second, tmp_path / "alone")
    result = convert_binance([first, second], tmp_path / "out")
    assert (result.meta.symbol, result.meta.tick_size, result.meta.lot_size) == ("BTCUSDT", 0.01, 0.00001)
    assert result.counts["sequence_gaps"] == 0
    events = read_l2(tmp_path / "out" / "BTCUSDT")
    assert (events.ts_local >= events.ts_exchange).all()  # the recorder's 1.27 s lag is shifted out
    assert result.latency_shift_ns > 1_000_000_000
