"""The venue-neutral side of an L2 recorder (``botmm record``): its common settings, the gap markers and the
hourly Parquet store of the L2 event dataset of :mod:`botmm.data.l2` (``<root>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet``),
which ``botmm replay feed.path=...`` reads as is. An exchange plugin's recorder (``botmm_l2_recorder``) turns its
venue's messages into rows and hands them to one :class:`HourlyStore` per symbol.

* **Gaps.** A gap in the recording (a dropped connection, a restart) is marked in the data by a clear of the whole
  book (side 0, price NaN) whose ``size`` is the gap's length in seconds (> 0), at the exchange time of the last
  event before it: a replay empties its book there and refills it at the next snapshot. A restart that resumes an
  hour file marks its gap the same way.
* **Files and crashes.** The open hour is held in memory and, every ``flush_seconds``, written whole to a temporary
  file that atomically replaces the hour file: on disk every hour file is always a complete Parquet file, and a
  crash (even SIGKILL) loses at most the last ``flush_seconds``. Rewriting costs about 40 ms per 300,000 rows (an
  hour of BTC snapshots), a fraction of a percent of a core at ``flush_seconds=5``. An hour is finished (and
  announced) once the exchange clock is ``LATE_GRACE_S`` past its end; an event arriving later still is moved to the
  start of the next open hour (``late``). A graceful stop (SIGINT, SIGTERM, ``duration``) writes every open hour.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np

from botmm.config import require
from botmm.data.l2 import HOUR_NS, KIND_CLEAR, L2Events, L2Meta, hour_name, read_l2, write_l2

LATE_GRACE_S = 5
TMP_DIR = ".recording"  # under the root: temporary files, renamed into place (never read as data)
MIN_GAP_S = 0.001  # a gap marker's size is at least this, so it never reads as a snapshot's clear (size 0)


@dataclass
class L2RecorderParams:
    """The settings every L2 recorder has (root keys of ``conf/record.yaml``); an exchange's recorder subclasses
    this with its connection settings."""

    venue: str = "hyperliquid"  # the exchange recorded: its plugin provides the recorder (botmm_l2_recorder)
    root: str = "data/orderbook"  # the dataset root: <root>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet
    flush_seconds: float = 5.0  # the hour file on disk is at most this old: what a crash can lose
    duration: Optional[str] = None  # stop after this long (15s, 2h, ...); null: until SIGINT or SIGTERM

    def __post_init__(self) -> None:
        require(bool(self.venue), self, "venue", "must name an exchange")
        require(bool(self.root), self, "root", "must name a folder")
        require(self.flush_seconds > 0, self, "flush_seconds", "must be > 0")


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds")


def gap_marker(symbol: str, start_ns: int, local_ns: int, end_ns: int, reason: str) -> tuple[L2Events, dict[str, Any]]:
    """The row marking a gap of ``symbol``'s data from exchange time ``start_ns`` (the last event before it, which
    arrived at ``local_ns``) to ``end_ns`` (see the module docstring), and the ``recorder_gap`` notification's
    data."""
    seconds = max((end_ns - start_ns) / 1e9, MIN_GAP_S)
    marker = L2Events.build(ts_exchange=[start_ns], ts_local=[max(local_ns, start_ns)], kind=[KIND_CLEAR], side=[0],
                            price=[math.nan], size=[seconds])
    return marker, {"symbol": symbol, "seconds": round(seconds, 3), "reason": reason, "start": _iso(start_ns),
                    "end": _iso(end_ns)}


def is_gap(events: L2Events) -> np.ndarray:
    """Mask of the gap markers among ``events``."""
    return (events.kind == KIND_CLEAR) & (events.size > 0)


class HourlyStore:
    """The file side of one symbol: the open hours in memory, each rewritten atomically on every store (see the
    module docstring). Used from one thread at a time."""

    def __init__(self, root: str | os.PathLike[str], meta: L2Meta):
        self.root, self.meta = Path(root), meta
        self.dir = self.root / meta.symbol
        self.tmp_root = self.root / TMP_DIR
        shutil.rmtree(self.tmp_root / meta.symbol, ignore_errors=True)  # a crashed write's leftover
        self.open: dict[int, L2Events] = {}
        self.dirty: set[int] = set()
        self.closed_until: Optional[int] = None  # exchange time before which every hour is finished
        self.newest = np.iinfo(np.int64).min
        self.files: list[Path] = []
        self.rows = 0
        self.late = 0

    def path(self, hour: int) -> Path:
        return self.dir / f"{hour_name(hour * HOUR_NS)}.parquet"

    def store(self, batch: L2Events, final: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Add ``batch``, write every hour that changed, finish the hours the exchange clock has left behind (all of
        them when ``final``). Returns the notifications to send: ``recorder_gap`` for a resumed file,
        ``recorder_rotated`` for each hour finished before the final store."""
        notes: list[tuple[str, dict[str, Any]]] = []
        if len(batch):
            batch = batch.take(np.argsort(batch.ts_exchange, kind="stable"))
            if self.closed_until is not None and batch.ts_exchange[0] < self.closed_until:
                late = batch.ts_exchange < self.closed_until
                self.late += int(late.sum())
                ts = np.maximum(batch.ts_exchange, self.closed_until)
                batch = L2Events(ts, np.maximum(batch.ts_local, ts), batch.kind, batch.side, batch.price, batch.size)
            self.rows += len(batch)
            hours = batch.ts_exchange // HOUR_NS
            cuts = np.flatnonzero(np.diff(hours)) + 1
            for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(hours)]):
                hour = int(hours[start])
                part = batch.take(slice(int(start), int(stop)))
                if hour not in self.open:
                    self.open[hour] = self._resume(hour, part, notes)
                self.open[hour] = _append(self.open[hour], part)
                self.dirty.add(hour)
            self.newest = max(self.newest, int(batch.ts_exchange[-1]))
        for hour in sorted(self.open):
            if hour in self.dirty:
                self._write(hour)
            if final or (hour + 1) * HOUR_NS + LATE_GRACE_S * 1_000_000_000 <= self.newest:
                rows = len(self.open.pop(hour))
                self.closed_until = max(self.closed_until or 0, (hour + 1) * HOUR_NS)
                if not final:
                    notes.append(("recorder_rotated", {"symbol": self.meta.symbol, "file": str(self.path(hour)),
                                                       "rows": rows}))
        return notes

    def _resume(self, hour: int, first: L2Events, notes: list[tuple[str, dict[str, Any]]]) -> L2Events:
        """The rows an earlier session left in this hour's file, closed by a gap marker; nothing when new."""
        path = self.path(hour)
        if not path.is_file():
            return first.take(slice(0, 0))
        old = read_l2(path)
        if len(old) == 0:
            return old
        marker, note = gap_marker(self.meta.symbol, int(old.ts_exchange[-1]), int(old.ts_local[-1]),
                                  int(first.ts_exchange[0]), f"resumed {path.name} after a restart")
        notes.append(("recorder_gap", note))
        return L2Events.concat([old, marker])

    def _write(self, hour: int) -> None:
        """Write the hour to a temporary file, sync it, and rename it over the hour file."""
        (tmp,) = write_l2(self.open[hour], self.tmp_root, self.meta)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        final = self.path(hour)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        if final not in self.files:
            self.files.append(final)
        self.dirty.discard(hour)


def _append(events: L2Events, part: L2Events) -> L2Events:
    """``part`` appended to ``events``, kept in exchange order (stable: earlier rows first on equal times)."""
    if len(events) == 0:
        return part
    merged = L2Events.concat([events, part])
    if part.ts_exchange[0] < events.ts_exchange[-1]:
        merged = merged.take(np.argsort(merged.ts_exchange, kind="stable"))
    return merged
