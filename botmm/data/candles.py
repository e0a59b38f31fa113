"""Candle files (CSV, gzipped CSV or Parquet) to and from ``Candles``, with checks that report one line per problem.

Every ``DataError`` names the file as the caller gave it and, where there is one, the column, the 0-based data row
and the offending value, so a user can fix the file without a traceback. pyarrow is imported inside the functions
so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from botmm.errors import ConfigError, DataError
from botmm.model import Candles

if TYPE_CHECKING:
    import pyarrow as pa

FIELDS = ("ts", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
TS_UNITS = ("auto", "s", "ms", "us", "ns")
VOLUME_UNITS = ("base", "quote")
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

# (multiplier, divisor) turning a count of the unit into milliseconds.
_TO_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
# ISO-8601 text that ends in a zone: a time of day followed by Z, +hh, +hhmm or +hh:mm.
_ZONED = r"\d:\d\d(?::\d\d(?:\.\d*)?)?(?:Z|[+-]\d\d(?::?\d\d)?)$"


def read_candles(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    ts_unit: str = "auto",
    volume_unit: str = "base",
    bar_ms: int | None = None,
) -> Candles:
    """Read and validate a candle file; the format follows the suffix (.csv, .csv.gz, .parquet, .pq).

    ``columns`` maps botmm names (ts, open, high, low, close, volume) to the file's; unmapped names are looked up as
    is, and ``ts`` falls back to a ``timestamp`` column. Timestamps may be integers or floats in ``ts_unit``
    ("auto" picks s, ms, us or ns by magnitude: below 1e11, 1e14, 1e17, else ns), ISO-8601 strings or Arrow
    timestamps; those without a zone are UTC. ``volume_unit="quote"`` divides volume by the close to get base units.
    Files have no book, so bid = ask = close and the book sizes are 0. ``bar_ms`` defaults to the median spacing of the timestamps.
    """
    name = os.fspath(path)
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{name}: unknown candle column key(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    if ts_unit not in TS_UNITS:
        raise ConfigError(f"{name}: ts_unit must be one of {', '.join(TS_UNITS)}, got {ts_unit!r}")
    if volume_unit not in VOLUME_UNITS:
        raise ConfigError(f"{name}: volume_unit must be one of {', '.join(VOLUME_UNITS)}, got {volume_unit!r}")
    if bar_ms is not None and bar_ms <= 0:
        raise ConfigError(f"{name}: bar_ms must be > 0, got {bar_ms}")

    table = _read_table(name)
    if table.num_rows == 0:
        raise DataError(f"{name}: no data rows")
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

    ts = _timestamps_ms(cols["ts"], ts_unit, name, sources["ts"])
    values = {field: _numbers(cols[field], name, sources[field]) for field in (*PRICES, "volume")}
    for field in PRICES:
        _check_prices(values[field], name, sources[field])
    _check_ohlc(values, name)
    _check_volume(values["volume"], name, sources["volume"])
    _check_order(ts, name)

    close = values["close"]
    volume = values["volume"] / close if volume_unit == "quote" else values["volume"]
    if bar_ms is None:
        if len(ts) < 2:
            raise DataError(f"{name}: a single bar cannot give the bar length; pass bar_ms")
        bar_ms = int(np.median(np.diff(ts)))
    return Candles(
        ts=ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=close,
        volume=volume,
        bid=close.copy(),
        ask=close.copy(),
        bid_size=np.zeros_like(close),
        ask_size=np.zeros_like(close),
        bar_ms=bar_ms,
    )


def write_candles_parquet(candles: Candles, path: str | os.PathLike[str]) -> None:
    """Write the botmm Parquet format: ``ts`` as timestamp[ms, UTC], then open, high, low, close, volume as float64.

    The book (bid/ask) and ``bar_ms`` are not stored; ``read_candles`` sets bid = ask = close and infers ``bar_ms``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {"ts": pa.array(np.asarray(candles.ts, dtype=np.int64), type=pa.timestamp("ms", tz="UTC"))}
    for field in (*PRICES, "volume"):
        arrays[field] = pa.array(np.asarray(getattr(candles, field), dtype=np.float64))
    pq.write_table(pa.table(arrays), os.fspath(path))


def _read_table(name: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if not os.path.exists(name):
        raise DataError(f"{name}: file not found")
    if not os.path.isfile(name):
        raise DataError(f"{name}: not a file")
    lower = name.lower()
    suffix = next((s for s in SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        found = os.path.splitext(name)[1] or "no suffix"
        raise DataError(f"{name}: unknown candle file type ({found}); expected {', '.join(SUFFIXES)}")
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(name)
        return pa_csv.read_csv(name)
    except (pa.ArrowException, OSError) as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(f"{name}: empty file") from None
        raise DataError(f"{name}: cannot read {suffix[1:]}: {_first_line(exc)}") from None


def _timestamps_ms(col: pa.Array, unit: str, name: str, src: str) -> np.ndarray:
    """Timestamps as int64 ms since the epoch, from integers/floats in ``unit``, ISO strings or Arrow timestamps."""
    import pyarrow as pa

    _check_no_nulls(col, name, src, "timestamp")
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("ms"))
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        if not _castable(col.slice(0, 1), pa.float64()):
            return _iso_ms(col, name, src)
        col = pa.array(_numbers(col, name, src))
    kind = col.type
    if pa.types.is_timestamp(kind):
        mul, div = _TO_MS[kind.unit]
        return col.cast(pa.int64()).to_numpy() * mul // div
    if pa.types.is_integer(kind):
        raw = col.cast(pa.int64()).to_numpy()
        mul, div = _TO_MS[_infer_unit(raw) if unit == "auto" else unit]
        return raw * mul // div
    if pa.types.is_floating(kind):
        raw = col.cast(pa.float64()).to_numpy()
        bad = np.flatnonzero(~np.isfinite(raw))
        if bad.size:
            raise DataError(f"{name}: column {src!r} row {bad[0]}: timestamp is {raw[bad[0]]}")
        mul, div = _TO_MS[_infer_unit(raw) if unit == "auto" else unit]
        return np.rint(raw * mul / div).astype(np.int64)
    raise DataError(f"{name}: column {src!r} has type {kind}; expected timestamps, dates, ISO-8601 text or numbers")


def _iso_ms(col: pa.Array, name: str, src: str) -> np.ndarray:
    """Parse ISO-8601 text; values with a zone (Z or +hh:mm) are converted to UTC, the rest are taken as UTC."""
    import pyarrow as pa
    import pyarrow.compute as pc

    zoned = pc.match_substring_regex(col, _ZONED).to_numpy(zero_copy_only=False)
    out = np.empty(len(col), dtype=np.int64)
    for mask, kind in ((zoned, pa.timestamp("ns", tz="UTC")), (~zoned, pa.timestamp("ns"))):
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        part = col.take(pa.array(rows))
        try:
            out[rows] = pc.cast(part, kind).cast(pa.int64()).to_numpy() // 1_000_000
        except pa.ArrowException:
            row = rows[_first_uncastable(part, kind)]
            raise DataError(f"{name}: column {src!r} row {row}: cannot parse timestamp {col[row].as_py()!r}") from None
    return out


def _infer_unit(raw: np.ndarray) -> str:
    """Epoch unit from magnitude: present-day dates are ~1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns."""
    peak = float(np.max(np.abs(raw)))
    return "s" if peak < 1e11 else "ms" if peak < 1e14 else "us" if peak < 1e17 else "ns"


def _numbers(col: pa.Array, name: str, src: str) -> np.ndarray:
    """A numeric column as float64 (nulls become NaN); text that is not a number is reported with its row."""
    import pyarrow as pa

    kind = col.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            col = col.cast(pa.float64())
        except pa.ArrowException:
            row = _first_uncastable(col, pa.float64())
            raise DataError(f"{name}: column {src!r} row {row}: non-numeric value {col[row].as_py()!r}") from None
    elif not (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)
    ):
        raise DataError(f"{name}: column {src!r} has type {kind}; expected numbers")
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


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


def _check_no_nulls(col: pa.Array, name: str, src: str, what: str) -> None:
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{name}: column {src!r} row {row}: missing {what}")


def _check_prices(values: np.ndarray, name: str, src: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = bad[0]
        raise DataError(f"{name}: column {src!r} row {row}: price is {_show(values[row])} (missing or not finite)")
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        row = bad[0]
        raise DataError(f"{name}: column {src!r} row {row}: price {_show(values[row])} is not positive")


def _check_ohlc(v: dict[str, np.ndarray], name: str) -> None:
    """high >= low, and open and close inside [low, high]; reports the first bad row."""
    inverted = v["high"] < v["low"]
    outside = {field: (v[field] < v["low"]) | (v[field] > v["high"]) for field in ("open", "close")}
    bad = np.flatnonzero(inverted | outside["open"] | outside["close"])
    if not bad.size:
        return
    row = bad[0]
    low, high = _show(v["low"][row]), _show(v["high"][row])
    if inverted[row]:
        raise DataError(f"{name}: row {row}: high {high} is below low {low}")
    field = "open" if outside["open"][row] else "close"
    raise DataError(f"{name}: row {row}: {field} {_show(v[field][row])} is outside [low {low}, high {high}]")


def _check_volume(values: np.ndarray, name: str, src: str) -> None:
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0)))
    if bad.size:
        row = bad[0]
        raise DataError(f"{name}: column {src!r} row {row}: volume {_show(values[row])} is not a finite number >= 0")


def _check_order(ts: np.ndarray, name: str) -> None:
    """Timestamps must strictly increase: name the duplicated timestamp or the first row that goes back in time."""
    step = np.diff(ts)
    bad = np.flatnonzero(step <= 0)
    if not bad.size:
        return
    row = bad[0] + 1
    if step[bad[0]] == 0:
        raise DataError(f"{name}: row {row}: duplicate timestamp {_iso(ts[row])} ({ts[row]} ms)")
    raise DataError(f"{name}: row {row}: timestamps not sorted, {_iso(ts[row])} comes after {_iso(ts[row - 1])}")


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms")) + "Z"


def _show(value: float) -> str:
    return "NaN" if np.isnan(value) else repr(float(value))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
