"""Candle files (CSV, gzipped CSV or Parquet) to and from ``Candles``: checks that report one line per problem, and
repairs that are never silent.

Every ``DataError`` names the file as the caller gave it and, where there is one, the column, the 0-based data row
and the offending value, so a user can fix the file without a traceback. pyarrow is imported inside the functions
so that importing this module stays cheap.

Checks, in order: timestamps present and parsable; prices finite and > 0; low <= open, close <= high; volume finite
and >= 0; timestamps strictly increasing (no duplicate, no row earlier than the row before it); no gap. A gap is a
missing bar: consecutive bars ``d`` ms apart with ``round(d / bar_ms) >= 2`` (so clock jitter of under half a bar is
not a gap), and ``round(d / bar_ms) - 1`` bars are missing there.

Each failure is an error unless its repair is asked for: ``repair="none"`` (the default), ``"all"``, or repair names
joined by ``+`` (``"sort+drop_duplicates"``). Repairs run in this order, whatever order they are named in; each is
counted (:class:`Repairs`) and logged as a warning naming the file:

* ``drop_bad_rows``: drop rows with a missing or unparsable timestamp, a price that is missing, not a number, not
  finite or not positive, high below low or open/close outside [low, high], or a volume that is missing, negative or
  not finite;
* ``sort``: order rows by timestamp (a stable sort: rows of equal time keep their file order);
* ``drop_duplicates``: of rows with equal timestamps keep the last in file order (a later line usually corrects an
  earlier one);
* ``fill_gaps``: insert each missing bar as a flat bar at the previous close (open = high = low = close, volume 0):
  a market in which nothing traded.

Row numbers in messages count the file's data rows; once a repair has dropped or moved rows, messages about later
checks count the repaired rows and also give the timestamps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TYPE_CHECKING

import numpy as np

from botmm.errors import ConfigError, DataError
from botmm.model import CANDLE_ARRAYS, Candles

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("botmm.data.candles")

FIELDS = ("ts", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
TS_UNITS = ("auto", "s", "ms", "us", "ns")
VOLUME_UNITS = ("base", "quote")
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
REPAIRS = ("drop_bad_rows", "sort", "drop_duplicates", "fill_gaps")
"""Repair names, in the order they are applied."""

# (multiplier, divisor) turning a count of the unit into milliseconds.
_TO_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
# ISO-8601 text that ends in a zone: a time of day followed by Z, +hh, +hhmm or +hh:mm.
_ZONED = r"\d:\d\d(?::\d\d(?:\.\d*)?)?(?:Z|[+-]\d\d(?::?\d\d)?)$"
# The ISO-8601 shapes Arrow parses; with drop_bad_rows, text of any other shape is a bad timestamp.
_ISO = r"^\d{4}-\d\d-\d\d(?:[T ]\d\d(?::\d\d(?::\d\d(?:\.\d{1,9})?)?)?)?(?:Z|[+-]\d\d(?::?\d\d)?)?$"
# The number forms Arrow parses; with drop_bad_rows, other text in a numeric column is a bad value.
_NUMBER = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))$"
_BAD_ROW = " (repair: drop_bad_rows)"


@dataclass(frozen=True)
class Repairs:
    """What the repairs changed: rows dropped as bad, rows found earlier than the row before them (then sorted),
    duplicate rows dropped, and flat bars inserted into gaps."""

    bad_rows: int = 0
    unsorted: int = 0
    duplicates: int = 0
    filled: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def __str__(self) -> str:
        parts = [
            (self.bad_rows, f"dropped {self.bad_rows} bad row(s)"),
            (self.unsorted, f"sorted {self.unsorted} out-of-order row(s)"),
            (self.duplicates, f"dropped {self.duplicates} duplicate row(s)"),
            (self.filled, f"filled {self.filled} missing bar(s)"),
        ]
        return ", ".join(text for count, text in parts if count) or "nothing to repair"


def parse_repair(repair: str) -> frozenset[str]:
    """The repair names in ``repair`` ("none", "all" or names joined by "+"); ValueError naming the problem."""
    names = [part.strip() for part in str(repair).split("+")]
    if names == ["none"]:
        return frozenset()
    if names == ["all"]:
        return frozenset(REPAIRS)
    unknown = [n for n in names if n not in REPAIRS]
    if unknown:
        raise ValueError(f"unknown repair {unknown[0]!r}; use none, all or names joined by + from {', '.join(REPAIRS)}")
    return frozenset(names)


def read_candles(path: str | os.PathLike[str], **options: Any) -> Candles:
    """Read, check and (when asked) repair a candle file: :func:`load_candles` without the repair counts."""
    return load_candles(path, **options)[0]


def load_candles(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    ts_unit: str = "auto",
    volume_unit: str = "base",
    bar_ms: int | None = None,
    repair: str = "none",
    quiet: bool = False,
) -> tuple[Candles, Repairs]:
    """Read a candle file, format by suffix (.csv, .csv.gz, .parquet, .pq); return the bars and what was repaired.

    ``columns`` maps botmm names (ts, open, high, low, close, volume) to the file's; unmapped names are looked up as
    is, and ``ts`` falls back to a ``timestamp`` column. Timestamps may be integers or floats in ``ts_unit``
    ("auto" picks s, ms, us or ns by magnitude: below 1e11, 1e14, 1e17, else ns), ISO-8601 strings or Arrow
    timestamps; those without a zone are UTC. ``volume_unit="quote"`` divides volume by the close to get base units.
    Files have no book, so bid = ask = close and the book sizes are 0. ``bar_ms`` defaults to the median spacing of
    the timestamps. ``repair`` is described in the module docstring; what it changed is logged unless ``quiet``
    (the caller then reports it with :func:`log_repairs`).
    """
    name = os.fspath(path)
    _check_options(name, columns, ts_unit, volume_unit, bar_ms, repair)
    return table_candles(_read_table(name), name, columns=columns, ts_unit=ts_unit, volume_unit=volume_unit,
                         bar_ms=bar_ms, repair=repair, quiet=quiet)


def table_candles(
    table: pa.Table,
    name: str,
    *,
    columns: Mapping[str, str] | None = None,
    ts_unit: str = "auto",
    volume_unit: str = "base",
    bar_ms: int | None = None,
    repair: str = "none",
    prev: tuple[int, float] | None = None,
    quiet: bool = False,
) -> tuple[Candles, Repairs]:
    """Check and repair an Arrow table of bars (``name`` labels messages), as :func:`load_candles` does for a file.

    ``prev`` is the (ts, close) of the bar just before this table, when the table continues an earlier batch: the
    first row must come after it, and a gap between them is found (and filled) like one inside the table.
    """
    fixes = _check_options(name, columns, ts_unit, volume_unit, bar_ms, repair)
    if table.num_rows == 0:
        raise DataError(f"{name}: no data rows")
    mapping = dict(columns or {})
    present = table.column_names
    if "ts" not in mapping and "ts" not in present and "timestamp" in present:
        mapping["ts"] = "timestamp"
    sources = {field: mapping.get(field, field) for field in FIELDS}
    missing = [src for src in sources.values() if src not in present]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))}; the file has {', '.join(map(repr, present))}"
        )
    cols = {field: table.column(src).combine_chunks() for field, src in sources.items()}

    lenient = "drop_bad_rows" in fixes
    ts, bad = _timestamps_ms(cols["ts"], ts_unit, name, sources["ts"], lenient)
    values = {field: _numbers(cols[field], name, sources[field], lenient) for field in (*PRICES, "volume")}
    counts: dict[str, int] = {}
    if lenient:
        bad |= _bad_values(values)
        if bad.all():
            raise DataError(f"{name}: no valid rows; drop_bad_rows dropped all {len(bad)}")
        if bad.any():
            counts["bad_rows"] = int(bad.sum())
            ts, values = ts[~bad], {field: v[~bad] for field, v in values.items()}
    else:
        check_values(values, name, sources)

    if "sort" in fixes and (unsorted := int(np.count_nonzero(np.diff(ts) < 0))):
        counts["unsorted"] = unsorted
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], {field: v[order] for field, v in values.items()}
    if "drop_duplicates" in fixes:
        last = np.append(ts[1:] != ts[:-1], True)
        if not last.all():
            counts["duplicates"] = int(np.count_nonzero(~last))
            ts, values = ts[last], {field: v[last] for field, v in values.items()}
    _check_order(ts, name, None if prev is None else prev[0])

    if bar_ms is None:
        if len(ts) < 2:
            raise DataError(f"{name}: a single bar cannot give the bar length; pass bar_ms")
        bar_ms = int(np.median(np.diff(ts)))
    close = values["close"]
    volume = values["volume"] / close if volume_unit == "quote" else values["volume"]
    candles = Candles(
        ts=ts, open=values["open"], high=values["high"], low=values["low"], close=close, volume=volume,
        bid=close.copy(), ask=close.copy(), bid_size=np.zeros_like(close), ask_size=np.zeros_like(close),
        bar_ms=bar_ms,
    )
    if "fill_gaps" in fixes:
        candles, filled = fill_gaps(candles, prev)
        if filled:
            counts["filled"] = filled
    else:
        _check_gaps(candles, name, None if prev is None else prev[0])
    repairs = Repairs(**counts)
    if not quiet:
        log_repairs(name, repairs)
    return candles, repairs


def log_repairs(name: str, repairs: Repairs) -> None:
    """The warning that says what the repairs changed in ``name`` (nothing when they changed nothing)."""
    if repairs:
        log.warning("%s: repaired: %s", name, repairs)


def check_values(values: Mapping[str, np.ndarray], name: str, sources: Mapping[str, str] | None = None) -> None:
    """DataError for the first bad value: prices finite and > 0, low <= open, close <= high, volume finite and >= 0.

    ``values`` maps open, high, low, close and volume to float arrays; ``sources`` names their columns in messages.
    """
    src = {field: field for field in FIELDS} | dict(sources or {})
    for field in PRICES:
        _check_prices(values[field], name, src[field])
    _check_ohlc(values, name)
    _check_volume(values["volume"], name, src["volume"])


def missing_bars(ts: np.ndarray, bar_ms: int, prev_ts: int | None = None) -> np.ndarray:
    """For each bar, how many bars are missing just before it (before row 0: since ``prev_ts``, if given)."""
    steps = np.diff(ts, prepend=ts[0] if prev_ts is None else prev_ts)
    return np.maximum(np.rint(steps / bar_ms).astype(np.int64) - 1, 0)


def fill_gaps(candles: Candles, prev: tuple[int, float] | None = None) -> tuple[Candles, int]:
    """Insert each missing bar as a flat bar at the close before it, with no volume; return the bars and the count.

    ``prev`` is the (ts, close) of the bar before ``candles`` (a gap before row 0 is filled from it)."""
    bar_ms = candles.bar_ms
    missing = missing_bars(candles.ts, bar_ms, None if prev is None else prev[0])
    total = int(missing.sum())
    if not total:
        return candles, 0
    n = len(candles) + total
    pos = np.arange(len(candles)) + np.cumsum(missing)  # where each original bar lands
    flat = np.ones(n, dtype=bool)
    flat[pos] = False
    anchor = np.cumsum(~flat) - 1  # the original bar at or before each output row; -1: the ``prev`` bar
    before = anchor < 0
    at = np.maximum(anchor, 0)
    anchor_ts = np.where(before, prev[0] if prev else 0, candles.ts[at])
    anchor_pos = np.where(before, -1, pos[at])
    anchor_close = np.where(before, prev[1] if prev else 0.0, candles.close[at])
    out = {"ts": anchor_ts + (np.arange(n) - anchor_pos) * bar_ms}
    for field in CANDLE_ARRAYS[1:]:
        column = np.empty(n, dtype=np.float64)
        column[pos] = getattr(candles, field)
        column[flat] = 0.0 if field in ("volume", "bid_size", "ask_size") else anchor_close[flat]
        out[field] = column
    return Candles(**out, bar_ms=bar_ms), total


def write_candles_parquet(candles: Candles, path: str | os.PathLike[str]) -> None:
    """Write the botmm Parquet format: ``ts`` as timestamp[ms, UTC], then open, high, low, close, volume as float64.

    The book (bid/ask) and ``bar_ms`` are not stored; ``read_candles`` sets bid = ask = close and infers ``bar_ms``.
    """
    import pyarrow.parquet as pq

    pq.write_table(candles_table(candles), os.fspath(path))


def candles_table(candles: Candles) -> pa.Table:
    """The bars as an Arrow table in the botmm Parquet schema (see :func:`write_candles_parquet`)."""
    import pyarrow as pa

    arrays = {"ts": pa.array(np.asarray(candles.ts, dtype=np.int64), type=pa.timestamp("ms", tz="UTC"))}
    for field in (*PRICES, "volume"):
        arrays[field] = pa.array(np.asarray(getattr(candles, field), dtype=np.float64))
    return pa.table(arrays)


def _check_options(
    name: str, columns: Mapping[str, str] | None, ts_unit: str, volume_unit: str, bar_ms: int | None, repair: str
) -> frozenset[str]:
    """ConfigError for a bad option; returns the repair names."""
    unknown = sorted(set(columns or {}) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{name}: unknown candle column key(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    if ts_unit not in TS_UNITS:
        raise ConfigError(f"{name}: ts_unit must be one of {', '.join(TS_UNITS)}, got {ts_unit!r}")
    if volume_unit not in VOLUME_UNITS:
        raise ConfigError(f"{name}: volume_unit must be one of {', '.join(VOLUME_UNITS)}, got {volume_unit!r}")
    if bar_ms is not None and bar_ms <= 0:
        raise ConfigError(f"{name}: bar_ms must be > 0, got {bar_ms}")
    try:
        return parse_repair(repair)
    except ValueError as exc:
        raise ConfigError(f"{name}: repair={repair}: {exc}") from None


def _read_table(name: str) -> pa.Table:
    if not os.path.exists(name):
        raise DataError(f"{name}: file not found")
    if not os.path.isfile(name):
        raise DataError(f"{name}: not a file")
    lower = name.lower()
    suffix = next((s for s in SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        found = os.path.splitext(name)[1] or "no suffix"
        raise DataError(f"{name}: unknown candle file type ({found}); expected {', '.join(SUFFIXES)}")
    import pyarrow as pa  # after the checks that need none of it

    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(name)
        import pyarrow.csv as pa_csv

        return pa_csv.read_csv(name)
    except (pa.ArrowException, OSError) as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(f"{name}: empty file") from None
        raise DataError(f"{name}: cannot read {suffix[1:]}: {first_line(exc)}") from None


def _timestamps_ms(col: pa.Array, unit: str, name: str, src: str, lenient: bool) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps as int64 ms since the epoch, from integers/floats in ``unit``, ISO strings or Arrow timestamps,
    and the mask of rows without a usable one (always empty unless ``lenient``; otherwise the first is an error)."""
    import pyarrow as pa

    bad = _numpy(col.is_null(), "bool")
    if bad.any() and not lenient:
        raise DataError(f"{name}: column {src!r} row {np.flatnonzero(bad)[0]}: missing timestamp{_BAD_ROW}")
    if bad.all():
        return np.zeros(len(col), dtype=np.int64), bad
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("ms"))
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        first = int(np.flatnonzero(~bad)[0])
        if not _castable(col.slice(first, 1), pa.float64()):
            ms, unparsable = _iso_ms(col, name, src, lenient)
            return ms, bad | unparsable
        col = _numeric(col, name, src, lenient)
    kind = col.type
    if pa.types.is_timestamp(kind):
        mul, div = _TO_MS[kind.unit]
        return _numpy(col, "int64") * mul // div, bad
    if pa.types.is_integer(kind):
        raw = _numpy(col, "int64")
        mul, div = _TO_MS[_infer_unit(raw[~bad]) if unit == "auto" else unit]
        return raw * mul // div, bad
    if pa.types.is_floating(kind):
        raw = _numpy(col, "float64")
        nonfinite = ~np.isfinite(raw)
        if nonfinite.any() and not lenient:
            row = np.flatnonzero(nonfinite)[0]
            raise DataError(f"{name}: column {src!r} row {row}: timestamp is {raw[row]}{_BAD_ROW}")
        bad |= nonfinite
        if bad.all():
            return np.zeros(len(col), dtype=np.int64), bad
        raw = np.where(bad, 0.0, raw)
        mul, div = _TO_MS[_infer_unit(raw[~bad]) if unit == "auto" else unit]
        return np.rint(raw * mul / div).astype(np.int64), bad
    raise DataError(f"{name}: column {src!r} has type {kind}; expected timestamps, dates, ISO-8601 text or numbers")


def _iso_ms(col: pa.Array, name: str, src: str, lenient: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO-8601 text; values with a zone (Z or +hh:mm) are converted to UTC, the rest are taken as UTC.
    Returns the ms and, when ``lenient``, the mask of text that is not ISO-8601 (otherwise such text is an error)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = pc.is_valid(col)
    unparsable = np.zeros(len(col), dtype=bool)
    if lenient:
        iso = pc.match_substring_regex(col, _ISO)
        unparsable = _numpy(present, "bool") & ~_numpy(iso, "bool")
        present = pc.and_(present, iso)
    zoned = pc.match_substring_regex(col, _ZONED)
    out = np.zeros(len(col), dtype=np.int64)
    for mask, kind in ((zoned, pa.timestamp("ns", tz="UTC")), (pc.invert(zoned), pa.timestamp("ns"))):
        mask = pc.and_(present, mask)  # null (no text) counts as false: filtered out, and not a row
        rows = np.flatnonzero(_numpy(mask, "bool"))
        if rows.size == 0:
            continue
        part = col.filter(mask)
        try:
            out[rows] = _numpy(pc.cast(part, kind), "int64") // 1_000_000
        except pa.ArrowException:
            row = rows[_first_uncastable(part, kind)]
            raise DataError(
                f"{name}: column {src!r} row {row}: cannot parse timestamp {col[row].as_py()!r}{_BAD_ROW}"
            ) from None
    return out, unparsable


def _infer_unit(raw: np.ndarray) -> str:
    """Epoch unit from magnitude: present-day dates are ~1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns."""
    peak = float(np.max(np.abs(raw)))
    return "s" if peak < 1e11 else "ms" if peak < 1e14 else "us" if peak < 1e17 else "ns"


def _numbers(col: pa.Array, name: str, src: str, lenient: bool) -> np.ndarray:
    """A numeric column as float64 (nulls become NaN). Text that is not a number is an error naming its row, or
    NaN when ``lenient`` (so the row counts as bad)."""
    return _numpy(_numeric(col, name, src, lenient), "float64")


def _numeric(col: pa.Array, name: str, src: str, lenient: bool) -> pa.Array:
    """:func:`_numbers` as an Arrow float64 array, text that is not a number null when ``lenient``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = col.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if lenient and not _castable(col, pa.float64()):
            numeric = pc.match_substring_regex(col, _NUMBER)  # null where col is: if_else then gives null
            col = pc.if_else(numeric, col, pa.nulls(1, kind)[0])
        try:
            col = col.cast(pa.float64())
        except pa.ArrowException:
            row = _first_uncastable(col, pa.float64())
            raise DataError(
                f"{name}: column {src!r} row {row}: non-numeric value {col[row].as_py()!r}{_BAD_ROW}"
            ) from None
    elif not (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)
    ):
        raise DataError(f"{name}: column {src!r} has type {kind}; expected numbers")
    return col.cast(pa.float64())


_NULL_AS = {"bool": False, "int64": 0, "float64": np.nan}


def _numpy(col: pa.Array, kind: str) -> np.ndarray:
    """``col`` cast to ``kind`` (bool, int64 or float64) as a new NumPy array, nulls as False, 0 or NaN, read from
    the Arrow buffers: pyarrow's own conversions (``to_numpy``, ``pa.array``, ``fill_null``) import pandas, half a
    second that a bad file's one-line error, or a backtest's start, should not wait for."""
    import pyarrow as pa

    col = col.cast(pa.bool_() if kind == "bool" else getattr(pa, kind)())
    n, offset = len(col), col.offset
    validity, data = col.buffers()[:2]
    if n == 0:
        return np.zeros(0, dtype=bool if kind == "bool" else kind)
    if kind == "bool":
        values = _bits(data, offset, n)
    else:
        dtype = np.dtype(kind)
        values = np.frombuffer(data, dtype, count=n, offset=offset * dtype.itemsize).copy()
    if validity is not None:
        values[~_bits(validity, offset, n)] = _NULL_AS[kind]
    return values


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """An Arrow bitmap (least significant bit first) as ``n`` booleans from bit ``offset``."""
    return np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")[offset:offset + n].astype(bool)


def _first_uncastable(col: pa.Array, kind: pa.DataType) -> int:
    """Index of the first value of ``col`` that does not cast to ``kind``, given that the whole column does not.

    Bisects on prefixes (a prefix fails iff it holds a bad value), so it costs O(log n) vectorised casts.
    """
    good, bad = 0, len(col)
    while bad - good > 1:
        mid = (good + bad) // 2
        if _castable(col.slice(0, mid), kind):
            good = mid
        else:
            bad = mid
    return bad - 1


def _castable(col: pa.Array, kind: pa.DataType) -> bool:
    import pyarrow as pa

    try:
        col.cast(kind)
    except pa.ArrowException:
        return False
    return True


def _bad_values(v: dict[str, np.ndarray]) -> np.ndarray:
    """Rows that fail any value check: a price missing, not finite or <= 0, inconsistent OHLC, or a bad volume."""
    bad = np.zeros(len(v["close"]), dtype=bool)
    for field in PRICES:
        bad |= ~(np.isfinite(v[field]) & (v[field] > 0))
    bad |= v["high"] < v["low"]
    for field in ("open", "close"):
        bad |= (v[field] < v["low"]) | (v[field] > v["high"])
    return bad | ~(np.isfinite(v["volume"]) & (v["volume"] >= 0))


def _check_prices(values: np.ndarray, name: str, src: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = bad[0]
        raise DataError(
            f"{name}: column {src!r} row {row}: price is {_show(values[row])} (missing or not finite){_BAD_ROW}"
        )
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        row = bad[0]
        raise DataError(f"{name}: column {src!r} row {row}: price {_show(values[row])} is not positive{_BAD_ROW}")


def _check_ohlc(v: Mapping[str, np.ndarray], name: str) -> None:
    """high >= low, and open and close inside [low, high]; reports the first bad row."""
    inverted = v["high"] < v["low"]
    outside = {field: (v[field] < v["low"]) | (v[field] > v["high"]) for field in ("open", "close")}
    bad = np.flatnonzero(inverted | outside["open"] | outside["close"])
    if not bad.size:
        return
    row = bad[0]
    low, high = _show(v["low"][row]), _show(v["high"][row])
    if inverted[row]:
        raise DataError(f"{name}: row {row}: high {high} is below low {low}{_BAD_ROW}")
    field = "open" if outside["open"][row] else "close"
    raise DataError(f"{name}: row {row}: {field} {_show(v[field][row])} is outside [low {low}, high {high}]{_BAD_ROW}")


def _check_volume(values: np.ndarray, name: str, src: str) -> None:
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0)))
    if bad.size:
        row = bad[0]
        raise DataError(
            f"{name}: column {src!r} row {row}: volume {_show(values[row])} is not a finite number >= 0{_BAD_ROW}"
        )


def _check_order(ts: np.ndarray, name: str, prev_ts: int | None) -> None:
    """Timestamps must strictly increase (after ``prev_ts`` if given): name the duplicated timestamp or the first
    row that goes back in time."""
    if prev_ts is not None and ts[0] <= prev_ts:
        raise DataError(f"{name}: row 0: {_iso(ts[0])} is not after the bar before it, {_iso(prev_ts)}")
    step = np.diff(ts)
    bad = np.flatnonzero(step <= 0)
    if not bad.size:
        return
    row = bad[0] + 1
    if step[bad[0]] == 0:
        raise DataError(
            f"{name}: row {row}: duplicate timestamp {_iso(ts[row])}, {ts[row]} ms (repair: drop_duplicates)"
        )
    raise DataError(
        f"{name}: row {row}: timestamps not sorted, {_iso(ts[row])} comes after {_iso(ts[row - 1])} (repair: sort)"
    )


def _check_gaps(candles: Candles, name: str, prev_ts: int | None) -> None:
    """No bar may be missing: name the first gap, its size and the bars either side."""
    missing = missing_bars(candles.ts, candles.bar_ms, prev_ts)
    bad = np.flatnonzero(missing)
    if not bad.size:
        return
    row = bad[0]
    before = prev_ts if row == 0 else candles.ts[row - 1]
    total = int(missing.sum())
    more = f"; {total} missing in all" if total > missing[row] else ""
    raise DataError(
        f"{name}: row {row}: {missing[row]} missing bar(s) between {_iso(before)} and {_iso(candles.ts[row])}, "
        f"bars of {candles.bar_ms} ms{more} (repair: fill_gaps)"
    )


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms")) + "Z"


def _show(value: float) -> str:
    return "NaN" if np.isnan(value) else repr(float(value))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
