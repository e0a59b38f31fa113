"""The candles dataset: ``<root>/candles/<venue>/<SYMBOL>/<interval>/YYYY-MM.parquet``.

One file per UTC calendar month, in the botmm candle schema (``ts`` timestamp[ms, UTC] bar open, then open, high,
low, close, volume in base units, float64), sorted by ``ts`` with one row per bar. Months rather than days: a
1-minute month is at most 44,640 bars (about 1.5 MB) and a daily-bar month 31 rows, so every interval gets files of
a useful size under one naming rule, and a reader picks the files of a date range by name alone. Intervals divide a
day, so bars sit on a grid of multiples of the bar length since the epoch and never straddle two files. ``SYMBOL``
is the venue's own spelling (``BTC`` and ``kPEPE`` on Hyperliquid, ``BTCUSDT`` on Bybit).

Writing merges: new bars go into their month's file, replacing stored bars of the same ``ts`` (the venue's latest
answer wins) and keeping the rest. A file is rewritten only when its content changes, through a temporary file and
an atomic rename, so writing the same bars again touches nothing and an interrupted write leaves the old file whole.
New bars must lie on the interval's grid and pass the value checks of :mod:`botmm.data.candles`, so the dataset
never holds a bar its reader would refuse.

Reading streams one month file at a time as a ``Candles`` batch restricted to [start, end), checking the bars as
one series (order and gaps across files too) with the repairs of :mod:`botmm.data.candles`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from botmm.data.candles import FIELDS, PRICES, check_values, first_line, table_candles
from botmm.errors import ConfigError, DataError
from botmm.model import Candles

if TYPE_CHECKING:
    import pyarrow as pa

INTERVALS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}
"""Bar lengths in ms of the intervals a dataset may hold (each divides a day)."""

_MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")


def interval_ms(interval: str) -> int:
    """The bar length of ``interval`` ("1m", "1h", "1d", ...) in ms; ConfigError for an interval not in INTERVALS."""
    if interval not in INTERVALS:
        raise ConfigError(f"interval {interval!r} is not supported; choose one of {', '.join(INTERVALS)}")
    return INTERVALS[interval]


def dataset_dir(root: str | os.PathLike[str], venue: str, symbol: str, interval: str) -> Path:
    """The folder of one venue/symbol/interval series under ``root``."""
    interval_ms(interval)
    for key, value in (("venue", venue), ("symbol", symbol)):
        if not value or value in (".", "..") or any(sep in value for sep in ("/", "\\")):
            raise ConfigError(f"{key} {value!r} cannot name a dataset folder")
    return Path(root) / "candles" / venue / symbol / interval


def parse_time(text: str, key: str) -> int:
    """ms since the epoch of an ISO-8601 date or time (``2024-01-01``, ``2024-01-01T12:30``, ``...Z``,
    ``...+02:00``); without a zone it is UTC. ``key`` names the option in the ConfigError for bad text."""
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ConfigError(
            f"{key}={text}: expected an ISO date or time such as 2024-01-01 or 2024-01-01T12:30 (UTC unless zoned)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def iso(ms: int) -> str:
    """A time in ms as ISO-8601 UTC, to the minute (seconds when they are not zero)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if moment.second else "%Y-%m-%dT%H:%MZ")


def month_files(directory: Path) -> list[Path]:
    """The month files of a series folder, oldest first; a DataError for any other ``.parquet`` file there."""
    files = []
    for path in sorted(directory.glob("*.parquet")):
        if not _MONTH_FILE.match(path.name):
            raise DataError(f"{path}: not a month file of the candles dataset (names are YYYY-MM.parquet)")
        files.append(path)
    return files


def month_span(path: Path) -> tuple[int, int]:
    """[first ms, end ms) of the month a ``YYYY-MM.parquet`` file holds."""
    start = np.datetime64(path.name[:7], "M")
    return _ms(start), _ms(start + 1)


def _ms(month: np.datetime64) -> int:
    return int(month.astype("datetime64[ms]").astype(np.int64))


def _month_name(ts: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ts.astype("datetime64[ms]").astype("datetime64[M]"))


def _files_between(directory: Path, start_ms: int | None, end_ms: int | None) -> list[Path]:
    chosen = []
    for path in month_files(directory):
        first, end = month_span(path)
        if (start_ms is None or end > start_ms) and (end_ms is None or first < end_ms):
            chosen.append(path)
    return chosen


@dataclass(frozen=True)
class WriteResult:
    """What one write changed: bars new to the dataset, stored bars whose values changed, files written."""

    added: int = 0
    replaced: int = 0
    files: list[Path] = field(default_factory=list)


def write_bars(directory: Path, bars: Mapping[str, np.ndarray], bar_ms: int, name: str) -> WriteResult:
    """Merge ``bars`` (ts as int64 ms, open/high/low/close/volume as floats) into the month files of ``directory``.

    ``name`` labels error messages (where the bars came from). Within ``bars`` the last row of a ts wins.
    """
    ts = np.asarray(bars["ts"], dtype=np.int64)
    if ts.size == 0:
        return WriteResult()
    values = {f: np.asarray(bars[f], dtype=np.float64) for f in (*PRICES, "volume")}
    off_grid = np.flatnonzero(ts % bar_ms)
    if off_grid.size:
        raise DataError(f"{name}: bar at {iso(int(ts[off_grid[0]]))} is not on the grid of {bar_ms} ms bars")
    check_values(values, name)
    new = _unique_last({"ts": ts, **values})
    directory.mkdir(parents=True, exist_ok=True)
    months = _month_name(new["ts"])
    added = replaced = 0
    written = []
    for month in np.unique(months):
        rows = months == month
        path = directory / f"{month}.parquet"
        part = {f: v[rows] for f, v in new.items()}
        if path.exists():
            old = _read_month(path)
            merged = _unique_last({f: np.concatenate([old[f], part[f]]) for f in FIELDS})
            at = np.searchsorted(merged["ts"], old["ts"])
            changed = int(np.count_nonzero(np.any([merged[f][at] != old[f] for f in FIELDS[1:]], axis=0)))
            grown = len(merged["ts"]) - len(old["ts"])
            if not grown and not changed:
                continue
            part = merged
            added, replaced = added + grown, replaced + changed
        else:
            added += len(part["ts"])
        _write_atomic(path, part)
        written.append(path)
    return WriteResult(added, replaced, written)


def stored_ts(directory: Path, start_ms: int, end_ms: int) -> np.ndarray:
    """The sorted bar opens already stored in [start_ms, end_ms) (reads only the ``ts`` column)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not directory.is_dir():
        return np.zeros(0, dtype=np.int64)
    parts = []
    for path in _files_between(directory, start_ms, end_ms):
        try:
            ts = pq.read_table(path, columns=["ts"]).column("ts").cast(pa.int64()).to_numpy()
        except (pa.ArrowException, OSError, KeyError) as exc:
            raise DataError(f"{path}: cannot read the ts column: {first_line(exc)}") from None
        parts.append(ts[(ts >= start_ms) & (ts < end_ms)])
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def read_dataset(
    directory: Path, bar_ms: int, start_ms: int | None = None, end_ms: int | None = None, repair: str = "none"
) -> Iterator[Candles]:
    """Yield the bars of a series folder in [start_ms, end_ms), one batch per month file, checked as one series.

    Bars have no book: bid = ask = close, sizes 0. ``repair`` is as in :mod:`botmm.data.candles`; a gap between two
    files is found (and filled) like one inside a file. A range without any bar is a DataError.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    prev: tuple[int, float] | None = None
    for path in _files_between(directory, start_ms, end_ms):
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: cannot read parquet: {first_line(exc)}") from None
        ts = _ts_column(table, path)
        first, end = month_span(path)
        stray = np.flatnonzero((ts < first) | (ts >= end))
        if stray.size:
            raise DataError(f"{path}: row {stray[0]}: bar at {iso(int(ts[stray[0]]))} is outside the file's month")
        keep = (ts >= (start_ms if start_ms is not None else first)) & (ts < (end_ms if end_ms is not None else end))
        if not keep.any():
            continue
        if not keep.all():
            table = table.filter(pa.array(keep))
        candles, _ = table_candles(table, str(path), bar_ms=bar_ms, repair=repair, prev=prev)
        prev = (int(candles.ts[-1]), float(candles.close[-1]))
        yield candles
    if prev is None:
        since = "" if start_ms is None else f" from {iso(start_ms)}"
        until = "" if end_ms is None else f" before {iso(end_ms)}"
        raise DataError(f"{directory}: no bars{since}{until}")


def _ts_column(table: pa.Table, path: Path) -> np.ndarray:
    import pyarrow as pa

    if "ts" not in table.column_names:
        raise DataError(f"{path}: missing column 'ts'; the file has {', '.join(map(repr, table.column_names))}")
    column = table.column("ts")
    if not pa.types.is_timestamp(column.type) or column.null_count:
        raise DataError(f"{path}: column 'ts' must be timestamp[ms, UTC] without nulls, not {column.type}")
    return column.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()


def _unique_last(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows sorted by ts (stable), keeping the last row of each ts."""
    order = np.argsort(columns["ts"], kind="stable")
    ts = columns["ts"][order]
    last = np.append(ts[1:] != ts[:-1], True)
    return {f: np.asarray(v)[order][last] for f, v in columns.items()}


def _read_month(path: Path) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=list(FIELDS))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read parquet: {first_line(exc)}") from None
    out = {"ts": _ts_column(table, path)}
    for f in FIELDS[1:]:
        out[f] = np.asarray(table.column(f).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


def _write_atomic(path: Path, columns: Mapping[str, np.ndarray]) -> None:
    """Write one month file through a temporary file in the same folder and an atomic rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {"ts": pa.array(columns["ts"], type=pa.timestamp("ms", tz="UTC"))}
    arrays.update({f: pa.array(columns[f], type=pa.float64()) for f in FIELDS[1:]})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(pa.table(arrays), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
