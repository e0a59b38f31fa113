"""``exchange=sim``: the backtest venue, ticked by the data's own clock. How it fills orders is the job's fill model,
a plugin kind (``botmm_register_fill_models``): bars (``fill_model=candle``, :mod:`botmm.sim.candle`), an L2
order-book replay (``fill_model=orderbook``, :mod:`botmm.sim.replay`) or a third party's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from botmm import registry
from botmm import BuildContext, ComponentParams, ConfigError, hookimpl, require, to_params
from botmm.sim import Costs


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
    """The candle fill model's venue (or its subclass ``venue``) for an exchange that only fills against bars (the
    paper exchange)."""
    from botmm.plugins.fill_models.candle import make_candle
    from botmm.sim import CandleFillParams

    if ctx.cfg.fill_model.name != "candle":
        raise ConfigError(f"fill_model={ctx.cfg.fill_model.name}: exchange={params.name} fills against bars "
                          "(fill_model=candle); the order-book replay runs on exchange=sim (botmm replay)")
    return make_candle(to_params(CandleFillParams, ctx.cfg.fill_model, "fill_model"), ctx, params, venue, **clock)


def make_sim(params: SimParams, ctx: BuildContext):
    """The venue of the job's fill model, asked of the fill-model registry."""
    fill = registry.params("fill_model", ctx.cfg.fill_model, "fill_model")
    return registry.component("fill_model", fill.name).factory(fill, ctx, params)


@hookimpl
def botmm_register_exchanges(register):
    register("sim", make_sim, SimParams)
