"""``feed=synthetic``: seeded synthetic bars with a top of book (model documented in :mod:`botmm.data.synthetic`),
so every mode runs with no network and no data. ``seed`` defaults to the job's ``seed``.

``correlation`` (in [0, 1]) gives each asset a market of its own: its path mixes the seed's market path and one
drawn from the asset's symbol, so two assets' bar returns have that correlation. Null (the backtest default) puts
every asset on the seed's one path. Paper runs (``feed=synthetic_live``) and ``botmm supervise`` set 0.7."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterator, Optional

from botmm import BuildContext, Candles, ComponentParams, hookimpl, require


@dataclass
class SyntheticFeedParams(ComponentParams):
    bars: Optional[int] = 43_200  # how many bars (30 days of 1-minute bars); None: endless
    bar_seconds: int = 60  # seconds per bar
    start_price: Optional[float] = None  # None: the asset's ref_price
    mean_spread_bps: float = 1.0  # mean bid-ask spread of the top of book, bps of mid
    seed: Optional[int] = None  # None: the job's seed
    correlation: Optional[float] = None  # between assets' bar returns, each asset its own path; None: one path

    def __post_init__(self) -> None:
        require(self.bars is None or self.bars > 0, self, "bars", "must be > 0 or null")
        require(self.bar_seconds > 0, self, "bar_seconds", "must be > 0")
        require(self.start_price is None or self.start_price > 0, self, "start_price", "must be > 0")
        require(self.mean_spread_bps >= 0, self, "mean_spread_bps", "must be >= 0")
        require(self.correlation is None or 0 <= self.correlation <= 1, self, "correlation",
                "must be in [0, 1] or null")


class SyntheticFeed:
    def __init__(self, params: SyntheticFeedParams, seed: int, start_price: float, symbol: str = ""):
        from botmm.data import SyntheticParams

        self.n_bars = params.bars
        self.params = SyntheticParams(
            seed=seed, start_price=start_price, bar_seconds=params.bar_seconds,
            mean_spread_bps=params.mean_spread_bps, correlation=params.correlation,
            asset=zlib.crc32(symbol.encode()),  # stable across processes, unlike hash()
        )

    def batches(self) -> Iterator[Candles]:
        from botmm.data import iter_synthetic

        return iter_synthetic(self.params, self.n_bars)


def make_synthetic(params: SyntheticFeedParams, ctx: BuildContext) -> SyntheticFeed:
    seed = ctx.cfg.seed if params.seed is None else params.seed
    return SyntheticFeed(params, seed, params.start_price or ctx.asset.ref_price, ctx.asset.symbol)


@hookimpl
def botmm_register_feeds(register):
    register("synthetic", make_synthetic, SyntheticFeedParams)
