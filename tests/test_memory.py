"""Bounded memory: fills kept as columns (FillLog), outputs written and read back one row group at a time, and no
pandas loaded by a backtest. The year-long peak itself is measured by ``benchmarks/candle_backtest.py --months 12``."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import botmm.core.metrics as metrics
from botmm.core.daily_metrics import MetricsTracker
from botmm.core.metrics import FillLog, MetricsRecorder, column_numpy
from botmm.model import Fill, Side

DAY = 86_400_000

fills_st = st.lists(st.builds(
    Fill, ts=st.integers(0, 2**62), oid=st.integers(0, 2**62), side=st.sampled_from([Side.BUY, Side.SELL]),
    price=st.floats(allow_nan=False, allow_infinity=False), size=st.floats(0, 1e9), fee=st.floats(-1e6, 1e6),
    maker=st.booleans(), tid=st.integers(0, 2**62)), max_size=40)


@contextmanager
def flush_every(n: int):
    """FillLog moves its pending fills into its columns every ``n`` fills."""
    saved, metrics.FLUSH = metrics.FLUSH, n
    try:
        yield
    finally:
        metrics.FLUSH = saved


@given(fills_st, st.integers(-50, 50), st.integers(-50, 50), st.integers(1, 5))
def test_a_fill_log_reads_like_the_list_of_fills_it_replaces(fills, start, stop, flush):
    with flush_every(flush):
        log = FillLog()
        for fill in fills:
            log.append(fill)
    assert len(log.tid) == len(fills) // flush * flush, "full batches moved into the columns"
    assert len(log) == len(fills) and list(log) == fills
    assert list(log[start:stop]) == fills[start:stop] and log[start:stop] == FillLog(fills[start:stop])
    assert list(log[start:stop:-1]) == fills[start:stop:-1] and list(log[-5:][::-1]) == fills[-5:][::-1]
    if fills:
        assert log[start % len(fills)] == fills[start % len(fills)] and log[-1] == fills[-1]
        assert type(log[0].side) is Side and type(log[0].maker) is bool


@given(fills_st, st.lists(st.integers(0, 40), max_size=8))
def test_a_fill_log_hands_a_venue_reader_the_fills_after_its_cursor(fills, cuts):
    """The run's reader gets fills as the venue makes them; any other cursor reads them back from the columns."""
    venue, cursor, seen = FillLog(), 0, []
    with flush_every(4):
        for fill, cut in zip(fills, [*cuts, *[1] * len(fills)]):
            venue.append(fill)
            if cut % 3 == 0:
                new, cursor = venue.since(cursor)
                seen.extend(new)
    new, cursor = venue.since(cursor)
    assert seen + new == fills and cursor == len(fills)
    for back in cuts:
        assert venue.since(min(back, len(fills))) == (fills[min(back, len(fills)):], len(fills))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=10), min_size=1, max_size=4),
       st.integers(0, 5), st.sampled_from(["float64", "int64", "int8", "bool", "ts"]))
def test_column_numpy_equals_the_column_values(chunks, offset, kind):
    types = {"float64": pa.float64(), "int64": pa.int64(), "int8": pa.int8(), "bool": pa.bool_(),
             "ts": pa.timestamp("ms", tz="UTC")}
    convert = {"float64": float, "bool": lambda v: v > 0}.get(kind, lambda v: int(v) % 100)
    arrays = [pa.array([convert(v) for v in chunk], pa.int64() if kind == "ts" else types[kind]) for chunk in chunks]
    arrays = [a.cast(types[kind]).slice(min(offset, len(a))) for a in arrays]  # slices: offsets into buffers
    column = pa.chunked_array(arrays, types[kind])
    expected = column.cast(pa.int64()).to_pylist() if kind == "ts" else column.to_pylist()
    assert column_numpy(column).tolist() == expected


def _recorder(n_ticks: int, n_fills: int) -> MetricsRecorder:
    rng = np.random.default_rng(3)
    rec = MetricsRecorder(1000.0, 500.0)
    for i in range(n_ticks):
        rec.record(i * 60_000, 100.0 + i, 0.1 * i, 1000.0 + rng.normal(), 99.0, 101.0, 0.01 * i, float("nan"), 0.0,
                   0.5)
    for i in range(n_fills):
        rec.fills.append(Fill(i * 250_000, i, Side.BUY if i % 3 else Side.SELL, float(rng.uniform(90, 110)),
                              float(rng.uniform(0, 1)), float(rng.normal()), bool(i % 5), i))
    return rec


def test_outputs_written_in_row_groups_read_back_as_recorded(tmp_path, monkeypatch):
    """Row groups of 7 rows; the per-tick columns after ``equity`` spooled to a file 4 ticks at a time."""
    monkeypatch.setattr(metrics, "ROW_GROUP", 7)
    monkeypatch.setattr(metrics, "_SPOOL_VALUES", 4 * (len(metrics.TICK_COLUMNS) - 3))
    rec = _recorder(50, 33)
    assert rec._spooled == 48 and len(rec.ticks) == 2 * (len(metrics.TICK_COLUMNS) - 3)
    rec.write(tmp_path, {})
    fills = pq.ParquetFile(tmp_path / "fills.parquet")
    assert fills.num_row_groups == 5 and fills.read().num_rows == 33
    table = fills.read()
    assert table.column("ts").cast(pa.int64()).to_pylist() == [f.ts for f in rec.fills]
    assert table.column("maker").to_pylist() == [f.maker for f in rec.fills]
    assert table.column("side").to_pylist() == [int(f.side) for f in rec.fills]
    assert table.column("price").to_pylist() == [f.price for f in rec.fills]
    equity = pq.read_table(tmp_path / "equity.parquet")
    assert equity.num_rows == 50 and equity.column("equity").to_pylist() == list(rec.equity)
    assert equity.column("toxicity").to_pylist() == [0.5] * 50 and equity.column("bid").to_pylist() == [99.0] * 50
    assert equity.column("vol").to_pylist() == [0.01 * i for i in range(50)]


def test_daily_stats_do_not_depend_on_the_row_groups(tmp_path, monkeypatch):
    """A day's fills straddling row groups are summed as one: the same figures as from one row group."""
    rec = _recorder(3 * 1440, 3 * 345)
    rec.write(tmp_path / "one", {})
    monkeypatch.setattr(metrics, "ROW_GROUP", 100)
    rec.write(tmp_path / "many", {})
    assert pq.ParquetFile(tmp_path / "many" / "fills.parquet").num_row_groups == 11
    one, many = (MetricsTracker.from_outputs(tmp_path / name, 1000.0) for name in ("one", "many"))
    assert many.cumulative_stats() == one.cumulative_stats()
    assert [many.daily_stats(d) for d in range(3)] == [one.daily_stats(d) for d in range(3)]
    day_one = [f for f in rec.fills if f.ts // DAY == 1]
    assert one.daily_stats(1)["fills"] == len(day_one) > 300
    assert one.daily_stats(1)["volume"] == pytest.approx(sum(f.price * f.size for f in day_one))


def test_a_backtest_never_loads_pandas(tmp_path):
    """pyarrow loads pandas (about 50 MB) on its first ``pa.array`` or ``to_numpy``: a backtest's outputs and daily
    figures are written without either."""
    code = ("import sys; from botmm.cli import main; sys.argv = ['botmm', 'backtest', 'feed.bars=3000', "
            f"'hydra.run.dir={tmp_path}']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr[-2000:]
    assert json.loads((tmp_path / "result.json").read_text())["ticks"] == 3000
    assert (tmp_path / "daily_stats.json").is_file()
