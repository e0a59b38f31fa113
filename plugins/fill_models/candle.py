"""``fill_model=candle``: fills against bars (:mod:`botmm.sim.candle`), for backtests and paper runs."""

from __future__ import annotations

from typing import Any, Optional

from botmm import BuildContext, ConfigError, hookimpl
from botmm.sim import CandleFillParams, CandleVenue


def make_candle(fill: CandleFillParams, ctx: BuildContext, exchange: Any, venue: Optional[type] = None,
                **clock: Any) -> CandleVenue:
    """A :class:`~botmm.sim.candle.CandleVenue` (or its subclass ``venue``: the paper exchange's) over the job's bar
    feed, charging ``exchange``'s costs."""
    from ..feeds.l2 import L2FileFeed, SyntheticL2Feed

    if isinstance(ctx.feed, (L2FileFeed, SyntheticL2Feed)):
        raise ConfigError(f"feed={ctx.cfg.feed.name}: an L2 feed needs the order-book replay (botmm replay); "
                          f"exchange={exchange.name} fills against bars, from a bar feed (feed=synthetic, "
                          "candles_file, candles, hyperliquid)")
    return (venue or CandleVenue)(ctx.feed, fill, ctx.asset, exchange.costs(), **clock)


@hookimpl
def botmm_register_fill_models(register):
    register("candle", make_candle, CandleFillParams)
