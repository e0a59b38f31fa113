"""``strategy=basic``: the seed's basic market maker. The quoter's inputs pass through unchanged: quotes follow mid,
volatility and inventory by the quoter's formula alone, with no regime or fill-rate adaptation."""

from __future__ import annotations

from botmm.config import ComponentParams
from botmm.registry import BuildContext, hookimpl
from botmm.protocols import QuoteInputs


class BasicPolicy:
    def adjust(self, inputs: QuoteInputs) -> QuoteInputs:
        return inputs


def make_basic(params: ComponentParams, ctx: BuildContext) -> BasicPolicy:
    return BasicPolicy()


@hookimpl
def botmm_register_strategies(register):
    register("basic", make_basic)
