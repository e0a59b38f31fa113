"""The candles dataset: month files, idempotent merging writes, the streaming reader, and ``feed=candles`` in
``botmm backtest``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botmm.data.dataset import (
    dataset_dir,
    interval_ms,
    month_files,
    parse_time,
    read_dataset,
    stored_ts,
    write_bars,
)
from botmm.errors import ConfigError, DataError
from candle_servers import run_botmm

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HOUR, DAY = 3_600_000, 86_400_000
FEB = T0 + 31 * DAY


def bars(first_ms: int, n: int, bar_ms: int = 60_000, level: float = 100.0) -> dict[str, np.ndarray]:
    """``n`` consistent bars from ``first_ms``: a sine around ``level``, volume cycling 1..5."""
    k = np.arange(n)
    close = level * (1 + 0.01 * np.sin((first_ms // bar_ms + k) / 7))
    open_ = np.concatenate([[level], close[:-1]])
    return {"ts": first_ms + k * bar_ms, "open": open_, "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999, "close": close, "volume": 1.0 + k % 5}


def series(root: Path, interval: str = "1m") -> Path:
    return dataset_dir(root, "hyperliquid", "BTC", interval)


def concat(batches: list) -> dict[str, np.ndarray]:
    return {name: np.concatenate([getattr(b, name) for b in batches]) for name in ("ts", "close", "volume")}


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_layout_and_names(tmp_path: Path) -> None:
    assert dataset_dir("data", "bybit", "BTCUSDT", "1h") == Path("data") / "candles" / "bybit" / "BTCUSDT" / "1h"
    assert interval_ms("1m") == 60_000 and interval_ms("4h") == 4 * HOUR and interval_ms("1d") == DAY
    with pytest.raises(ConfigError, match="interval '7m' is not supported"):
        dataset_dir(tmp_path, "hyperliquid", "BTC", "7m")
    for bad in ("", "..", "BTC/USD"):
        with pytest.raises(ConfigError, match="cannot name a dataset folder"):
            dataset_dir(tmp_path, "hyperliquid", bad, "1m")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("2024-01-01", T0), ("2024-01-01T01:30", T0 + 90 * 60_000), ("2024-01-01 01:30:00", T0 + 90 * 60_000),
     ("2024-01-01T01:30Z", T0 + 90 * 60_000), ("2024-01-01T02:30+01:00", T0 + 90 * 60_000)],
)
def test_parse_time(text: str, ms: int) -> None:
    assert parse_time(text, "feed.start") == ms


def test_parse_time_refuses_other_text() -> None:
    with pytest.raises(ConfigError, match=r"^feed.end=last week: expected an ISO date or time"):
        parse_time("last week", "feed.end")


def test_write_splits_bars_into_month_files_in_the_candle_schema(tmp_path: Path) -> None:
    folder = series(tmp_path)
    new = bars(FEB - 2 * HOUR, 240)  # 2024-01-31 22:00 to 2024-02-01 01:59
    result = write_bars(folder, new, 60_000, "test")
    assert (result.added, result.replaced) == (240, 0)
    assert [p.name for p in month_files(folder)] == ["2024-01.parquet", "2024-02.parquet"]
    assert result.files == month_files(folder)
    jan, feb = (pq.read_table(p) for p in month_files(folder))
    assert jan.schema.names == ["ts", "open", "high", "low", "close", "volume"]
    assert jan.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert all(jan.schema.field(n).type == pa.float64() for n in jan.schema.names[1:])
    assert (jan.num_rows, feb.num_rows) == (120, 120)
    assert feb.column("ts").cast(pa.int64())[0].as_py() == FEB
    stored = pa.concat_tables([jan, feb])
    np.testing.assert_array_equal(stored.column("ts").cast(pa.int64()).to_numpy(), new["ts"])
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(stored.column(name).to_numpy(), new[name], err_msg=name)


def test_writing_the_same_bars_again_touches_nothing(tmp_path: Path) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(FEB - HOUR, 120), 60_000, "test")
    before = snapshot(folder)
    result = write_bars(folder, bars(FEB - HOUR, 120), 60_000, "test")
    assert (result.added, result.replaced, result.files) == (0, 0, [])
    assert snapshot(folder) == before
    result = write_bars(folder, bars(FEB - HOUR, 30), 60_000, "test")  # a subset of what is stored
    assert (result.added, result.replaced, result.files) == (0, 0, [])
    assert snapshot(folder) == before


def test_merge_adds_new_bars_and_replaces_changed_ones(tmp_path: Path) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(T0, 100), 60_000, "test")
    revised = bars(T0 + 50 * 60_000, 100, level=101.0)
    result = write_bars(folder, revised, 60_000, "test")
    assert (result.added, result.replaced) == (50, 50)
    table = pq.read_table(folder / "2024-01.parquet")
    np.testing.assert_array_equal(table.column("ts").cast(pa.int64()).to_numpy(), T0 + np.arange(150) * 60_000)
    np.testing.assert_array_equal(table.column("close").to_numpy()[:50], bars(T0, 100)["close"][:50])
    np.testing.assert_array_equal(table.column("close").to_numpy()[50:], revised["close"])


def test_within_one_write_the_last_bar_of_a_ts_wins(tmp_path: Path) -> None:
    first, second = bars(T0, 3), bars(T0, 3, level=102.0)
    doubled = {name: np.concatenate([first[name], second[name]]) for name in first}
    assert write_bars(series(tmp_path), doubled, 60_000, "test").added == 3
    np.testing.assert_array_equal(pq.read_table(series(tmp_path) / "2024-01.parquet").column("close").to_numpy(),
                                  second["close"])


@pytest.mark.parametrize(
    ("change", "message"),
    [({"ts": T0 + 1000 + np.arange(3) * 60_000}, "test: bar at 2024-01-01T00:00:01Z is not on the grid of 60000 ms"),
     ({"close": np.array([100.0, np.nan, 100.0])}, "test: column 'close' row 1: price is NaN"),
     ({"volume": np.array([1.0, -2.0, 1.0])}, "test: column 'volume' row 1: volume -2.0")],
)
def test_write_refuses_bars_the_reader_would_refuse(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(DataError) as info:
        write_bars(series(tmp_path), {**bars(T0, 3), **change}, 60_000, "test")
    assert str(info.value).startswith(message)
    assert not series(tmp_path).exists()


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(T0, 10), 60_000, "test")
    before = snapshot(folder)

    def broken(table: pa.Table, where: Path) -> None:
        Path(where).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_bars(folder, bars(T0, 20), 60_000, "test")
    assert snapshot(folder) == before  # no temporary file left either


def test_reader_streams_one_checked_batch_per_month(tmp_path: Path) -> None:
    folder = series(tmp_path, "1h")
    written = bars(T0, 24 * 61, bar_ms=HOUR)  # 61 days: January, February and one day of March
    write_bars(folder, written, HOUR, "test")
    batches = list(read_dataset(folder, HOUR))
    assert [len(b) for b in batches] == [31 * 24, 29 * 24, 24]
    assert all(b.bar_ms == HOUR for b in batches)
    got = concat(batches)
    np.testing.assert_array_equal(got["ts"], written["ts"])
    np.testing.assert_array_equal(got["close"], written["close"])
    np.testing.assert_array_equal(got["volume"], written["volume"])
    assert all(np.array_equal(b.bid, b.close) and np.array_equal(b.ask, b.close) for b in batches)
    assert all(not b.bid_size.any() and not b.ask_size.any() for b in batches)


def test_reader_selects_the_date_range(tmp_path: Path) -> None:
    folder = series(tmp_path, "1h")
    write_bars(folder, bars(T0, 24 * 60, bar_ms=HOUR), HOUR, "test")
    (folder / "2023-12.parquet").write_bytes(b"outside the range: never opened")
    start, end = parse_time("2024-01-30T12:00", "start"), parse_time("2024-02-02", "end")
    batches = list(read_dataset(folder, HOUR, start, end))
    assert [len(b) for b in batches] == [36, 24]
    np.testing.assert_array_equal(concat(batches)["ts"], np.arange(start, end, HOUR))
    assert stored_ts(folder, start, end).tolist() == list(range(start, end, HOUR))


def test_reader_range_without_bars(tmp_path: Path) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(T0, 10), 60_000, "test")
    with pytest.raises(DataError, match=r"no bars from 2024-01-01T01:00Z before 2024-01-01T02:00Z$"):
        list(read_dataset(folder, 60_000, T0 + HOUR, T0 + 2 * HOUR))


def test_gap_between_files_is_found_and_can_be_filled(tmp_path: Path) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(FEB - HOUR, 50), 60_000, "test")  # January ends at 23:49
    write_bars(folder, bars(FEB + 10 * 60_000, 50), 60_000, "test")  # February starts at 00:10
    with pytest.raises(DataError) as info:
        list(read_dataset(folder, 60_000))
    assert str(info.value) == (
        f"{folder / '2024-02.parquet'}: row 0: 20 missing bar(s) between 2024-01-31T23:49:00.000Z and "
        "2024-02-01T00:10:00.000Z, bars of 60000 ms (repair: fill_gaps)"
    )
    batches = list(read_dataset(folder, 60_000, repair="fill_gaps"))
    assert [len(b) for b in batches] == [50, 70]
    got = concat(batches)
    np.testing.assert_array_equal(got["ts"], FEB - HOUR + np.arange(120) * 60_000)
    assert (got["close"][50:70] == got["close"][49]).all() and not got["volume"][50:70].any()


def test_foreign_files_in_a_series_folder(tmp_path: Path) -> None:
    folder = series(tmp_path)
    write_bars(folder, bars(T0, 10), 60_000, "test")
    pq.write_table(pq.read_table(folder / "2024-01.parquet"), folder / "2024-02.parquet")
    outside = r"2024-02.parquet: row 0: bar at 2024-01-01T00:00Z is outside the file's month"
    with pytest.raises(DataError, match=outside):
        list(read_dataset(folder, 60_000))
    (folder / "2024-02.parquet").rename(folder / "extra.parquet")
    with pytest.raises(DataError, match=r"extra.parquet: not a month file of the candles dataset"):
        list(read_dataset(folder, 60_000))


# --- feed=candles in botmm backtest ---


def test_backtest_reads_the_dataset_by_venue_symbol_interval_and_range(tmp_path: Path) -> None:
    write_bars(series(tmp_path / "store"), bars(FEB - DAY, 2 * 1440, level=60_000.0), 60_000, "test")
    feed = ["feed=candles", "feed.root=store", "feed.venue=hyperliquid", "feed.symbol=BTC", "feed.interval=1m",
            "asset=btc"]
    runs = run_botmm(tmp_path, {
        "all": ["backtest", *feed, "hydra.run.dir=out_all"],
        "range": ["backtest", *feed, "feed.start=2024-01-31T12:00", "feed.end=2024-02-01T06:00",
                  "hydra.run.dir=out_range"],
        "symbol_from_asset": ["backtest", "feed=candles", "feed.root=store", "asset=btc", "feed.end=2024-01-31T01:00",
                              "hydra.run.dir=out_asset"],
        "absent": ["backtest", "feed=candles", "feed.root=store", "asset=eth", "hydra.run.dir=out_absent"],
        "bad_start": ["backtest", *feed, "feed.start=soon", "hydra.run.dir=out_bad"],
    })
    for name in ("all", "range", "symbol_from_asset"):
        assert runs[name].returncode == 0, runs[name].stderr
    result = {name: json.loads((tmp_path / f"out_{name}" / "result.json").read_text())
              for name in ("all", "range", "asset")}
    assert result["all"]["ticks"] == 2880
    assert (result["all"]["start_ms"], result["all"]["end_ms"]) == (FEB - DAY + 60_000, FEB + DAY)
    assert result["range"]["ticks"] == 18 * 60
    start, end = parse_time("2024-01-31T12:00", "s"), parse_time("2024-02-01T06:00", "e")
    assert (result["range"]["start_ms"], result["range"]["end_ms"]) == (start + 60_000, end)
    assert result["asset"]["ticks"] == 60 and result["asset"]["symbol"] == "BTC"
    for name, text in (("absent", "feed=candles: no hyperliquid ETH 1m bars under store"),
                       ("bad_start", "feed.start=soon: expected an ISO date or time")):
        lines = runs[name].stderr.strip().splitlines()
        assert runs[name].returncode != 0 and len(lines) == 1 and text in lines[0], runs[name].stderr
        assert not (tmp_path / f"out_{name}").exists()
    assert "botmm data fetch --venue hyperliquid --symbol ETH" in runs["absent"].stderr
