"""``exchange=sim``: the backtest venue, ticked by the data's own clock: bars (:mod:`botmm.sim.candle`) or, with
``fill_model=orderbook``, an L2 order-book replay (:mod:`botmm.sim.replay`)."""

from __future__ import annotations

from dataclasses import dataclass

from botmm.config import ComponentParams
from botmm.registry import BuildContext, hookimpl


@dataclass
class SimParams(ComponentParams):
    maker_fee: float = 0.00015  # fraction of notional per maker fill; negative for a rebate


def candle_venue(params: SimParams, ctx: BuildContext, **clock):
    """A :class:`~botmm.sim.candle.CandleVenue` over the job's feed with the job's ``fill_model``."""
    from botmm.config import to_params
    from botmm.errors import ConfigError
    from botmm.sim.candle import CandleFillParams, CandleVenue

    if ctx.cfg.fill_model.name != "candle":
        raise ConfigError(f"fill_model={ctx.cfg.fill_model.name}: exchange={params.name} fills against bars "
                          "(fill_model=candle); the order-book replay runs on exchange=sim (botmm replay)")
    fill = to_params(CandleFillParams, ctx.cfg.fill_model, "fill_model")
    return CandleVenue(ctx.feed, fill, ctx.asset, params.maker_fee, **clock)


def make_sim(params: SimParams, ctx: BuildContext):
    """The candle venue, or the order-book replay venue (:mod:`botmm.sim.replay`) with ``fill_model=orderbook``."""
    if ctx.cfg.fill_model.name == "orderbook":
        from botmm.sim.replay import replay_venue

        return replay_venue(params, ctx)
    return candle_venue(params, ctx)


@hookimpl
def botmm_register_exchanges(register):
    register("sim", make_sim, SimParams)
