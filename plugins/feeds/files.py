"""Bars from files: ``feed=candles_file`` reads one CSV or Parquet file, ``feed=candles`` a series of the candles
dataset that ``botmm data fetch`` writes.

* ``candles_file`` (``feed.path=...``), read by :func:`botmm.data.candles.load_candles`: ``columns`` maps botmm's
  names (ts, open, high, low, close, volume) to the file's; ``volume_unit=quote`` converts notional volume to base
  units.
* ``candles`` reads ``<root>/candles/<venue>/<symbol>/<interval>/`` (:mod:`botmm.data.dataset`) one month file at a
  time, from ``start`` (inclusive) to ``end`` (exclusive), ISO dates or times in UTC unless zoned; ``symbol``
  defaults to the asset's symbol.

``candles_file`` warns when the file's prices are more than ``SCALE_MISMATCH`` times off the asset's ``ref_price``
(BTC bars run as ``asset=eth``, say). Both check the bars and refuse bad ones with one line naming the file, unless
``repair`` names repairs: ``none``, ``all`` or names joined by ``+`` from drop_bad_rows, sort, drop_duplicates,
fill_gaps (semantics in :mod:`botmm.data.candles`; each repair is counted in a logged warning). ``candles_file`` reads
and checks its file when it is built, so the CLI's up-front check reports a bad row before the job starts; the
dataset's month files are read and checked as the run reaches them.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, Optional

import numpy as np
from omegaconf import MISSING

from botmm import AssetConfig, BuildContext, Candles, ComponentParams, ConfigError, hookimpl, require

if TYPE_CHECKING:
    from botmm.data import Repairs

log = logging.getLogger(__name__)
SCALE_MISMATCH = 10.0  # a median close this many times above or below the asset's ref_price is another instrument


def _check_repair(params: CandlesFileParams | CandlesDatasetParams) -> None:
    from botmm.data import parse_repair

    try:
        parse_repair(params.repair)
    except ValueError as exc:
        require(False, params, "repair", str(exc))


@dataclass
class CandlesFileParams(ComponentParams):
    path: str = MISSING
    columns: Dict[str, str] = field(default_factory=dict)
    ts_unit: str = "auto"  # s | ms | ns | auto (inferred from magnitude); ISO strings are always understood
    volume_unit: str = "base"  # base | quote
    repair: str = "none"  # none | all | names joined by +: drop_bad_rows, sort, drop_duplicates, fill_gaps

    def __post_init__(self) -> None:
        require(self.ts_unit in ("s", "ms", "ns", "auto"), self, "ts_unit", "must be s, ms, ns or auto")
        require(self.volume_unit in ("base", "quote"), self, "volume_unit", "must be base or quote")
        _check_repair(self)


BATCH_BARS = 10_000
"""Bars a file feed hands the venue at a time: the venue's per-batch copy stays small whatever the file's length."""


class CandlesFile:
    """A candle file, read and checked when the feed is built, so that a bad row is reported in one line before the
    job starts (the CLI builds every component first)."""

    def __init__(self, params: CandlesFileParams, asset: AssetConfig):
        self.params, self.asset = params, asset
        stat = os.stat(params.path)
        self.bars, self.repairs = _read(params.path, (stat.st_size, stat.st_mtime_ns),
                                        tuple(sorted(params.columns.items())), params.ts_unit, params.volume_unit,
                                        params.repair)

    def batches(self) -> Iterator[Candles]:
        from botmm.data import log_repairs

        p, bars = self.params, self.bars
        log_repairs(p.path, self.repairs)  # in the job's log, not at the check before it
        median = float(np.median(bars.close)) if len(bars) else self.asset.ref_price
        if not self.asset.ref_price / SCALE_MISMATCH <= median <= self.asset.ref_price * SCALE_MISMATCH:
            log.warning("feed.path=%s: prices around %.4g do not fit asset=%s (typically %g); is asset= right?",
                        p.path, median, self.asset.symbol.lower(), self.asset.ref_price)
        for start in range(0, len(bars), BATCH_BARS):  # the venue turns each batch into Python lists
            yield bars.slice(start, start + BATCH_BARS)


@functools.lru_cache(maxsize=1)
def _read(path: str, stamp: tuple[int, int], columns: tuple[tuple[str, str], ...], ts_unit: str, volume_unit: str,
          repair: str) -> tuple[Candles, Repairs]:
    """The file's bars and what repairing them changed, read once for the CLI's check and the job that follows it
    (``stamp``: the file's size and modification time, so a changed file is read again); the bars read-only, as the
    job and a sweep's next job share them."""
    from botmm.data import CANDLE_ARRAYS, load_candles

    bars, repairs = load_candles(path, columns=dict(columns), ts_unit=ts_unit, volume_unit=volume_unit,
                                 repair=repair, quiet=True)
    for name in CANDLE_ARRAYS:
        getattr(bars, name).flags.writeable = False
    return bars, repairs


def make_candles_file(params: CandlesFileParams, ctx: BuildContext) -> CandlesFile:
    if not Path(params.path).is_file():
        raise ConfigError(f"feed.path={params.path}: no such file")
    return CandlesFile(params, ctx.asset)


@dataclass
class CandlesDatasetParams(ComponentParams):
    root: str = "data"  # the dataset root: bars live in <root>/candles/<venue>/<symbol>/<interval>/
    venue: str = "hyperliquid"
    symbol: Optional[str] = None  # None: the asset's symbol
    interval: str = "1m"
    start: Optional[str] = None  # first bar, ISO date or time (UTC unless zoned); None: from the first stored bar
    end: Optional[str] = None  # exclusive; None: to the last stored bar
    repair: str = "none"  # as for candles_file

    def __post_init__(self) -> None:
        from botmm.data import INTERVALS, parse_time

        require(self.interval in INTERVALS, self, "interval", f"must be one of {', '.join(INTERVALS)}")
        _check_repair(self)
        bounds = [parse_time(text, f"feed.{key}") for key, text in (("start", self.start), ("end", self.end)) if text]
        require(len(bounds) < 2 or bounds[0] < bounds[1], self, "end", f"must be after start {self.start}")


class CandlesDataset:
    """One series of the dataset, streamed as one ``Candles`` batch per month file."""

    def __init__(self, directory: Path, params: CandlesDatasetParams):
        from botmm.data import interval_ms, parse_time

        self.directory, self.params = directory, params
        self.bar_ms = interval_ms(params.interval)
        self.start_ms = parse_time(params.start, "feed.start") if params.start else None
        self.end_ms = parse_time(params.end, "feed.end") if params.end else None

    def batches(self) -> Iterator[Candles]:
        from botmm.data import read_dataset

        return read_dataset(self.directory, self.bar_ms, self.start_ms, self.end_ms, self.params.repair)


def make_candles_dataset(params: CandlesDatasetParams, ctx: BuildContext) -> CandlesDataset:
    from botmm.data import dataset_dir

    symbol = params.symbol or ctx.asset.symbol
    try:
        directory = dataset_dir(params.root, params.venue, symbol, params.interval)
    except ConfigError as exc:
        raise ConfigError(f"feed=candles: {exc}") from None
    if not any(directory.glob("*.parquet")):
        raise ConfigError(
            f"feed=candles: no {params.venue} {symbol} {params.interval} bars under {params.root} ({directory} has no "
            f"Parquet files); fetch them with: botmm data fetch --venue {params.venue} --symbol {symbol} "
            f"--interval {params.interval} --start <date> --root {params.root}"
        )
    return CandlesDataset(directory, params)


@hookimpl
def botmm_register_feeds(register):
    register("candles_file", make_candles_file, CandlesFileParams)
    register("candles", make_candles_dataset, CandlesDatasetParams)
