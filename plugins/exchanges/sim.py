"""``exchange=sim``: the backtest venue, ticked by the data's own clock: bars (:mod:`botmm.sim.candle`) or, with
``fill_model=orderbook``, an L2 order-book replay (:mod:`botmm.sim.replay`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from botmm.config import ComponentParams, require
from botmm.registry import BuildContext, hookimpl
from botmm.sim.costs import Costs


@dataclass
class SimParams(ComponentParams):
    """What the simulated exchange charges (:mod:`botmm.sim.costs`); Hyperliquid's base tier by default."""

    maker_fee: float = 0.00015  # fraction of notional per maker fill; negative for a rebate
    taker_fee: float = 0.00045  # fraction of notional per taker fill (post_only=false orders that cross)
    funding_rate: float = 0.0  # per funding interval, fraction of the position's notional; > 0: longs pay
    funding_hours: float = 1.0  # the funding interval: 1 on Hyperliquid, 8 on Binance and Bybit

    def __post_init__(self) -> None:
        for key in ("maker_fee", "taker_fee"):
            require(-0.01 < getattr(self, key) < 0.01, self, key, "must be a fraction of notional in (-0.01, 0.01)")
        require(-0.01 < self.funding_rate < 0.01, self, "funding_rate", "must be a fraction in (-0.01, 0.01)")
        require(self.funding_hours > 0, self, "funding_hours", "must be > 0")

    def costs(self) -> Costs:
        return Costs(self.maker_fee, self.taker_fee, self.funding_rate, self.funding_hours)


def candle_venue(params: SimParams, ctx: BuildContext, venue: Optional[type] = None, **clock):
    """A :class:`~botmm.sim.candle.CandleVenue` (or its subclass ``venue``) over the job's feed with the job's
    ``fill_model``."""
    from botmm.config import to_params
    from botmm.errors import ConfigError
    from botmm.sim.candle import CandleFillParams, CandleVenue

    from ..feeds.l2 import L2FileFeed, SyntheticL2Feed

    if ctx.cfg.fill_model.name != "candle":
        raise ConfigError(f"fill_model={ctx.cfg.fill_model.name}: exchange={params.name} fills against bars "
                          "(fill_model=candle); the order-book replay runs on exchange=sim (botmm replay)")
    if isinstance(ctx.feed, (L2FileFeed, SyntheticL2Feed)):
        raise ConfigError(f"feed={ctx.cfg.feed.name}: an L2 feed needs the order-book replay (botmm replay); "
                          f"exchange={params.name} fills against bars, from a bar feed (feed=synthetic, candles_file, "
                          "candles, hyperliquid)")
    fill = to_params(CandleFillParams, ctx.cfg.fill_model, "fill_model")
    return (venue or CandleVenue)(ctx.feed, fill, ctx.asset, params.costs(), **clock)


def make_sim(params: SimParams, ctx: BuildContext):
    """The candle venue, or the order-book replay venue (:mod:`botmm.sim.replay`) with ``fill_model=orderbook``."""
    if ctx.cfg.fill_model.name == "orderbook":
        from botmm.sim.replay import replay_venue

        return replay_venue(params, ctx)
    return candle_venue(params, ctx)


@hookimpl
def botmm_register_exchanges(register):
    register("sim", make_sim, SimParams)
