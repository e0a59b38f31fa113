"""``feed=synthetic``: seeded synthetic bars with a top of book (model documented in :mod:`botmm.data.synthetic`),
so every mode runs with no network and no data. ``seed`` defaults to the job's ``seed``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from botmm.config import ComponentParams, require
from botmm.model import Candles
from botmm.registry import BuildContext, hookimpl


@dataclass
class SyntheticFeedParams(ComponentParams):
    bars: Optional[int] = 43_200  # how many bars (30 days of 1-minute bars); None: endless
    bar_seconds: int = 60
    start_price: Optional[float] = None  # None: the asset's ref_price
    mean_spread_bps: float = 1.0
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        require(self.bars is None or self.bars > 0, self, "bars", "must be > 0 or null")
        require(self.bar_seconds > 0, self, "bar_seconds", "must be > 0")
        require(self.start_price is None or self.start_price > 0, self, "start_price", "must be > 0")
        require(self.mean_spread_bps >= 0, self, "mean_spread_bps", "must be >= 0")


class SyntheticFeed:
    def __init__(self, params: SyntheticFeedParams, seed: int, start_price: float):
        from botmm.data.synthetic import SyntheticParams

        self.n_bars = params.bars
        self.params = SyntheticParams(
            seed=seed, start_price=start_price, bar_seconds=params.bar_seconds,
            mean_spread_bps=params.mean_spread_bps,
        )

    def batches(self) -> Iterator[Candles]:
        from botmm.data.synthetic import iter_synthetic

        return iter_synthetic(self.params, self.n_bars)


def make_synthetic(params: SyntheticFeedParams, ctx: BuildContext) -> SyntheticFeed:
    seed = ctx.cfg.seed if params.seed is None else params.seed
    return SyntheticFeed(params, seed, params.start_price or ctx.asset.ref_price)


@hookimpl
def botmm_register_feeds(register):
    register("synthetic", make_synthetic, SyntheticFeedParams)
