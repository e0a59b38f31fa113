"""``sizer=dynamic``: the seed's DynamicSizer, order size that shrinks when the edge looks poor or the risk is high.

For a quoted size ``base`` (the quoter's, from ``order_size_usd``), :meth:`DynamicSizer.get_size` returns::

    base * clip(f_vol * f_fill * f_tox * f_dd * f_inv, floor, cap)

* ``f_vol = min(1, target_vol / vol)``: a fractional-Kelly rule (stake proportional to edge over variance, with the
  edge per fill roughly constant) scales the size down as volatility rises above ``target_vol`` (per tick);
* ``f_fill = min(1, max(0.25, fill_rate / target_fill_rate))``: few fills mean the quotes are not earning, so less
  size rests (off when ``target_fill_rate`` is 0);
* ``f_tox = 1 - toxicity_weight * toxicity``: adverse selection observed after fills;
* ``f_dd = max(0, 1 - drawdown / max_drawdown)``: the deeper the drawdown from the equity peak, the smaller;
* ``f_inv = 1 - inventory_weight * |inventory|`` on the side that would grow the position, 1 on the side that
  reduces it.

The result is rounded down to the lot and lifted to the venue's minimum order value, like ``sizer=fixed``; a level
whose multiplier falls to 0 is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from botmm import BuildContext, ComponentParams, Quote, QuoteLevel, Side, SizeContext, hookimpl, make_level, require

from .fixed import FixedSizer

_BUY = Side.BUY  # enum members are slow class attributes on Python 3.11: look it up once


@dataclass
class DynamicParams(ComponentParams):
    target_vol: float = 0.001  # per-tick vol above which size shrinks
    target_fill_rate: float = 20.0  # fills per hour at which size is full; 0 turns the factor off
    toxicity_weight: float = 0.5
    max_drawdown: float = 0.1  # drawdown (fraction of peak equity) at which size reaches zero
    inventory_weight: float = 0.7
    floor: float = 0.2  # smallest multiplier while quoting
    cap: float = 1.5  # largest multiplier

    def __post_init__(self) -> None:
        require(self.target_vol > 0, self, "target_vol", "must be > 0")
        require(self.target_fill_rate >= 0, self, "target_fill_rate", "must be >= 0")
        require(0 <= self.toxicity_weight <= 1, self, "toxicity_weight", "must be in [0, 1]")
        require(self.max_drawdown > 0, self, "max_drawdown", "must be > 0")
        require(0 <= self.inventory_weight <= 1, self, "inventory_weight", "must be in [0, 1]")
        require(0 < self.floor <= self.cap, self, "floor", "must be in (0, cap]")


class DynamicSizer:
    def __init__(self, params: DynamicParams, rounding: FixedSizer):
        self.params, self.rounding = params, rounding

    def get_size(self, base_size: float, vol: float, fill_rate: float, toxicity: float, drawdown: float,
                 inventory: float, grows_position: bool = True) -> float:
        """The scaled size for one order of ``base_size`` (see the module docstring); 0 stops quoting it."""
        factor = self._market_factor(vol, fill_rate, toxicity, drawdown)
        multiplier = self._multiplier(factor, inventory, grows_position)
        return base_size * multiplier if multiplier > 0 else 0.0

    def _market_factor(self, vol: float, fill_rate: float, toxicity: float, drawdown: float) -> float:
        """``f_vol * f_fill * f_tox * f_dd``: the part of the scale shared by every level of a tick. Clipped with
        conditional expressions, each the exact result of the ``min``/``max`` it replaces (``min(a, b)`` is ``b if
        b < a else a``, NaN and signed zeros included), without a builtin call per factor."""
        p = self.params
        f_vol = 1.0
        if vol > 0:
            f_vol = p.target_vol / vol
            f_vol = f_vol if f_vol < 1.0 else 1.0  # min(1.0, x)
        f_fill = 1.0
        if p.target_fill_rate > 0:
            f_fill = fill_rate / p.target_fill_rate
            f_fill = f_fill if f_fill > 0.25 else 0.25  # max(0.25, x)
            f_fill = f_fill if f_fill < 1.0 else 1.0  # min(1.0, x)
        f_tox = 1.0 - p.toxicity_weight * toxicity
        f_dd = 1.0 - drawdown / p.max_drawdown
        f_dd = f_dd if f_dd > 0.0 else 0.0  # max(0.0, x)
        return f_vol * f_fill * f_tox * f_dd

    def _multiplier(self, market_factor: float, inventory: float, grows_position: bool) -> float:
        """``clip(market_factor * f_inv, floor, cap)``, or 0 when the scale is <= 0 (``floor`` is > 0)."""
        p = self.params
        f_inv = 1.0 - p.inventory_weight * abs(inventory) if grows_position else 1.0
        scale = market_factor * f_inv
        if scale <= 0:
            return 0.0
        scale = scale if scale > p.floor else p.floor  # max(floor, scale)
        return scale if scale < p.cap else p.cap  # min(cap, scale)

    def size(self, quote: Quote, ctx: SizeContext) -> Quote:
        # The multipliers depend on the level only through whether it grows the position: two per tick.
        factor = self._market_factor(ctx.vol, ctx.fill_rate, ctx.toxicity, ctx.drawdown)
        growing = self._multiplier(factor, ctx.inventory, True)
        reducing = self._multiplier(factor, ctx.inventory, False)
        long = ctx.inventory >= 0
        sized = Quote(self._side(quote.bids, growing, reducing, long), self._side(quote.asks, growing, reducing, long))
        return self.rounding.size(sized, ctx)

    @staticmethod
    def _side(levels: list[QuoteLevel], growing: float, reducing: float, long: bool) -> list[QuoteLevel]:
        out = []
        for side, price, base, _ in levels:
            size = base * (growing if (side is _BUY) == long else reducing)
            if size > 0:  # a multiplier of 0 drops the level
                out.append(make_level((side, price, size, False)))
        return out


def make_dynamic(params: DynamicParams, ctx: BuildContext) -> DynamicSizer:
    return DynamicSizer(params, FixedSizer(ctx.asset, ctx.cfg.quoter.get("order_size_usd")))


@hookimpl
def botmm_register_sizers(register):
    register("dynamic", make_dynamic, DynamicParams)
