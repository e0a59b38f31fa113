"""The L2 event dataset: schema, a writer by symbol-hour, a streaming reader and the checks made on load.

One row per event, in exchange order (``ts_exchange`` ascending; rows with equal exchange times keep the order in
which they were received):

=========== ============ ============================================================================================
column      type         meaning
=========== ============ ============================================================================================
symbol      dictionary   the instrument (dictionary-encoded string), so files of several symbols query as one table
ts_exchange timestamp ns when the exchange made the event (UTC)
ts_local    timestamp ns when the event reached the recorder (``ts_local >= ts_exchange``: feed latency)
kind        int8         0 clear, 1 snapshot level, 2 delta level, 3 trade
side        int8         +1 bid / buyer-aggressor, -1 ask / seller-aggressor; a clear may use 0 for both sides
price       float64      level or trade price; for a clear, the price up to which the side is cleared (from the best
                         out, inclusive), or null to clear the whole side
size        float64      the level's new total size (0 deletes it), or the traded size; ignored for a clear
=========== ============ ============================================================================================

In memory (:class:`L2Events`) times are int64 ns and a missing price is NaN. Files written before the symbol column
and the timestamp types (int64 times, NaN prices) read exactly as before.

A snapshot is a clear followed by its levels, so a top-N snapshot feed and a diff feed share one format. Files live at
``<root>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet`` (the UTC hour of ``ts_exchange``); the Parquet key-value metadata
``botmm.l2`` holds the symbol, tick size, lot size and source (:class:`L2Meta`).

Checks on load (:func:`iter_l2`), each either an error (``on_bad_data="error"``, a one-line :class:`DataError`) or a
counted repair reported in :class:`ValidationReport`:

* ``bad_rows``: unknown kind or side, or a non-finite price on a level or trade -> the row is dropped;
* ``negative_sizes``: a negative or non-finite size -> the row is dropped;
* ``time_backwards``: ``ts_exchange`` lower than an earlier row's -> rows are re-sorted (stable) within a read chunk,
  and clamped to the previous chunk's last time across chunks;
* ``negative_latency``: ``ts_local < ts_exchange`` -> ``ts_local`` is raised to ``ts_exchange``;
* ``stale_latency``: ``ts_local`` more than ``max_latency_ns`` after ``ts_exchange`` (a recorder clock that is off)
  -> ``ts_local`` is lowered to ``ts_exchange + max_latency_ns``;
* ``gaps``: an hour file missing between the first and the last, or no event for longer than ``max_gap_ns`` -> the
  replay continues with the book as it stands (crossed levels left by the gap are then repaired by the replay);
* ``crossed_*``: a book whose best bid is at or above its best ask once all events of one timestamp are applied is
  found by the replay engine (:mod:`botmm.sim.replay`), which deletes the stale side's crossed levels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from botmm.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

KIND_CLEAR, KIND_SNAPSHOT, KIND_DELTA, KIND_TRADE = 0, 1, 2, 3
COLUMNS = ("ts_exchange", "ts_local", "kind", "side", "price", "size")
DTYPES = {"ts_exchange": np.int64, "ts_local": np.int64, "kind": np.int8, "side": np.int8,
          "price": np.float64, "size": np.float64}
META_KEY = b"botmm.l2"
HOUR_NS = 3_600_000_000_000
ON_BAD_DATA = ("repair", "error")
ROWS_PER_GROUP = 1 << 20


@dataclass(frozen=True)
class L2Meta:
    """What a dataset says about itself: the symbol, its price and size grid, and where the data came from."""

    symbol: str
    tick_size: float
    lot_size: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class L2Events:
    """A batch of L2 events as columns (see the module docstring), in exchange order."""

    ts_exchange: np.ndarray
    ts_local: np.ndarray
    kind: np.ndarray
    side: np.ndarray
    price: np.ndarray
    size: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_exchange)

    def take(self, index: np.ndarray | slice) -> L2Events:
        """The rows at ``index`` (an index array, boolean mask or slice)."""
        return L2Events(*(getattr(self, c)[index] for c in COLUMNS))

    @staticmethod
    def build(**columns: Any) -> L2Events:
        """Columns cast to the schema's dtypes (lists or arrays)."""
        return L2Events(*(np.ascontiguousarray(columns[c], dtype=DTYPES[c]) for c in COLUMNS))

    @staticmethod
    def concat(parts: Sequence[L2Events]) -> L2Events:
        if not parts:
            return L2Events.build(**{c: [] for c in COLUMNS})
        return L2Events(*(np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS))


@dataclass
class ValidationReport:
    """Counts of the problems found on load and the repairs made (see the module docstring)."""

    bad_rows: int = 0
    negative_sizes: int = 0
    time_backwards: int = 0
    negative_latency: int = 0
    stale_latency: int = 0
    gaps: int = 0
    crossed_exchange: int = 0
    crossed_local: int = 0
    files: int = 0
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "notes"}

    @property
    def repairs(self) -> int:
        c = self.counts()
        return sum(v for k, v in c.items() if k not in ("files", "rows"))


def arrow_schema(meta: L2Meta) -> pa.Schema:
    """The schema of a dataset file (see the module docstring), with ``meta`` in its key-value metadata."""
    import pyarrow as pa

    time = pa.timestamp("ns", tz="UTC")
    fields = [pa.field("symbol", pa.dictionary(pa.int32(), pa.string()), nullable=False),
              *(pa.field(c, time if c.startswith("ts_") else pa.from_numpy_dtype(np.dtype(DTYPES[c])),
                         nullable=c == "price") for c in COLUMNS)]
    return pa.schema(fields, metadata={META_KEY: json.dumps(asdict(meta)).encode()})


def arrow_table(events: L2Events, schema: pa.Schema, symbol: str) -> pa.Table:
    """``events`` as a table of ``schema``: the symbol on every row, NaN prices as nulls."""
    import pyarrow as pa

    columns = [pa.DictionaryArray.from_arrays(np.zeros(len(events), np.int32), pa.array([symbol]))]
    for c in COLUMNS:
        values = getattr(events, c)
        columns.append(pa.array(values, schema.field(c).type, mask=np.isnan(values) if c == "price" else None))
    return pa.Table.from_arrays(columns, schema=schema)


def hour_name(ts_ns: int) -> str:
    """The file stem of the UTC hour containing ``ts_ns``: ``YYYY-MM-DD_HH``."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%d_%H")


class L2Writer:
    """Writes events, given in exchange order chunk after chunk, to one Parquet file per symbol-hour.

    Memory holds one chunk at a time: each hour's file stays open until the first event of a later hour arrives.
    An existing file for an hour is replaced.
    """

    def __init__(self, root: str | os.PathLike[str], meta: L2Meta, rows_per_group: int = ROWS_PER_GROUP):
        self.dir = Path(root) / meta.symbol
        self.meta = meta
        self.rows_per_group = rows_per_group
        self.paths: list[Path] = []
        self._writer: Any = None
        self._hour = -1
        self._last_ts = np.iinfo(np.int64).min

    def write(self, events: L2Events) -> None:
        if len(events) == 0:
            return
        ts = events.ts_exchange
        if ts[0] < self._last_ts or np.any(np.diff(ts) < 0):
            raise DataError(f"{self.dir}: events must be written in exchange order (ts_exchange ascending)")
        self._last_ts = int(ts[-1])
        hours = ts // HOUR_NS
        cuts = np.flatnonzero(np.diff(hours)) + 1
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(ts)]):
            hour = int(hours[start])
            if hour != self._hour:
                self._open(hour)
            part = events.take(slice(int(start), int(stop)))
            table = arrow_table(part, self._writer.schema, self.meta.symbol)
            self._writer.write_table(table, row_group_size=self.rows_per_group)

    def _open(self, hour: int) -> None:
        import pyarrow.parquet as pq

        self.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{hour_name(hour * HOUR_NS)}.parquet"
        self._writer = pq.ParquetWriter(path, arrow_schema(self.meta), compression="zstd")
        self._hour = hour
        self.paths.append(path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> L2Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_l2(events: L2Events, root: str | os.PathLike[str], meta: L2Meta) -> list[Path]:
    """Write a whole batch of events (in exchange order) by symbol-hour; returns the files written."""
    with L2Writer(root, meta) as writer:
        writer.write(events)
    return writer.paths


def l2_files(path: str | os.PathLike[str]) -> list[Path]:
    """The dataset files ``path`` names: a Parquet file, a symbol folder of hour files, or a root folder holding
    exactly one symbol folder."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError(f"{path}: no such file or folder")
    files = sorted(p.glob("*.parquet"))
    if files:
        return files
    symbols = sorted(d for d in p.iterdir() if d.is_dir() and any(d.glob("*.parquet")))
    if len(symbols) == 1:
        return sorted(symbols[0].glob("*.parquet"))
    if not symbols:
        raise DataError(f"{path}: no .parquet files in this folder or its symbol folders")
    raise DataError(f"{path}: holds several symbols ({', '.join(d.name for d in symbols)}); name one of them")


def read_meta(path: str | os.PathLike[str]) -> L2Meta:
    """The metadata of a dataset file (or of the first file of a dataset folder)."""
    import pyarrow.parquet as pq

    file = l2_files(path)[0]
    try:
        schema = pq.read_schema(file)
    except Exception as exc:
        raise DataError(f"{file}: not a readable Parquet file ({exc})") from None
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise DataError(f"{file}: not an L2 event file; missing column(s) {', '.join(missing)}")
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise DataError(f"{file}: no botmm.l2 metadata (symbol, tick_size, lot_size); write it with L2Writer")
    return L2Meta(**json.loads(raw))


def _missing_hours(files: list[Path]) -> list[str]:
    hours = []
    for f in files:
        try:
            hours.append(int(datetime.strptime(f.stem, "%Y-%m-%d_%H").replace(tzinfo=timezone.utc).timestamp()))
        except ValueError:
            return []  # not an hour-named dataset (a single converted file, say): no sequence to check
    missing = []
    for a, b in zip(hours, hours[1:]):
        missing += [hour_name((h) * 1_000_000_000) for h in range(a + 3600, b, 3600)]
    return missing


class _Checker:
    """Validates chunks in stream order, carrying the last exchange time from one chunk to the next."""

    def __init__(self, on_bad_data: str, report: ValidationReport, max_gap_ns: int | None,
                 max_latency_ns: int | None):
        if on_bad_data not in ON_BAD_DATA:
            raise DataError(f"on_bad_data={on_bad_data}: must be repair or error")
        self.repair = on_bad_data == "repair"
        self.report = report
        self.max_gap_ns, self.max_latency_ns = max_gap_ns, max_latency_ns
        self.last_ts: int | None = None

    def _problem(self, where: str, key: str, count: int, message: str) -> None:
        if not self.repair:
            raise DataError(f"{where}: {message} (on_bad_data=error; on_bad_data=repair fixes and counts it)")
        setattr(self.report, key, getattr(self.report, key) + count)

    def check(self, ev: L2Events, where: str) -> L2Events:
        """``ev`` checked and repaired (or a DataError naming ``where`` and the first bad row)."""
        kind, side, price, size = ev.kind, ev.side, ev.price, ev.size
        level = kind != KIND_CLEAR
        bad = (kind < KIND_CLEAR) | (kind > KIND_TRADE)
        bad |= level & (np.abs(side) != 1)
        bad |= (~level) & (np.abs(side) > 1)
        bad |= level & ~np.isfinite(price)
        if bad.any():
            i = int(np.argmax(bad))
            self._problem(where, "bad_rows", int(bad.sum()),
                          f"row {i}: bad row (kind={kind[i]}, side={side[i]}, price={price[i]})")
        negative = level & ~bad & ~(size >= 0)
        if negative.any():
            i = int(np.argmax(negative))
            self._problem(where, "negative_sizes", int(negative.sum()), f"row {i}: negative size {size[i]}")
        drop = bad | negative
        if drop.any():
            ev = ev.take(~drop)
        ts = ev.ts_exchange
        if len(ts):
            running = np.maximum.accumulate(ts)
            late = ts < running
            if late.any():
                i = int(np.argmax(late))
                self._problem(where, "time_backwards", int(late.sum()),
                              f"row {i}: ts_exchange {ts[i]} is earlier than an earlier row's {running[i]}")
                ev = ev.take(np.argsort(ts, kind="stable"))
                ts = ev.ts_exchange
            if self.last_ts is not None and ts[0] < self.last_ts:
                early = ts < self.last_ts
                self._problem(where, "time_backwards", int(early.sum()),
                              f"ts_exchange {ts[0]} is earlier than the previous chunk's last {self.last_ts}")
                ts = np.maximum(ts, self.last_ts)
                ev = L2Events(ts, ev.ts_local, ev.kind, ev.side, ev.price, ev.size)
            ahead = ev.ts_local < ts
            if ahead.any():
                i = int(np.argmax(ahead))
                self._problem(where, "negative_latency", int(ahead.sum()),
                              f"row {i}: ts_local {ev.ts_local[i]} is before ts_exchange {ts[i]}")
                ev = L2Events(ts, np.maximum(ev.ts_local, ts), ev.kind, ev.side, ev.price, ev.size)
            if self.max_latency_ns is not None:
                late = ev.ts_local - ts > self.max_latency_ns
                if late.any():
                    i = int(np.argmax(late))
                    self._problem(where, "stale_latency", int(late.sum()),
                                  f"row {i}: feed latency {(ev.ts_local[i] - ts[i]) / 1e9:.3f} s exceeds max_latency")
                    ev = L2Events(ts, np.minimum(ev.ts_local, ts + self.max_latency_ns), ev.kind, ev.side,
                                  ev.price, ev.size)
            if self.max_gap_ns is not None:
                edges = np.diff(ts, prepend=ts[0] if self.last_ts is None else self.last_ts)
                silent = edges > self.max_gap_ns
                if silent.any():
                    i = int(np.argmax(silent))
                    self._problem(where, "gaps", int(silent.sum()),
                                  f"row {i}: no event for {edges[i] / 1e9:.1f} s (longer than max_gap)")
            self.last_ts = int(ts[-1])
        self.report.rows += len(ev)
        return ev


def iter_l2(
    path: str | os.PathLike[str],
    *,
    on_bad_data: str = "repair",
    report: ValidationReport | None = None,
    max_gap_ns: int | None = None,
    max_latency_ns: int | None = 60_000_000_000,
) -> Iterator[L2Events]:
    """Stream a dataset file by file (one Parquet row group at a time), validated as the module docstring says.

    Memory holds one row group, whatever the number of files. ``report`` (a new one if None) collects the counts.
    """
    import pyarrow.parquet as pq

    files = l2_files(path)
    report = report if report is not None else ValidationReport()
    checker = _Checker(on_bad_data, report, max_gap_ns, max_latency_ns)
    metas = {read_meta(f) for f in files}
    if len(metas) > 1:
        raise DataError(f"{path}: files disagree on symbol, tick or lot size: {sorted(map(str, metas))}")
    missing = _missing_hours(files)
    if missing:
        checker._problem(str(path), "gaps", len(missing), f"missing hour file(s) {', '.join(missing[:3])}")
        report.notes.append(f"missing hours: {', '.join(missing)}")
    for file in files:
        report.files += 1
        pf = pq.ParquetFile(file)
        for group in range(pf.num_row_groups):
            table = pf.read_row_group(group, columns=list(COLUMNS))
            columns = {c: _numpy(table.column(c)) for c in COLUMNS}
            yield checker.check(L2Events.build(**columns), f"{file} (row group {group})")


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as :class:`L2Events` holds it: timestamps as int64 ns, null prices as NaN."""
    import pyarrow as pa

    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return column.to_numpy()


@runtime_checkable
class L2Feed(Protocol):
    """What the replay venue (:mod:`botmm.sim.replay`) needs from a feed: event chunks in exchange order, the grid
    and the load checks."""

    meta: L2Meta
    report: ValidationReport
    on_bad_data: str

    def batches(self) -> Iterator[L2Events]: ...


class MemoryL2Feed:
    """Events already in memory, served as an L2 feed (in ``chunk_rows`` pieces, or one piece), for tests and
    benchmarks that time the replay without the Parquet reads."""

    on_bad_data = "repair"

    def __init__(self, events: L2Events, meta: L2Meta, chunk_rows: int | None = None):
        self.events, self.meta, self.chunk_rows = events, meta, chunk_rows
        self.report = ValidationReport()

    def batches(self) -> Iterator[L2Events]:
        step = self.chunk_rows or max(1, len(self.events))
        return (self.events.take(slice(i, i + step)) for i in range(0, len(self.events), step))


def read_l2(path: str | os.PathLike[str], **kwargs: Any) -> L2Events:
    """A whole dataset in memory (for tests and small files); see :func:`iter_l2`."""
    return L2Events.concat(list(iter_l2(path, **kwargs)))
