"""``quoter=avellaneda``: the seed's quote engine, an Avellaneda–Stoikov-style inventory-skewed spread.

Per tick, with ``mid``, volatility ``vol`` (fraction of mid per tick), ``atr`` (price units), inventory ``q`` in
[-1, 1] (positive = long), directional ``signal`` and book ``imbalance`` in [-1, 1] and ``toxicity`` in [0, 1]::

    spread = max(spread_bps / 1e4 * mid, vol * vol_multiplier * mid)
             * (1 + toxicity_widening * toxicity) * spread_mult
    skew   = -q * inventory_skew_factor * atr * skew_mult   # sign convention: a long position lowers both quotes
    shift  = signal * bias_strength * spread
    bid    = mid - spread / 2 + skew + shift - widen_bid
    ask    = mid + spread / 2 + skew + shift + widen_ask

Book imbalance widens the side the flow is running against: with more resting bids (imbalance > 0, buying
pressure) ``widen_ask = imbalance_widening * imbalance * spread / 2``, and symmetrically ``widen_bid`` when
imbalance < 0. ``spread_mult``, ``skew_mult`` and ``size_mult`` come from the strategy policy (1 by default).
Levels, rounding, the minimum distance from mid and sizes follow :func:`botmm.plugins.quoters.ladder.ladder`.
"""

from __future__ import annotations

from dataclasses import dataclass

from botmm.config import require
from botmm.model import Quote
from botmm.protocols import QuoteInputs
from botmm.registry import BuildContext, hookimpl

from .ladder import LadderParams, ladder


@dataclass
class AvellanedaParams(LadderParams):
    toxicity_widening: float = 1.0  # spread grows by this fraction at toxicity 1
    imbalance_widening: float = 0.5  # the side against the book's imbalance widens by this share of half a spread

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.toxicity_widening >= 0, self, "toxicity_widening", "must be >= 0")
        require(self.imbalance_widening >= 0, self, "imbalance_widening", "must be >= 0")


class AvellanedaQuoter:
    def __init__(self, params: AvellanedaParams, tick: float, lot: float):
        self.params, self.tick, self.lot = params, tick, lot

    def quote(self, inputs: QuoteInputs) -> Quote:
        p = self.params
        mid = inputs.mid
        spread = max(p.spread_bps * 1e-4 * mid, inputs.vol * p.vol_multiplier * mid)
        spread *= (1.0 + p.toxicity_widening * inputs.toxicity) * inputs.spread_mult
        skew = -inputs.inventory * p.inventory_skew_factor * inputs.atr * inputs.skew_mult
        center = mid + skew + inputs.signal * p.bias_strength * spread
        lean = p.imbalance_widening * inputs.imbalance * spread / 2
        bid = center - spread / 2 - max(-lean, 0.0)
        ask = center + spread / 2 + max(lean, 0.0)
        return ladder(bid, ask, mid, p, inputs.size_mult, self.tick, self.lot)


def make_avellaneda(params: AvellanedaParams, ctx: BuildContext) -> AvellanedaQuoter:
    return AvellanedaQuoter(params, ctx.asset.tick_size, ctx.asset.lot_size)


@hookimpl
def botmm_register_quoters(register):
    register("avellaneda", make_avellaneda, AvellanedaParams)
