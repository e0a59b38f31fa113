"""L2 event feeds for the replay venue (``fill_model=orderbook``).

* ``feed=l2_file``: a dataset written by ``botmm data convert ...`` (:mod:`botmm.data.l2`): ``feed.path`` names a
  Parquet file, a symbol folder of hour files, or a root folder holding one symbol. Streamed one row group at a time
  and checked on load; ``on_bad_data=repair`` fixes and counts problems, ``error`` stops at the first.
* ``feed=synthetic_l2``: seeded synthetic order flow (:mod:`botmm.data.synthetic_l2`) around the asset's
  ``ref_price`` on its tick and lot, for ``duration``; ``seed`` defaults to the job's ``seed``. Setting ``path``
  replays that dataset instead, exactly as ``feed=l2_file`` does, so ``botmm replay feed.path=...`` works from the
  replay preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from omegaconf import MISSING

from botmm import BuildContext, ComponentParams, ConfigError, hookimpl, parse_duration, require
from botmm.data import L2Events, L2Meta, ON_BAD_DATA, ValidationReport

if TYPE_CHECKING:
    from botmm.data import SyntheticL2Params


@dataclass
class L2FileParams(ComponentParams):
    path: str = MISSING
    on_bad_data: str = "repair"  # repair | error
    max_gap: Optional[str] = "10m"  # a silence longer than this counts as a gap; null: no check
    max_latency: Optional[str] = "60s"  # a feed latency longer than this is a recorder clock error; null: no check

    def __post_init__(self) -> None:
        require(self.on_bad_data in ON_BAD_DATA, self, "on_bad_data", "must be repair or error")


@dataclass
class SyntheticL2FeedParams(ComponentParams):
    duration: str = "1h"  # how long the synthetic order flow lasts, in data time
    seed: Optional[int] = None  # None: the job's seed
    start_price: Optional[float] = None  # None: the asset's ref_price
    order_notional: float = 1000.0  # mean limit order value, quote units
    limit_rate: float = 20.0  # limit orders per second per side
    cancel_rate: float = 0.8  # cancels per resting order per second
    market_rate: float = 1.5  # market orders per second per side
    market_size: float = 4.0  # mean market order, in mean limit orders
    decay_ticks: float = 4.0  # limit order intensity decays as exp(-distance / decay_ticks)
    feed_latency_ms: float = 2.0  # median feed latency
    path: Optional[str] = None  # replay this dataset instead of synthetic flow (as feed=l2_file)

    def __post_init__(self) -> None:
        require(self.start_price is None or self.start_price > 0, self, "start_price", "must be > 0")
        for key in ("order_notional", "limit_rate", "cancel_rate", "market_size", "decay_ticks"):
            require(getattr(self, key) > 0, self, key, "must be > 0")
        require(self.market_rate >= 0, self, "market_rate", "must be >= 0")
        require(self.feed_latency_ms >= 0, self, "feed_latency_ms", "must be >= 0")


class L2FileFeed:
    """A recorded L2 dataset, streamed and checked on load."""

    def __init__(self, path: str, on_bad_data: str = "repair", max_gap_ns: int | None = None,
                 max_latency_ns: int | None = 60_000_000_000):
        from botmm.data import read_meta

        self.path, self.on_bad_data = path, on_bad_data
        self.max_gap_ns, self.max_latency_ns = max_gap_ns, max_latency_ns
        self.meta: L2Meta = read_meta(path)
        self.report = ValidationReport()

    def batches(self) -> Iterator[L2Events]:
        from botmm.data import iter_l2

        self.report = ValidationReport()
        return iter_l2(self.path, on_bad_data=self.on_bad_data, report=self.report, max_gap_ns=self.max_gap_ns,
                       max_latency_ns=self.max_latency_ns)


class SyntheticL2Feed:
    """Synthetic order flow, generated chunk by chunk."""

    on_bad_data = "repair"

    def __init__(self, params: SyntheticL2Params, symbol: str):
        from botmm.data import synthetic_meta

        self.params = params
        self.meta: L2Meta = synthetic_meta(params, symbol)
        self.report = ValidationReport()

    def batches(self) -> Iterator[L2Events]:
        from botmm.data import iter_synthetic_l2

        self.report = ValidationReport()
        return iter_synthetic_l2(self.params)


def _ns(text: Optional[str], key: str) -> int | None:
    return None if text is None else round(parse_duration(text, key) * 1e9)


def make_l2_file(params: L2FileParams, ctx: BuildContext) -> L2FileFeed:
    if not Path(params.path).exists():
        raise ConfigError(f"feed.path={params.path}: no such file or folder")
    return L2FileFeed(params.path, params.on_bad_data, _ns(params.max_gap, "feed.max_gap"),
                      _ns(params.max_latency, "feed.max_latency"))


def make_synthetic_l2(params: SyntheticL2FeedParams, ctx: BuildContext) -> L2FileFeed | SyntheticL2Feed:
    from botmm.data import SyntheticL2Params

    if params.path is not None:
        defaults = L2FileParams(name="l2_file", path=params.path)
        return make_l2_file(defaults, ctx)
    asset = ctx.asset
    p = SyntheticL2Params(
        seed=ctx.cfg.seed if params.seed is None else params.seed,
        duration_s=parse_duration(params.duration, "feed.duration"),
        start_price=params.start_price or asset.ref_price,
        tick_size=asset.tick_size,
        lot_size=asset.lot_size,
        order_notional=params.order_notional,
        limit_rate=params.limit_rate,
        cancel_rate=params.cancel_rate,
        market_rate=params.market_rate,
        market_size=params.market_size,
        decay_ticks=params.decay_ticks,
        feed_latency_ms=params.feed_latency_ms,
    )
    return SyntheticL2Feed(p, asset.symbol)


@hookimpl
def botmm_register_feeds(register):
    register("l2_file", make_l2_file, L2FileParams)
    register("synthetic_l2", make_synthetic_l2, SyntheticL2FeedParams)
