"""``sizer=fixed``: every level keeps the size the quoter gave it (``order_size_usd`` of notional), rounded down to
the lot and lifted to the venue's minimum order value (``asset.min_notional``), so no order is refused for size."""

from __future__ import annotations

import logging

from botmm import (AssetConfig, BuildContext, ComponentParams, Quote, QuoteLevel, SizeContext, hookimpl,
                   lots_for_notional, make_level, relot)

log = logging.getLogger(__name__)


class FixedSizer:
    reads_context = False  # sizes from the quote alone: the pipeline passes None and builds no SizeContext

    def __init__(self, asset: AssetConfig, order_size_usd: float | None = None):
        self.lot, self.min_notional = asset.lot_size, asset.min_notional
        self.order_size_usd = order_size_usd  # the quoter's configured size, named when an order is lifted
        self.lifted = False  # an order was lifted to the minimum and the log said so (once per job)

    def size(self, quote: Quote, ctx: SizeContext | None) -> Quote:
        """Levels resized as the module docstring says; ``quote`` itself when every size stays as it is."""
        bids, asks = self._side(quote.bids), self._side(quote.asks)
        return quote if bids is quote.bids and asks is quote.asks else Quote(bids, asks)

    def _side(self, levels: list[QuoteLevel]) -> list[QuoteLevel]:
        lot, min_notional = self.lot, self.min_notional
        out = None  # a copy, from the first level resized on
        for k, level in enumerate(levels):
            side, price, size, _ = level
            lots = relot(size, lot)
            if lots * price < min_notional:
                if not self.lifted:
                    self.lifted = True
                    log.warning("quoter.order_size_usd=%s: an order of %.4g notional (after lot rounding and any "
                                "sizer scaling) is raised to asset.min_notional=%g (said once)",
                                self.order_size_usd, lots * price, min_notional)
                lots = lots_for_notional(min_notional, price, lot)
            if lots != size:
                if out is None:
                    out = levels[:k]
                out.append(make_level((side, price, lots, False)))
            elif out is not None:
                out.append(level)
        return levels if out is None else out  # every level kept: the list given


def make_fixed(params: ComponentParams, ctx: BuildContext) -> FixedSizer:
    return FixedSizer(ctx.asset, ctx.cfg.quoter.get("order_size_usd"))


@hookimpl
def botmm_register_sizers(register):
    register("fixed", make_fixed)
