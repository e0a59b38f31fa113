"""``quoter=avellaneda``: the seed's quote engine, an Avellaneda–Stoikov-style inventory-skewed spread.

Per tick, with ``mid``, volatility ``vol`` (fraction of mid per bar), ``atr`` (price units), inventory ``q`` in
[-1, 1] (positive = long) and directional ``signal`` in [-1, 1]::

    spread = max(spread_bps / 1e4 * mid, vol * vol_multiplier * mid)
    skew   = -q * inventory_skew_factor * atr        # sign convention: a long position lowers both quotes
    shift  = signal * bias_strength * spread
    bid    = mid - spread / 2 + skew + shift
    ask    = mid + spread / 2 + skew + shift

Skew and shift can move both quotes, but never past ``min_distance_bps`` from mid: a bid stays at or below
``mid * (1 - d)`` and an ask at or above ``mid * (1 + d)``, so the quote is never crossed and never takes liquidity.
Level k (0-based) sits ``k * level_spacing_bps`` further from mid on each side; levels at non-positive prices are
dropped. Bids round down and asks up to the tick; sizes are ``order_size_usd / price`` rounded down to the lot.
"""

from __future__ import annotations

from dataclasses import dataclass

from botmm.config import QuoteParams, require
from botmm.model import Quote, QuoteLevel, Side
from botmm.registry import BuildContext, hookimpl
from botmm.protocols import QuoteInputs
from botmm.rounding import round_ask, round_bid, round_lot


@dataclass
class AvellanedaParams(QuoteParams):
    level_spacing_bps: float = 2.0  # distance between consecutive levels on one side
    min_distance_bps: float = 0.0  # closest a quote may come to mid

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.level_spacing_bps >= 0, self, "level_spacing_bps", "must be >= 0")
        require(self.min_distance_bps >= 0, self, "min_distance_bps", "must be >= 0")


class AvellanedaQuoter:
    def __init__(self, params: AvellanedaParams, tick: float, lot: float):
        self.params, self.tick, self.lot = params, tick, lot

    def quote(self, inputs: QuoteInputs) -> Quote:
        p, tick, lot = self.params, self.tick, self.lot
        mid = inputs.mid
        spread = max(p.spread_bps * 1e-4 * mid, inputs.vol * p.vol_multiplier * mid)
        center = mid - inputs.inventory * p.inventory_skew_factor * inputs.atr + inputs.signal * p.bias_strength * spread
        floor = p.min_distance_bps * 1e-4 * mid
        bid0 = round_bid(min(center - spread / 2, mid - floor), tick)
        ask0 = round_ask(max(center + spread / 2, mid + floor), tick)
        if bid0 >= ask0:
            ask0 = round_ask(bid0 + tick, tick)
        step = p.level_spacing_bps * 1e-4 * mid
        bids, asks = [], []
        for k in range(p.num_levels):
            bid = bid0 if k == 0 else round_bid(bid0 - k * step, tick)
            ask = ask0 if k == 0 else round_ask(ask0 + k * step, tick)
            if bid > 0:
                bids.append(QuoteLevel(Side.BUY, bid, round_lot(p.order_size_usd / bid, lot)))
            asks.append(QuoteLevel(Side.SELL, ask, round_lot(p.order_size_usd / ask, lot)))
        return Quote(bids, asks)


def make_avellaneda(params: AvellanedaParams, ctx: BuildContext) -> AvellanedaQuoter:
    return AvellanedaQuoter(params, ctx.asset.tick_size, ctx.asset.lot_size)


@hookimpl
def botmm_register_quoters(register):
    register("avellaneda", make_avellaneda, AvellanedaParams)
