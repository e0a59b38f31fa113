"""``exchange=sim``: the backtest venue, ticked by the data's own clock (see :mod:`botmm.sim.candle`)."""

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
    from botmm.sim.candle import CandleFillParams, CandleVenue

    fill = to_params(CandleFillParams, ctx.cfg.fill_model, "fill_model")
    return CandleVenue(ctx.feed, fill, ctx.asset, params.maker_fee, **clock)


def make_sim(params: SimParams, ctx: BuildContext):
    return candle_venue(params, ctx)


@hookimpl
def botmm_register_exchanges(register):
    register("sim", make_sim, SimParams)
