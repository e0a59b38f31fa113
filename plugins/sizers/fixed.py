"""``sizer=fixed``: every level keeps the size the quoter gave it (``order_size_usd`` of notional), rounded down to
the lot and lifted to the venue's minimum order value (``asset.min_notional``), so no order is refused for size."""

from __future__ import annotations

from botmm.config import AssetConfig, ComponentParams
from botmm.model import Quote, QuoteLevel
from botmm.registry import BuildContext, hookimpl
from botmm.protocols import SizeContext
from botmm.rounding import lots_for_notional, round_lot


class FixedSizer:
    def __init__(self, asset: AssetConfig):
        self.lot, self.min_notional = asset.lot_size, asset.min_notional

    def size(self, quote: Quote, ctx: SizeContext | None) -> Quote:
        return Quote([self._level(lv) for lv in quote.bids], [self._level(lv) for lv in quote.asks])

    def _level(self, level: QuoteLevel) -> QuoteLevel:
        side, price, size = level
        lots = round_lot(size, self.lot)
        if lots * price < self.min_notional:
            lots = lots_for_notional(self.min_notional, price, self.lot)
        return level if lots == size else QuoteLevel(side, price, lots)


def make_fixed(params: ComponentParams, ctx: BuildContext) -> FixedSizer:
    return FixedSizer(ctx.asset)


@hookimpl
def botmm_register_sizers(register):
    register("fixed", make_fixed)
