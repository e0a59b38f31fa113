"""``fill_model=deep``: the candle fill model, except that a bar must trade ``ticks`` ticks beyond a resting order's
price to fill it (``ticks=1`` is the candle model's ``rule=through``): a more pessimistic queue than botmm's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from botmm import BuildContext, hookimpl, require
from botmm.sim import CandleFillParams, CandleVenue


@dataclass
class DeepFillParams(CandleFillParams):
    name: str = "deep"
    ticks: int = 1  # how many ticks beyond the price a bar must trade

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.rule == "through", self, "rule", "must be through (the depth is ticks)")
        require(self.ticks >= 1, self, "ticks", "must be >= 1")


class DeepVenue(CandleVenue):
    """A candle venue whose bars must reach ``ticks`` ticks beyond a price (less float noise) to fill it."""

    def __init__(self, *args: Any, ticks: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.margin = ticks * self.asset.tick_size - self.asset.tick_size * 1e-6  # as the candle venue


def make_deep(fill: DeepFillParams, ctx: BuildContext, exchange: Any) -> DeepVenue:
    return DeepVenue(ctx.feed, fill, ctx.asset, exchange.costs(), ticks=fill.ticks)


@hookimpl
def botmm_register_fill_models(register: Callable[..., None]) -> None:
    register("deep", make_deep, DeepFillParams)
