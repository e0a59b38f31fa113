import gzip
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botmm.data.candles import read_candles, write_candles_parquet
from botmm.data.synthetic import SyntheticParams, synthetic_candles
from botmm.errors import ConfigError, DataError
from botmm.model import CANDLE_ARRAYS

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC in ms
HEADER = "ts,open,high,low,close,volume\n"
ROWS = [
    (100.0, 101.0, 99.5, 100.5, 2.0),
    (100.5, 102.0, 100.0, 101.5, 3.0),
    (101.5, 101.5, 98.0, 99.0, 5.0),
]
FTX_NAME = "ftx_btc-perp_20211231-20220201_1m.csv"


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
    stamps = [T0, T0 + 60_000, T0 + 120_000, T0 + 300_000]
    rows = [*ROWS, ROWS[0]]
    path = write_csv(tmp_path / "gap.csv", stamps, rows)
    assert read_candles(path).bar_ms == 60_000
    assert read_candles(path, bar_ms=30_000).bar_ms == 30_000


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
    shared = os.environ.get("BOTMM_SHARED_DATA")
    folder = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = folder / "candles" / FTX_NAME
    if not path.is_file():
        pytest.skip(f"shared FTX candles not present: {path}")
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
    assert read_error(path).endswith("column 'close' row 2: non-numeric value 'abc'")


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
    assert read_error(write_csv(tmp_path / "c.csv", ms_stamps(), rows)).endswith("row 1: high 99.0 is below low 100.0")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ((103.0, 102.0, 100.0, 101.5, 3.0), "row 1: open 103.0 is outside [low 100.0, high 102.0]"),
        ((100.5, 102.0, 100.0, 99.0, 3.0), "row 1: close 99.0 is outside [low 100.0, high 102.0]"),
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
    assert message.endswith(f"row 2: duplicate timestamp 2024-01-01T00:01:00.000Z ({T0 + 60_000} ms)")


def test_unsorted_timestamps_name_the_row(tmp_path: Path) -> None:
    stamps = [T0, T0 + 120_000, T0 + 60_000]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    expected = "row 2: timestamps not sorted, 2024-01-01T00:01:00.000Z comes after 2024-01-01T00:02:00.000Z"
    assert message.endswith(expected)


def test_unparsable_timestamp(tmp_path: Path) -> None:
    stamps = ["2024-01-01 00:00:00", "2024-01-01 00:01:00", "yesterday"]
    message = read_error(write_csv(tmp_path / "c.csv", stamps))
    assert message.endswith("column 'ts' row 2: cannot parse timestamp 'yesterday'")


def test_text_among_numeric_timestamps(tmp_path: Path) -> None:
    stamps = [T0, "oops", T0 + 120_000]
    assert read_error(write_csv(tmp_path / "c.csv", stamps)).endswith("column 'ts' row 1: non-numeric value 'oops'")


def test_missing_timestamp(tmp_path: Path) -> None:
    stamps = [T0, "", T0 + 120_000]
    assert read_error(write_csv(tmp_path / "c.csv", stamps)).endswith("column 'ts' row 1: missing timestamp")


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
