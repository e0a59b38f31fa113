import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmm.data.candles import (
    REPAIRS,
    Repairs,
    load_candles,
    parse_repair,
    read_candles,
    table_candles,
    write_candles_parquet,
    _numpy,
)
from botmm.data.synthetic import SyntheticParams, synthetic_candles
from botmm.errors import ConfigError, DataError
from botmm.model import CANDLE_ARRAYS
from candle_servers import run_botmm
from conftest import shared_file, shared_file_or_none

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC in ms
HEADER = "ts,open,high,low,close,volume\n"
ROWS = [
    (100.0, 101.0, 99.5, 100.5, 2.0),
    (100.5, 102.0, 100.0, 101.5, 3.0),
    (101.5, 101.5, 98.0, 99.0, 5.0),
]
FTX_NAME = "ftx_btc-perp_20211231-20220201_1m.csv"
BAD_ROW = " (repair: drop_bad_rows)"


def write_csv(path: Path, stamps: list, rows: list = ROWS, header: str = HEADER) -> Path:
    lines = [",".join(map(str, (ts, *row))) for ts, row in zip(stamps, rows, strict=True)]
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def ms_stamps(n: int = 3) -> list[int]:
    return [T0 + i * 60_000 for i in range(n)]


def read_error(path: Path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_candles(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_reads_csv_values(tmp_path: Path) -> None:
    c = read_candles(write_csv(tmp_path / "c.csv", ms_stamps()))
    assert len(c) == 3
    assert c.ts.dtype == np.int64
    np.testing.assert_array_equal(c.ts, ms_stamps())
    np.testing.assert_array_equal(c.open, [100.0, 100.5, 101.5])
    np.testing.assert_array_equal(c.high, [101.0, 102.0, 101.5])
    np.testing.assert_array_equal(c.low, [99.5, 100.0, 98.0])
    np.testing.assert_array_equal(c.close, [100.5, 101.5, 99.0])
    np.testing.assert_array_equal(c.volume, [2.0, 3.0, 5.0])
    np.testing.assert_array_equal(c.bid, c.close)
    np.testing.assert_array_equal(c.ask, c.close)
    assert all(getattr(c, name).dtype == np.float64 for name in CANDLE_ARRAYS[1:])
    assert c.bar_ms == 60_000


def test_accepts_path_as_str(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ms_stamps())
    np.testing.assert_array_equal(read_candles(str(path)).close, [100.5, 101.5, 99.0])


@pytest.mark.parametrize(
    ("stamps", "unit"),
    [
        ([1_704_067_200, 1_704_067_260, 1_704_067_320], "auto"),
        ([1_704_067_200, 1_704_067_260, 1_704_067_320], "s"),
        (ms_stamps(), "auto"),
        (ms_stamps(), "ms"),
        ([t * 1000 for t in ms_stamps()], "auto"),
        ([t * 1000 for t in ms_stamps()], "us"),
        ([t * 1_000_000 for t in ms_stamps()], "auto"),
        ([t * 1_000_000 for t in ms_stamps()], "ns"),
        ([1_704_067_200.0, 1_704_067_260.0, 1_704_067_320.0], "auto"),
        (["2024-01-01 00:00:00", "2024-01-01 00:01:00", "2024-01-01 00:02:00"], "auto"),
        (["2024-01-01 00:00:00.000000", "2024-01-01 00:01:00.000000", "2024-01-01 00:02:00.000000"], "auto"),
        (["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"], "auto"),
        (["2024-01-01T01:00:00+01:00", "2024-01-01T01:01:00+01:00", "2024-01-01T01:02:00+01:00"], "auto"),
        (["2024-01-01T00:00:00", "2024-01-01T02:01:00+02:00", "2023-12-31T19:02:00-05:00"], "auto"),
    ],
)
def test_timestamp_forms_give_the_same_ms(tmp_path: Path, stamps: list, unit: str) -> None:
    c = read_candles(write_csv(tmp_path / "c.csv", stamps), ts_unit=unit)
    np.testing.assert_array_equal(c.ts, ms_stamps())


def test_sub_millisecond_stamps_are_truncated(tmp_path: Path) -> None:
    stamps = [t * 1_000_000 + 999_999 for t in ms_stamps()]
    np.testing.assert_array_equal(read_candles(write_csv(tmp_path / "c.csv", stamps)).ts, ms_stamps())


def test_date_only_stamps_are_midnight_utc(tmp_path: Path) -> None:
    c = read_candles(write_csv(tmp_path / "d.csv", ["2024-01-01", "2024-01-02", "2024-01-03"]))
    np.testing.assert_array_equal(c.ts, [T0, T0 + 86_400_000, T0 + 2 * 86_400_000])
    assert c.bar_ms == 86_400_000


def test_timestamp_column_is_an_alias_for_ts(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ms_stamps(), header=HEADER.replace("ts,", "timestamp,"))
    np.testing.assert_array_equal(read_candles(path).ts, ms_stamps())


def test_column_mapping(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ms_stamps(), header="time,o,h,l,c,vol\n")
    mapping = {"ts": "time", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "vol"}
    c = read_candles(path, columns=mapping)
    np.testing.assert_array_equal(c.close, [100.5, 101.5, 99.0])
    np.testing.assert_array_equal(c.volume, [2.0, 3.0, 5.0])


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    rows = [(*row, 7) for row in ROWS]
    path = write_csv(tmp_path / "c.csv", ms_stamps(), rows, header=HEADER.rstrip("\n") + ",trades\n")
    np.testing.assert_array_equal(read_candles(path).volume, [2.0, 3.0, 5.0])


def test_quote_volume_becomes_base(tmp_path: Path) -> None:
    c = read_candles(write_csv(tmp_path / "c.csv", ms_stamps()), volume_unit="quote")
    np.testing.assert_allclose(c.volume, [2.0 / 100.5, 3.0 / 101.5, 5.0 / 99.0], rtol=1e-15)


def test_bar_ms_is_the_median_spacing_unless_given(tmp_path: Path) -> None:
    stamps = [T0, T0 + 60_000, T0 + 120_000, T0 + 240_000]
    path = write_csv(tmp_path / "gap.csv", stamps, [*ROWS, ROWS[0]])
    assert read_candles(path, repair="fill_gaps").bar_ms == 60_000
    assert read_candles(write_csv(tmp_path / "c.csv", ms_stamps()), bar_ms=30_000, repair="fill_gaps").bar_ms == 30_000


def test_gzipped_csv(tmp_path: Path) -> None:
    text = write_csv(tmp_path / "c.csv", ms_stamps()).read_bytes()
    path = tmp_path / "c.csv.gz"
    path.write_bytes(gzip.compress(text))
    np.testing.assert_array_equal(read_candles(path).close, [100.5, 101.5, 99.0])


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_round_trip(tmp_path: Path, suffix: str) -> None:
    original = synthetic_candles(SyntheticParams(seed=3), 2000)
    path = tmp_path / f"c{suffix}"
    write_candles_parquet(original, path)
    schema = pq.read_schema(path)
    assert schema.names == ["ts", "open", "high", "low", "close", "volume"]
    assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert all(schema.field(name).type == pa.float64() for name in schema.names[1:])
    back = read_candles(path)
    assert back.bar_ms == original.bar_ms
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(back, name), getattr(original, name), err_msg=name)
    assert back.ts.dtype == np.int64
    np.testing.assert_array_equal(back.bid, original.close)
    np.testing.assert_array_equal(back.ask, original.close)


@pytest.mark.parametrize(
    "ts_type", [pa.timestamp("ns"), pa.timestamp("us", tz="UTC"), pa.timestamp("s", tz="Asia/Tokyo")]
)
def test_parquet_arrow_timestamps_are_utc_instants(tmp_path: Path, ts_type: pa.DataType) -> None:
    per_unit = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[ts_type.unit]
    seconds = np.array(ms_stamps()) // 1000
    columns = {"timestamp": pa.array(seconds * per_unit, type=ts_type)}
    for i, name in enumerate(["open", "high", "low", "close", "volume"]):
        columns[name] = pa.array([row[i] for row in ROWS])
    pq.write_table(pa.table(columns), tmp_path / "c.parquet")
    np.testing.assert_array_equal(read_candles(tmp_path / "c.parquet").ts, ms_stamps())


def test_reads_real_ftx_file() -> None:
    path = shared_file(f"candles/{FTX_NAME}")
    c = read_candles(path, volume_unit="quote")
    assert len(c) == 45_031
    assert c.ts[0] == 1_640_991_660_000  # 2021-12-31 23:01 UTC
    assert c.ts[-1] == c.ts[0] + 45_030 * 60_000
    assert c.bar_ms == 60_000
    assert (c.open[0], c.high[0], c.low[0], c.close[0]) == (46319.0, 46385.0, 46319.0, 46377.0)
    assert c.volume[0] == pytest.approx(2300413.7295 / 46377.0, rel=1e-12)


# --- malformed files: one DataError line naming the file and the problem ---


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in read_error(tmp_path / "nope.csv")


def test_unknown_suffix(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.txt", ms_stamps())
    message = read_error(path)
    assert "unknown candle file type (.txt)" in message
    assert ".parquet" in message


def test_missing_column_lists_the_columns_that_exist(tmp_path: Path) -> None:
    rows = [(o, h, c, v) for o, h, _, c, v in ROWS]
    message = read_error(write_csv(tmp_path / "c.csv", ms_stamps(), rows, header="ts,open,high,close,volume\n"))
    assert "missing column(s) 'low'" in message
    assert "'ts', 'open', 'high', 'close', 'volume'" in message


def test_mapped_column_missing(tmp_path: Path) -> None:
    message = read_error(write_csv(tmp_path / "c.csv", ms_stamps()), columns={"close": "Close"})
    assert "missing column(s) 'Close'" in message


def test_unknown_mapping_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="price"):
        read_candles(write_csv(tmp_path / "c.csv", ms_stamps()), columns={"price": "close"})


@pytest.mark.parametrize(("kwargs", "key"), [({"ts_unit": "min"}, "ts_unit"), ({"volume_unit": "usd"}, "volume_unit")])
def test_bad_units_are_config_errors(tmp_path: Path, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        read_candles(write_csv(tmp_path / "c.csv", ms_stamps()), **kwargs)


def test_non_numeric_price_names_column_row_and_text(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + f"{T0},1,2,1,1.5,1\n{T0 + 60_000},1,2,1,1.5,1\n{T0 + 120_000},1,2,1,abc,1\n")
    assert read_error(path).endswith("column 'close' row 2: non-numeric value 'abc' (repair: drop_bad_rows)")


@pytest.mark.parametrize("cell", ["NaN", "nan", ""])
def test_nan_price(tmp_path: Path, cell: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + f"{T0},1,2,1,1.5,1\n{T0 + 60_000},1,2,{cell},1.5,1\n")
    assert "column 'low' row 1: price is NaN" in read_error(path)


def test_nan_price_in_parquet(tmp_path: Path) -> None:
    candles = synthetic_candles(SyntheticParams(), 10)
    candles.high[4] = np.nan
    write_candles_parquet(candles, tmp_path / "c.parquet")
    assert "column 'high' row 4: price is NaN" in read_error(tmp_path / "c.parquet")


@pytest.mark.parametrize("price", ["0", "-3.5"])
def test_non_positive_price(tmp_path: Path, price: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + f"{T0},1,2,1,1.5,1\n{T0 + 60_000},{price},2,1,1.5,1\n")
    assert f"column 'open' row 1: price {float(price)!r} is not positive" in read_error(path)


def test_high_below_low(tmp_path: Path) -> None:
    rows = [ROWS[0], (100.5, 99.0, 100.0, 99.5, 3.0), ROWS[2]]
    message = read_error(write_csv(tmp_path / "c.csv", ms_stamps(), rows))
    assert message.endswith("row 1: high 99.0 is below low 100.0 (repair: drop_bad_rows)")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ((103.0, 102.0, 100.0, 101.5, 3.0), "row 1: open 103.0 is outside [low 100.0, high 102.0]" + BAD_ROW),
        ((100.5, 102.0, 100.0, 99.0, 3.0), "row 1: close 99.0 is outside [low 100.0, high 102.0]" + BAD_ROW),
    ],
)
def test_open_or_close_outside_the_range(tmp_path: Path, row: tuple, expected: str) -> None:
    message = read_error(write_csv(tmp_path / "c.csv", ms_stamps(), [ROWS[0], row, ROWS[2]]))
    assert message.endswith(expected)


def test_negative_volume(tmp_path: Path) -> None:
    rows = [ROWS[0], (*ROWS[1][:4], -1.0), ROWS[2]]
    assert "column 'volume' row 1: volume -1.0" in read_error(write_csv(tmp_path / "c.csv", ms_stamps(), rows))


def test_duplicate_timestamp_is_named(tmp_path: Path) -> None:
    stamps = [T0, T0 + 60_000, T0 + 60_000]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    expected = f"row 2: duplicate timestamp 2024-01-01T00:01:00.000Z, {T0 + 60_000} ms (repair: drop_duplicates)"
    assert message.endswith(expected)


def test_unsorted_timestamps_name_the_row(tmp_path: Path) -> None:
    stamps = [T0, T0 + 120_000, T0 + 60_000]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    expected = "row 2: timestamps not sorted, 2024-01-01T00:01:00.000Z comes after 2024-01-01T00:02:00.000Z"
    assert message.endswith(expected + " (repair: sort)")


def test_unparsable_timestamp(tmp_path: Path) -> None:
    stamps = ["2024-01-01 00:00:00", "2024-01-01 00:01:00", "yesterday"]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    assert message.endswith("column 'ts' row 2: cannot parse timestamp 'yesterday'" + BAD_ROW)


def test_text_among_numeric_timestamps(tmp_path: Path) -> None:
    stamps = [T0, "oops", T0 + 120_000]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    assert message.endswith("column 'ts' row 1: non-numeric value 'oops'" + BAD_ROW)


def test_missing_timestamp(tmp_path: Path) -> None:
    stamps = [T0, "", T0 + 120_000]
    assert read_error(write_csv(tmp_path / "c.csv", stamps)).endswith("column 'ts' row 1: missing timestamp" + BAD_ROW)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("")
    assert read_error(tmp_path / "c.csv").endswith("empty file")


def test_header_only(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(HEADER)
    assert read_error(tmp_path / "c.csv").endswith("no data rows")


def test_single_bar_needs_bar_ms(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [T0], ROWS[:1])
    assert "pass bar_ms" in read_error(path)
    assert read_candles(path, bar_ms=60_000).bar_ms == 60_000


def test_ragged_csv(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(HEADER + f"{T0},1,2,1,1.5,1,9\n")
    assert "cannot read csv" in read_error(tmp_path / "c.csv")


def test_corrupt_parquet(tmp_path: Path) -> None:
    (tmp_path / "c.parquet").write_bytes(b"not parquet at all")
    assert "cannot read parquet" in read_error(tmp_path / "c.parquet")


# --- gaps and repairs ---


def minute_file(path: Path, minutes: list, rows: list | None = None) -> Path:
    """A CSV with one bar at each of ``minutes`` (minutes after T0, or raw cells), cycling through ROWS."""
    stamps = [T0 + m * 60_000 if isinstance(m, int) else m for m in minutes]
    return write_csv(path, stamps, rows or [ROWS[i % 3] for i in range(len(minutes))])


def test_gap_names_the_missing_bars(tmp_path: Path) -> None:
    message = read_error(minute_file(tmp_path / "c.csv", [0, 1, 2, 5, 6]))
    assert message.endswith(
        "row 3: 2 missing bar(s) between 2024-01-01T00:02:00.000Z and 2024-01-01T00:05:00.000Z, bars of 60000 ms"
        " (repair: fill_gaps)"
    )


def test_gap_message_counts_every_missing_bar(tmp_path: Path) -> None:
    message = read_error(minute_file(tmp_path / "c.csv", [0, 1, 3, 4, 5, 6, 10]))
    assert "row 2: 1 missing bar(s)" in message
    assert "bars of 60000 ms; 4 missing in all (repair: fill_gaps)" in message


def test_jitter_under_half_a_bar_is_not_a_gap(tmp_path: Path) -> None:
    stamps = [T0 + s * 1000 for s in (0, 80, 120, 155, 240, 300)]
    c = read_candles(write_csv(tmp_path / "c.csv", stamps, ROWS * 2))
    np.testing.assert_array_equal(c.ts, stamps)
    assert c.bar_ms == 60_000


def test_given_bar_ms_finds_gaps_the_median_would_hide(tmp_path: Path) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 2, 4])
    assert len(read_candles(path)) == 3  # 2-minute bars by the median spacing
    assert "row 1: 1 missing bar(s)" in read_error(path, bar_ms=60_000)


def test_fill_gaps_inserts_flat_bars_at_the_previous_close(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 1, 2, 5, 6])
    with caplog.at_level("WARNING", logger="botmm.data.candles"):
        c, repairs = load_candles(path, repair="fill_gaps", volume_unit="quote")
    assert repairs == Repairs(filled=2)
    np.testing.assert_array_equal(c.ts, [T0 + m * 60_000 for m in range(7)])
    close_before = ROWS[2][3]  # the bar at minute 2
    for name in ("open", "high", "low", "close", "bid", "ask"):
        np.testing.assert_array_equal(getattr(c, name)[3:5], [close_before, close_before], err_msg=name)
    np.testing.assert_array_equal(c.volume[3:5], [0.0, 0.0])
    np.testing.assert_array_equal(c.close[[0, 1, 2, 5, 6]], [100.5, 101.5, 99.0, 100.5, 101.5])
    assert c.volume[5] == pytest.approx(2.0 / 100.5)
    assert [r.getMessage() for r in caplog.records] == [f"{path}: repaired: filled 2 missing bar(s)"]


def test_sort_orders_rows_and_counts_those_out_of_order(tmp_path: Path) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 2, 1, 3], [ROWS[0], ROWS[2], ROWS[1], ROWS[0]])
    c, repairs = load_candles(path, repair="sort")
    assert repairs == Repairs(unsorted=1)
    np.testing.assert_array_equal(c.ts, [T0 + m * 60_000 for m in range(4)])
    np.testing.assert_array_equal(c.close, [100.5, 101.5, 99.0, 100.5])


def test_drop_duplicates_keeps_the_last_row_of_a_timestamp(tmp_path: Path) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 1, 1, 1, 2], [ROWS[0], ROWS[1], ROWS[2], ROWS[0], ROWS[1]])
    c, repairs = load_candles(path, repair="drop_duplicates")
    assert repairs == Repairs(duplicates=2)
    np.testing.assert_array_equal(c.ts, [T0, T0 + 60_000, T0 + 120_000])
    np.testing.assert_array_equal(c.close, [100.5, 100.5, 101.5])


def test_drop_duplicates_without_sort_still_refuses_unsorted_rows(tmp_path: Path) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 2, 1, 2])
    assert "timestamps not sorted" in read_error(path, repair="drop_duplicates")
    c, repairs = load_candles(path, repair="sort+drop_duplicates")
    assert repairs == Repairs(unsorted=1, duplicates=1)
    assert len(c) == 3


@pytest.mark.parametrize(
    "bad_line",
    [
        f"{T0 + 120_000},100,101,99,abc,1",  # text in a price
        f"{T0 + 120_000},100,101,99,NaN,1",  # NaN price
        f"{T0 + 120_000},100,101,99,,1",  # empty price
        f"{T0 + 120_000},0,101,99,100,1",  # zero price
        f"{T0 + 120_000},100,101,99,100,-1",  # negative volume
        f"{T0 + 120_000},100,99,101,100,1",  # high below low
        f"{T0 + 120_000},102,101,99,100,1",  # open above high
        ",100,101,99,100,1",  # missing timestamp
    ],
)
def test_drop_bad_rows_drops_each_kind_of_bad_row(tmp_path: Path, bad_line: str) -> None:
    good = [f"{T0 + m * 60_000},100,101,99,100.5,2" for m in (0, 1, 2, 3)]
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "\n".join([*good[:2], bad_line, *good[2:]]) + "\n")
    read_error(path)
    c, repairs = load_candles(path, repair="drop_bad_rows")
    assert repairs == Repairs(bad_rows=1)
    np.testing.assert_array_equal(c.ts, [T0 + m * 60_000 for m in range(4)])
    np.testing.assert_array_equal(c.close, [100.5] * 4)


def test_drop_bad_rows_with_iso_stamps(tmp_path: Path) -> None:
    stamps = ["2024-01-01 00:00:00", "not a time", "2024-01-01 00:01:00", "2024-01-01 00:02:00"]
    c, repairs = load_candles(minute_file(tmp_path / "c.csv", stamps), repair="drop_bad_rows")
    assert repairs == Repairs(bad_rows=1)
    np.testing.assert_array_equal(c.ts, ms_stamps())
    np.testing.assert_array_equal(c.close, [100.5, 99.0, 100.5])


def test_dropping_a_bad_row_leaves_a_gap_unless_filled(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    lines = [f"{T0 + m * 60_000},100,101,99,{'x' if m == 2 else 100.5},2" for m in range(5)]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    assert "1 missing bar(s)" in read_error(path, repair="drop_bad_rows")
    c, repairs = load_candles(path, repair="drop_bad_rows+fill_gaps")
    assert repairs == Repairs(bad_rows=1, filled=1)
    np.testing.assert_array_equal(c.volume, [2.0, 2.0, 0.0, 2.0, 2.0])


def test_all_repairs_together(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cells = [(3, 100.5, 3), (0, 100.5, 1), (1, 100.5, 2), (1, 100.25, 2), (2, "oops", 2), (5, 100, 5), (6, 100, 6),
             (7, 100, 7)]  # (minute, close, volume): unsorted, a duplicate, a bad row and a gap
    lines = [f"{T0 + m * 60_000},100,101,99,{close},{volume}" for m, close, volume in cells]
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    with caplog.at_level("WARNING", logger="botmm.data.candles"):
        c, repairs = load_candles(path, repair="all")
    assert repairs == Repairs(bad_rows=1, unsorted=1, duplicates=1, filled=2)
    np.testing.assert_array_equal(c.ts, [T0 + m * 60_000 for m in range(8)])
    np.testing.assert_array_equal(c.close, [100.5, 100.25, 100.25, 100.5, 100.5, 100.0, 100.0, 100.0])
    np.testing.assert_array_equal(c.volume, [1.0, 2.0, 0.0, 3.0, 0.0, 5.0, 6.0, 7.0])
    expected = "dropped 1 bad row(s), sorted 1 out-of-order row(s), dropped 1 duplicate row(s), filled 2 missing bar(s)"
    assert caplog.records[-1].getMessage() == f"{path}: repaired: {expected}"


def test_clean_file_reports_no_repair(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="botmm.data.candles"):
        _, repairs = load_candles(write_csv(tmp_path / "c.csv", ms_stamps()), repair="all")
    assert not repairs
    assert str(repairs) == "nothing to repair"
    assert caplog.records == []


def test_every_row_bad(tmp_path: Path) -> None:
    path = minute_file(tmp_path / "c.csv", [0, 1], [(1, 2, 1, "x", 1), (1, 2, 1, "y", 1)])
    assert read_error(path, repair="drop_bad_rows").endswith("no valid rows; drop_bad_rows dropped all 2")


@pytest.mark.parametrize(
    ("text", "names"),
    [("none", set()), ("all", set(REPAIRS)), ("sort", {"sort"}), ("sort+fill_gaps", {"sort", "fill_gaps"}),
     (" drop_bad_rows + drop_duplicates ", {"drop_bad_rows", "drop_duplicates"})],
)
def test_parse_repair(text: str, names: set) -> None:
    assert parse_repair(text) == names


@pytest.mark.parametrize("text", ["", "sorted", "sort+all", "none+sort"])
def test_parse_repair_refuses_unknown_names(text: str) -> None:
    with pytest.raises(ValueError, match="unknown repair"):
        parse_repair(text)


def test_bad_repair_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repair=fix_all: unknown repair 'fix_all'"):
        read_candles(write_csv(tmp_path / "c.csv", ms_stamps()), repair="fix_all")


def test_table_continuing_a_batch_checks_the_seam(tmp_path: Path) -> None:
    table = pa.table({"ts": pa.array([T0 + 180_000, T0 + 240_000]), "open": [100.0, 100.0], "high": [101.0, 101.0],
                      "low": [99.0, 99.0], "close": [100.0, 100.5], "volume": [1.0, 1.0]})
    with pytest.raises(DataError, match="row 0: 2 missing bar"):
        table_candles(table, "part", bar_ms=60_000, prev=(T0, 99.5))
    c, repairs = table_candles(table, "part", bar_ms=60_000, repair="fill_gaps", prev=(T0, 99.5))
    assert repairs == Repairs(filled=2)
    np.testing.assert_array_equal(c.ts, [T0 + m * 60_000 for m in (1, 2, 3, 4)])
    np.testing.assert_array_equal(c.close, [99.5, 99.5, 100.0, 100.5])
    with pytest.raises(DataError, match="is not after the bar before it"):
        table_candles(table, "part", bar_ms=60_000, prev=(T0 + 180_000, 99.5))


# --- through `botmm backtest feed=candles_file`: one stderr line per malformed file, repairs that say what they did


def bars_csv(path: Path, edit: Callable[[list[list]], None] = lambda rows: None, header: str = HEADER) -> Path:
    """60 valid 1-minute bars near 60,000 (ts in ms), changed by ``edit`` on the list of rows first."""
    rows = []
    for i in range(60):
        close = 60_000 + 30 * ((i * 7) % 11 - 5)
        rows.append([T0 + i * 60_000, 60_000, max(60_000, close) + 20, min(60_000, close) - 20, close, 1 + i % 4])
    edit(rows)
    path.write_text(header + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def set_cell(row: int, col: int, value: object) -> Callable[[list[list]], None]:
    def edit(rows: list[list]) -> None:
        rows[row][col] = value

    return edit


MALFORMED = {  # name: (edit, header, the end of the one stderr line)
    "missing_column": (lambda rows: [r.pop(3) for r in rows], "ts,open,high,close,volume\n",
                       "missing column(s) 'low'; the file has 'ts', 'open', 'high', 'close', 'volume'"),
    "text_in_price": (set_cell(7, 4, "oops"), HEADER, "column 'close' row 7: non-numeric value 'oops'" + BAD_ROW),
    "duplicate": (lambda rows: rows.insert(9, list(rows[8])), HEADER, "row 9: duplicate timestamp "
                  f"2024-01-01T00:08:00.000Z, {T0 + 8 * 60_000} ms (repair: drop_duplicates)"),
    "unsorted": (lambda rows: rows.insert(20, rows.pop(30)), HEADER, "row 21: timestamps not sorted, "
                 "2024-01-01T00:20:00.000Z comes after 2024-01-01T00:30:00.000Z (repair: sort)"),
    "gap": (lambda rows: rows.__delitem__(slice(40, 43)), HEADER, "row 40: 3 missing bar(s) between "
            "2024-01-01T00:39:00.000Z and 2024-01-01T00:43:00.000Z, bars of 60000 ms (repair: fill_gaps)"),
    "nan": (set_cell(5, 3, "NaN"), HEADER, "column 'low' row 5: price is NaN (missing or not finite)" + BAD_ROW),
    "zero_price": (set_cell(50, 1, 0), HEADER, "column 'open' row 50: price 0.0 is not positive" + BAD_ROW),
}
REPAIRED = {  # name: (malformed case, feed.repair, the repair report, bars in the backtest)
    "sort": ("unsorted", "sort", "sorted 1 out-of-order row(s)", 60),
    "drop_duplicates": ("duplicate", "drop_duplicates", "dropped 1 duplicate row(s)", 60),
    "drop_bad_rows": ("zero_price", "drop_bad_rows+fill_gaps", "dropped 1 bad row(s), filled 1 missing bar(s)", 60),
    "fill_gaps": ("gap", "fill_gaps", "filled 3 missing bar(s)", 60),
    "all": ("nan", "all", "dropped 1 bad row(s), filled 1 missing bar(s)", 60),
}


@pytest.fixture(scope="module")
def backtests(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Every backtest of this section, run at once: the malformed files, their repairs, a bad repair name and the
    FTX file as CSV and as a Parquet copy."""
    folder = tmp_path_factory.mktemp("backtests")
    commands = {}
    for name, (edit, header, _) in MALFORMED.items():
        path = bars_csv(folder / f"{name}.csv", edit, header)
        commands[name] = ["backtest", "feed=candles_file", f"feed.path={path}", "asset=btc",
                          f"hydra.run.dir=out_{name}"]
    for name, (case, repair, _, _) in REPAIRED.items():
        commands[f"repair_{name}"] = [*commands[case][:-1], f"feed.repair={repair}", f"hydra.run.dir=out_repair_{name}"]
    commands["bad_repair"] = [*commands["gap"][:-1], "feed.repair=fill", "hydra.run.dir=out_bad_repair"]
    ftx = shared_file_or_none(f"candles/{FTX_NAME}")
    if ftx is not None:
        copy = folder / "ftx.parquet"
        pq.write_table(pa_csv.read_csv(ftx), copy)
        for name, path in (("ftx_csv", ftx), ("ftx_parquet", copy)):
            commands[name] = ["backtest", "feed=candles_file", f"feed.path={path}", "feed.volume_unit=quote",
                              "asset=btc", f"hydra.run.dir=out_{name}"]
    return folder, run_botmm(folder, commands)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_file_gives_one_stderr_line(backtests: tuple[Path, dict], name: str) -> None:
    folder, runs = backtests
    proc = runs[name]
    assert proc.returncode == 2, proc.stderr  # found by the check before the job: no output folder either
    assert proc.stderr == f"botmm: {folder / name}.csv: {MALFORMED[name][2]}\n"
    assert not (folder / f"out_{name}").exists()


@pytest.mark.parametrize("name", REPAIRED)
def test_each_repair_fixes_its_case_and_reports_a_count(backtests: tuple[Path, dict], name: str) -> None:
    folder, runs = backtests
    case, _, report, ticks = REPAIRED[name]
    proc = runs[f"repair_{name}"]
    assert proc.returncode == 0, proc.stderr
    assert f"{folder / case}.csv: repaired: {report}" in proc.stdout
    result = json.loads((folder / f"out_repair_{name}" / "result.json").read_text())
    assert result["ticks"] == ticks


def test_unknown_repair_name_is_one_config_line(backtests: tuple[Path, dict]) -> None:
    proc = backtests[1]["bad_repair"]
    assert proc.returncode == 2
    assert proc.stderr == ("botmm: feed.repair=fill: unknown repair 'fill'; use none, all or names joined by + from "
                           "drop_bad_rows, sort, drop_duplicates, fill_gaps\n")


def test_ftx_csv_and_its_parquet_copy_give_identical_results(backtests: tuple[Path, dict]) -> None:
    folder, runs = backtests
    if "ftx_csv" not in runs:
        shared_file(f"candles/{FTX_NAME}")
    for name in ("ftx_csv", "ftx_parquet"):
        assert runs[name].returncode == 0, runs[name].stderr
    csv_result, parquet_result = (json.loads((folder / f"out_{n}" / "result.json").read_text())
                                  for n in ("ftx_csv", "ftx_parquet"))
    assert csv_result["ticks"] == 45_031 and csv_result["fills"] > 0
    assert csv_result == parquet_result


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-2**40, 2**40)), max_size=40),
       start=st.integers(0, 12), kind=st.sampled_from(["bool", "int64", "float64"]))
def test_columns_read_from_arrow_buffers_equal_pyarrows_own_conversion(values, start, kind):
    """``_numpy`` reads Arrow's buffers itself (pyarrow's conversions import pandas): on sliced arrays with nulls it
    gives what pyarrow gives, nulls as False, 0 or NaN."""
    col = pa.array(values, type=pa.int64()).slice(min(start, len(values)))
    target = pa.bool_() if kind == "bool" else getattr(pa, kind)()
    null_as = {"bool": False, "int64": 0, "float64": np.nan}[kind]
    expected = np.asarray(col.cast(target).fill_null(null_as).to_numpy(zero_copy_only=False))
    got = _numpy(col, kind)
    assert got.dtype == np.dtype(kind) and got.flags.writeable
    np.testing.assert_array_equal(got, expected)


def test_a_bad_candle_file_is_reported_without_importing_pandas(tmp_path: Path) -> None:
    """Half a second of pandas import is not what a user waits for to learn that row 0 has text for a price."""
    (tmp_path / "bad.csv").write_text("ts,open,high,low,close,volume\n1704067200000,1,2,0.5,oops,3\n")
    code = ("import sys\nfrom botmm.data.candles import read_candles\ntry:\n    read_candles(sys.argv[1])\n"
            "except Exception as exc:\n    print(exc)\nprint('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bad.csv")], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [f"{tmp_path / 'bad.csv'}: column 'close' row 0: non-numeric value 'oops' (repair: drop_bad_rows)",
                   "False"]
