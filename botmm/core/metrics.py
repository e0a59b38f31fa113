"""Equity curve, fills and the figures of a job's ``result.json``.

Figures (:func:`figures`), for a whole run or for one part of it:

* ``pnl``: equity at the end minus equity at the start, quote units; ``return_pct``: pnl over starting equity, %.
* ``sharpe``: mean over standard deviation of the daily returns, times sqrt(365) — crypto trades every day.
  ``sortino``: the same with the downside deviation (root mean square of the negative daily returns) in the
  denominator. A daily return is the UTC day's PnL (equity at its last tick minus equity at the previous day's last
  tick, or at the start) over the job's starting capital: a fixed base, so returns stay defined and comparable when
  equity falls to zero or below. With fewer than :data:`MIN_DAYS` days both are ``null`` (shown "n/a"): a Sharpe of
  a few hours says nothing. ``sharpe_basis`` says which applies, ``days`` counts the UTC days of the stretch.
* ``max_drawdown`` / ``max_drawdown_pct``: the largest fall of equity from a previous peak, in quote units and in %
  of that peak.
* ``fills``, ``volume`` (traded notional), ``turnover`` (volume over starting equity), ``fees`` (net) and
  ``rebates`` (the negative fees, as a positive amount).
* ``profitable_days_pct``: % of UTC days with a positive PnL; ``avg_inventory_usd`` / ``max_inventory_usd``: mean and
  largest ``|position| * mid``; ``time_at_limit_pct``: % of ticks with ``|position| * mid >= max_position_usd``.

With ``backtest.split`` (a fraction of the ticks, or a date), ``result.json`` also holds ``in_sample`` and
``out_of_sample`` figures for the two parts; with ``backtest.walk_forward.folds``, ``folds``: each fold's training
and test figures (:mod:`botmm.core.walk_forward`).
"""

from __future__ import annotations

import json
import math
import struct
import tempfile
import threading
from array import array
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, overload

import numpy as np

from botmm.model import Fill, Side

_DAY_MS = 86_400_000
MIN_DAYS = 7
"""Fewest UTC days with which ``sharpe`` and ``sortino`` are computed; below it they are ``null``."""

TICK_COLUMNS = ("mid", "position", "equity", "bid", "ask", "vol", "signal", "imbalance", "toxicity")
"""Per-tick columns of ``equity.parquet`` besides ``ts``: ``bid``/``ask`` are the best prices quoted after risk
(NaN when that side was not quoted); ``vol``, ``signal``, ``imbalance``, ``toxicity`` are the quoter's inputs."""


FILL_COLUMNS = {"ts": "q", "oid": "q", "side": "b", "price": "d", "size": "d", "fee": "d", "maker": "b", "tid": "q"}
"""The fields of :class:`~botmm.model.Fill`, as :class:`FillLog` stores them (``array`` type codes)."""
_SIDES = {int(side): side for side in Side}
FLUSH = 1024
"""Fills a :class:`FillLog` keeps as tuples before moving them into its columns."""


class FillLog:
    """Fills kept as typed columns, one ``array`` per field of :class:`~botmm.model.Fill`: about 50 bytes a fill,
    where a named tuple of Python numbers takes about 250 (a busy year of bars makes over half a million fills). It
    reads like the list of fills it replaces: ``len``, iteration and indexing give :class:`~botmm.model.Fill` tuples,
    a slice is a ``FillLog`` of that stretch.

    New fills wait as tuples in a short list and move into the columns :data:`FLUSH` at a time (:meth:`flush`): an
    append costs a list append, not eight array appends. One thread appends; readers in other threads (the status
    page) see a consistent prefix, as a list's readers do."""

    # the columns (array('q'), array('d'), ...), typed Any so that compiled figures sum them as Python does: an
    # empty column sums to the int 0, as result.json has always said
    ts: Any
    oid: Any
    side: Any
    price: Any
    size: Any
    fee: Any
    maker: Any
    tid: Any

    def __init__(self, fills: Iterable[Fill] = ()):
        self.ts, self.oid, self.side, self.price, self.size, self.fee, self.maker, self.tid = (
            array(code) for code in FILL_COLUMNS.values())
        self._pending: list[Fill] = []  # the newest fills, not yet in the columns
        self._count = 0
        self._lock = threading.Lock()  # a flush against a reader's view of columns and pending fills
        self.extend(fills)

    def append(self, fill: Fill) -> None:
        self._pending.append(fill)
        self._count += 1
        if len(self._pending) >= FLUSH:
            self.flush()

    def extend(self, fills: Iterable[Fill]) -> None:
        self._pending.extend(list(fills) if isinstance(fills, FillLog) else fills)
        self._count = len(self.tid) + len(self._pending)
        if len(self._pending) >= FLUSH:
            self.flush()

    def flush(self) -> None:
        """Move the pending fills into the columns (by the appending thread)."""
        with self._lock:
            pending, self._pending = self._pending, []
            for column, values in zip(self._columns(), zip(*pending)):  # packed: an array's extend parses each item
                column.frombytes(struct.pack(f"{len(values)}{column.typecode}", *values))

    def _columns(self) -> tuple[array, ...]:
        return self.ts, self.oid, self.side, self.price, self.size, self.fee, self.maker, self.tid

    def _view(self, index: slice) -> tuple[list[array], list[Fill]]:
        """The columns' and the pending fills' parts of ``index`` (a slice of step 1 of the first ``len`` fills)."""
        with self._lock:
            stored, pending = len(self.tid), self._pending[:]
        start, stop, _ = index.indices(min(self._count, stored + len(pending)))
        stop = max(start, stop)
        return ([column[start:min(stop, stored)] for column in self._columns()],
                pending[max(start - stored, 0):max(stop - stored, 0)])

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Fill]:
        columns, pending = self._view(slice(None))
        for ts, oid, side, price, size, fee, maker, tid in zip(*columns):
            yield Fill(ts, oid, _SIDES[side], price, size, fee, bool(maker), tid)
        yield from pending

    @overload
    def __getitem__(self, index: int) -> Fill: ...

    @overload
    def __getitem__(self, index: slice) -> FillLog: ...

    def __getitem__(self, index: int | slice) -> Fill | FillLog:
        if isinstance(index, slice) and index.step not in (None, 1):
            return FillLog(list(self)[index])
        if isinstance(index, slice):
            columns, pending = self._view(index)
            part = FillLog()
            part.ts, part.oid, part.side, part.price, part.size, part.fee, part.maker, part.tid = columns
            part.extend(pending)
            return part
        start = range(len(self))[index]
        return next(iter(self[start:start + 1]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FillLog):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it replaces

    def since(self, cursor: int) -> tuple[list[Fill], int]:
        """The fills after ``cursor`` (a count of fills) and the cursor to pass next time: a simulated venue's
        ``fills_since``. Its reader, which is the appending thread, reads the newest fills, still tuples."""
        stored = len(self.tid)
        if cursor >= stored:
            return self._pending[cursor - stored:], self._count
        return list(self[cursor:]), self._count

    def column(self, name: str) -> np.ndarray:
        """A copy of one column as a numpy array (``maker`` as bool)."""
        self.flush()
        values = np.array(getattr(self, name))
        return values.astype(bool) if name == "maker" else values


class MetricsRecorder:
    """Every tick's values and every fill of a job. ``ts``, ``mid``, ``position`` and ``equity``, which the figures
    and other components read, are kept in typed arrays (8 bytes a value, where a list of Python floats takes 32),
    which index, slice and convert to numpy as lists do: a year of 1-minute bars is about 17 MB. The other
    :data:`TICK_COLUMNS`, read only to write ``equity.parquet``, go to a temporary file every :data:`ROW_GROUP`
    ticks."""

    def __init__(self, capital: float, max_position_usd: float):
        self.capital = capital
        self.max_position_usd = max_position_usd
        self.ts = array("q")
        self.mid = array("d")
        self.position = array("d")
        self.equity = array("d")
        self.ticks = array("d")  # the other TICK_COLUMNS of the ticks not spooled, a tick's values one after the other
        self._spool: IO[bytes] | None = None
        self._spooled = 0  # ticks in the spool
        self.fills = FillLog()

    def record(self, ts: int, mid: float, position: float, equity: float, bid: float, ask: float, vol: float,
               signal: float, imbalance: float, toxicity: float) -> None:
        """One tick: the values of :data:`TICK_COLUMNS`, in order (named, not ``*values``: no tuple a tick)."""
        self.ts.append(ts)
        self.mid.append(mid)
        self.position.append(position)
        self.equity.append(equity)
        # an array's extend parses each value: packing is 2x cheaper
        self.ticks.frombytes(_pack_extra(bid, ask, vol, signal, imbalance, toxicity))
        if len(self.ticks) >= _SPOOL_VALUES:
            self._spill()

    def _spill(self) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()
        self.ticks.tofile(self._spool)
        self._spooled += len(self.ticks) // _WIDTH
        self.ticks = array("d")

    def _extra(self, lo: int, hi: int) -> np.ndarray:
        """The columns after ``equity`` of ticks ``lo`` to ``hi``, one row a tick."""
        parts = []
        if lo < self._spooled and self._spool is not None:
            self._spool.flush()
            self._spool.seek(lo * _WIDTH * 8)
            parts.append(np.frombuffer(self._spool.read((min(hi, self._spooled) - lo) * _WIDTH * 8), float))
        if hi > self._spooled:
            start = max(lo, self._spooled) - self._spooled
            parts.append(np.frombuffer(self.ticks[start * _WIDTH:(hi - self._spooled) * _WIDTH], float))
        return np.concatenate(parts).reshape(hi - lo, _WIDTH) if parts else np.empty((0, _WIDTH))

    def result(self, split: float | str | None = None, walk_forward: Any = None) -> dict[str, Any]:
        """Figures of the whole run, plus ``in_sample``/``out_of_sample`` when ``split`` is given and ``folds``
        when ``walk_forward`` (a :class:`~botmm.config.WalkForwardConfig`) asks for them."""
        ts = np.asarray(self.ts or [0], dtype=np.int64)
        equity = np.asarray(self.equity or [self.capital], dtype=float)
        exposure = np.abs(np.asarray(self.position or [0.0]) * np.asarray(self.mid or [0.0]))
        fill_ts = self.fills.column("ts")
        whole = figures(ts, equity, exposure, self.fills, self.capital, self.max_position_usd)
        whole.update(ticks=len(self.ts),
                     start_ms=int(ts[0]), end_ms=int(ts[-1]))
        if split is not None and len(self.ts) >= 2:
            k = split_index(ts, split)
            first = int(np.searchsorted(fill_ts, ts[k - 1], side="right"))
            whole["in_sample"] = figures(ts[:k], equity[:k], exposure[:k], self.fills[:first], self.capital,
                                         self.max_position_usd)
            whole["out_of_sample"] = figures(ts[k - 1:], equity[k - 1:], exposure[k - 1:], self.fills[first:],
                                             float(equity[k - 1]), self.max_position_usd, self.capital)
            whole["split_ms"] = int(ts[k - 1])
        if walk_forward is not None and walk_forward.folds and len(self.ts) >= 2:
            from botmm.core.walk_forward import fold_figures

            whole["folds"] = fold_figures(ts, equity, exposure, self.fills, fill_ts, self.max_position_usd,
                                          walk_forward)
        return whole

    def write(self, output_dir: Path, result: dict[str, Any]) -> None:
        """Write ``result.json``, ``fills.parquet`` and ``equity.parquet`` into ``output_dir``."""
        import pyarrow as pa

        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        self.fills.flush()
        ms = pa.timestamp("ms", tz="UTC")
        types = {"ts": ms, "oid": pa.int64(), "side": pa.int8(), "price": pa.float64(), "size": pa.float64(),
                 "fee": pa.float64(), "tid": pa.int64()}  # tid: the exchange's trade id (live)

        def fills(lo: int, hi: int) -> pa.Table:
            columns = {name: _arrow(getattr(self.fills, name)[lo:hi], types[name]) for name in types}
            maker = np.packbits(np.frombuffer(self.fills.maker[lo:hi], np.int8) != 0, bitorder="little")
            columns["maker"] = pa.Array.from_buffers(pa.bool_(), hi - lo, [None, pa.py_buffer(maker)])
            return pa.table({name: columns[name] for name in FILL_COLUMNS})

        def ticks(lo: int, hi: int) -> pa.Table:
            columns = [self.mid[lo:hi], self.position[lo:hi], self.equity[lo:hi],
                       *(np.ascontiguousarray(col) for col in self._extra(lo, hi).T)]
            return pa.table({"ts": _arrow(self.ts[lo:hi], ms),
                             **{name: _arrow(col, pa.float64()) for name, col in zip(TICK_COLUMNS, columns)}})

        _write_parquet(output_dir / "fills.parquet", fills, len(self.fills))
        _write_parquet(output_dir / "equity.parquet", ticks, len(self.ts))
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages: the OS may have them back


ROW_GROUP = 16_384
"""Rows of a Parquet row group in a run's outputs: a file is built and written one row group at a time, so writing a
year of ticks or fills takes a few MB beyond the records themselves. Also the ticks spooled at a time."""
_WIDTH = len(TICK_COLUMNS) - 3  # the spooled columns
_SPOOL_VALUES = ROW_GROUP * _WIDTH
_pack_extra = struct.Struct(f"{_WIDTH}d").pack


def _write_parquet(path: Path, table: Callable[[int, int], Any], rows: int) -> None:
    """Write the ``rows`` rows that ``table(lo, hi)`` gives, as a table per row group."""
    import pyarrow.parquet as pq

    first = table(0, min(rows, ROW_GROUP))
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_table(first)
        for lo in range(ROW_GROUP, rows, ROW_GROUP):
            writer.write_table(table(lo, min(rows, lo + ROW_GROUP)))


def _arrow(values: Any, type_: Any) -> Any:
    """An Arrow array over the memory of ``values`` (an ``array`` or a contiguous numpy array of ``type_``'s width),
    without a copy. Unlike ``pa.array``, it does not load pandas: about 50 MB a run does not need."""
    import pyarrow as pa

    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def column_numpy(column: Any) -> np.ndarray:
    """A numpy copy of an Arrow column of numbers, timestamps (as int64) or booleans, without nulls. Unlike the
    column's ``to_numpy()``, it does not load pandas (about 50 MB a backtest does not otherwise need)."""
    import pyarrow as pa

    parts = []
    for chunk in column.chunks:
        if chunk.null_count:
            raise ValueError(f"column_numpy: {chunk.null_count} null(s) in a {chunk.type} column")
        start, stop = chunk.offset, chunk.offset + len(chunk)
        if pa.types.is_boolean(chunk.type):
            bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], np.uint8), bitorder="little")
            parts.append(bits[start:stop].astype(bool))
        else:
            dtype = np.dtype(f"{'f' if pa.types.is_floating(chunk.type) else 'i'}{chunk.type.bit_width // 8}")
            parts.append(np.frombuffer(chunk.buffers()[1], dtype)[start:stop])
    return np.concatenate(parts) if parts else np.array([])


def prepare_write() -> None:
    """Load what a run's output writing needs now: pyarrow and its Parquet writer. A live stop, which writes, should
    spend its seconds cancelling, not importing."""
    import pyarrow.parquet  # noqa: F401


def split_index(ts: np.ndarray, split: float | str) -> int:
    """The first tick of the out-of-sample part: ``split`` is a fraction in (0, 1) or an ISO date (UTC)."""
    if isinstance(split, str):
        at = np.datetime64(split.replace("Z", ""), "ms").astype(np.int64)
        k = int(np.searchsorted(ts, at))
    else:
        k = int(round(split * len(ts)))
    return min(max(k, 1), len(ts) - 1)


def figures(ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray, fills: FillLog | list[Fill],
            start_equity: float, max_position_usd: float, base: float | None = None) -> dict[str, Any]:
    """The figures of one stretch of a run (see the module docstring) that starts at ``start_equity``; daily
    returns are on ``base``, the job's capital (default ``start_equity``)."""
    if not isinstance(fills, FillLog):
        fills = FillLog(fills)
    fills.flush()
    daily = daily_pnl(ts, equity, start_equity)
    sharpe, sortino = annualised(daily / (start_equity if base is None else base))
    basis = "daily" if sharpe is not None else f"n/a: {len(daily)} day(s) < {MIN_DAYS}"
    peak = np.maximum.accumulate(np.maximum(equity, start_equity))
    drawdown = peak - equity
    worst = int(np.argmax(drawdown))
    pnl = float(equity[-1] - start_equity)
    # Python's sum, in fill order, streamed: the figures do not depend on numpy's summation order, nor memory on them
    volume = sum(price * size for price, size in zip(fills.price, fills.size))
    fees = sum(fills.fee)
    rebates = -sum(fee for fee in fills.fee if fee < 0)
    return {
        "pnl": round(pnl, 6),
        "return_pct": round(100.0 * pnl / start_equity, 6) if start_equity > 0 else None,
        "sharpe": _round(sharpe),
        "sortino": _round(sortino),
        "sharpe_basis": basis,
        "days": len(daily),
        "max_drawdown": round(float(drawdown[worst]), 6),
        "max_drawdown_pct": round(float(100.0 * drawdown[worst] / peak[worst]) if peak[worst] > 0 else 0.0, 6),
        "fills": len(fills),
        "volume": round(volume, 6),
        "turnover": round(volume / start_equity, 6),
        "fees": round(fees, 6),
        "rebates": round(rebates, 6),
        "profitable_days_pct": round(100.0 * float(np.mean(daily > 0)), 6),
        "avg_inventory_usd": round(float(exposure.mean()), 6),
        "max_inventory_usd": round(float(exposure.max()), 6),
        "time_at_limit_pct": round(100.0 * float(np.mean(exposure >= max_position_usd)), 6),
    }


def daily_pnl(ts: np.ndarray, equity: np.ndarray, start_equity: float) -> np.ndarray:
    """The PnL of each UTC day of ``ts``: equity at its last tick minus equity at the previous day's last tick (the
    first day's: ``start_equity``)."""
    days = ts // _DAY_MS
    last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1))
    return np.diff(np.concatenate([[start_equity], equity[last_of_day]]))


def annualised(daily: np.ndarray, periods_per_year: float = 365.0,
               min_periods: int = MIN_DAYS) -> tuple[float | None, float | None]:
    """Sharpe and Sortino of the ``daily`` returns, annualised; None for both with fewer than ``min_periods``."""
    if len(daily) < min_periods:
        return None, None
    scale = math.sqrt(periods_per_year)
    mean = float(np.mean(daily))
    std = float(np.std(daily, ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(daily, 0.0) ** 2)))
    sharpe = mean / std * scale if std > 0 and math.isfinite(std) else 0.0
    sortino = mean / downside * scale if downside > 0 else 0.0
    return sharpe, sortino


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
