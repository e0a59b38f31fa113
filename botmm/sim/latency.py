"""Order latency of the replay venue: constant, or interpolated from a table of measured latencies.

* **Entry latency**: an order or cancel sent at local time t reaches the exchange at ``t + entry(t)``.
* **Response latency**: an acknowledgement, rejection, fill or cancel made by the exchange at exchange time t reaches
  the strategy at ``t + response(t)``.

A table (CSV or Parquet) has the columns ``ts`` (ns since the epoch), ``entry`` and ``response`` (ns); between rows
the latency is interpolated linearly in time, outside them it is the first or last row's. Messages on one path keep
their order (FIFO, as on one connection): a message never arrives before one sent earlier on the same path, so its
arrival is ``max(own arrival, previous arrival)``.

Durations are given as text with a unit (``10ms``, ``250us``, ``1.5s``, ``0``) and kept as integer nanoseconds, so
sub-millisecond latencies are exact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from botmm.errors import ConfigError, DataError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h)?\s*$")
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
            "h": 3_600_000_000_000, None: 1_000_000_000}


def duration_ns(text: str | float | int, key: str) -> int:
    """Nanoseconds in ``10ms``, ``250us``, ``2s``, ``0`` (a bare number is seconds); ConfigError naming ``key``."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{key}={text}: expected a duration >= 0 such as 10ms, 250us or 1s")
    return round(float(match.group(1)) * _UNIT_NS[match.group(2)])


@dataclass(frozen=True)
class LatencyModel:
    """Latency as a function of time: arrays ``ts`` (ascending), ``entry`` and ``response`` (all int64 ns)."""

    ts: np.ndarray
    entry: np.ndarray
    response: np.ndarray

    @staticmethod
    def constant(entry_ns: int, response_ns: int) -> LatencyModel:
        one = np.zeros(1, dtype=np.int64)
        return LatencyModel(one, np.array([entry_ns], dtype=np.int64), np.array([response_ns], dtype=np.int64))

    @staticmethod
    def from_table(path: str | os.PathLike[str]) -> LatencyModel:
        """Read a latency table (CSV or Parquet with columns ts, entry, response in ns)."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        name = os.fspath(path)
        try:
            table = pq.read_table(name) if name.endswith((".parquet", ".pq")) else pcsv.read_csv(name)
        except FileNotFoundError:
            raise DataError(f"{name}: no such latency table") from None
        except Exception as exc:
            raise DataError(f"{name}: unreadable latency table ({exc})") from None
        missing = [c for c in ("ts", "entry", "response") if c not in table.column_names]
        if missing:
            raise DataError(f"{name}: latency table lacks column(s) {', '.join(missing)} (ts, entry, response in ns)")
        ts, entry, response = (np.asarray(table.column(c).to_numpy(), dtype=np.int64)
                               for c in ("ts", "entry", "response"))
        if len(ts) == 0:
            raise DataError(f"{name}: latency table is empty")
        if np.any(np.diff(ts) < 0):
            raise DataError(f"{name}: latency table ts must be ascending")
        if np.any(entry < 0) or np.any(response < 0):
            raise DataError(f"{name}: latency table has a negative latency")
        return LatencyModel(ts, entry, response)

    def entry_at(self, t: int) -> int:
        """Entry latency (ns) of a message sent at ``t``."""
        return interpolate(self.ts, self.entry, t)

    def describe(self) -> str:
        """One line for logs and results."""
        if len(self.ts) == 1:
            return f"constant entry {self.entry[0] / 1e6:g} ms, response {self.response[0] / 1e6:g} ms"
        return (f"table of {len(self.ts)} rows, entry median {np.median(self.entry) / 1e6:g} ms, "
                f"response median {np.median(self.response) / 1e6:g} ms")


def interpolate(ts: np.ndarray, values: np.ndarray, t: int) -> int:
    """``values`` at time ``t``, linear between rows and flat outside; differences stay in integers so that
    nanosecond timestamps near 1.7e18 lose no precision."""
    i = int(np.searchsorted(ts, t, side="right"))
    if i == 0:
        return int(values[0])
    if i == len(ts):
        return int(values[-1])
    t0, t1, v0, v1 = int(ts[i - 1]), int(ts[i]), int(values[i - 1]), int(values[i])
    return v0 + round((v1 - v0) * (t - t0) / (t1 - t0))
