"""``signals.volatility=volatility``: EWMA volatility of log returns and an EWMA average true range, the ``vol`` and
``atr`` inputs of the quoter. O(1) per update.

``update(market)`` returns vol, the exponentially weighted standard deviation of one bar's log return of the close
(a fraction, >= 0); ``atr`` is the exponentially weighted true range ``max(high, prev_close) - min(low, prev_close)``
in price units. Both use ``halflife`` bars. Before two bars have been seen vol is ``initial_vol``.
"""

from __future__ import annotations

from math import log, sqrt
from dataclasses import dataclass

from botmm import BuildContext, ComponentParams, Market, hookimpl, require


@dataclass
class VolatilityParams(ComponentParams):
    halflife: float = 30.0  # bars
    initial_vol: float = 0.0005  # per-bar vol assumed before data arrives

    def __post_init__(self) -> None:
        require(self.halflife > 0, self, "halflife", "must be > 0")
        require(self.initial_vol >= 0, self, "initial_vol", "must be >= 0")


class Volatility:
    def __init__(self, params: VolatilityParams):
        self.alpha = 1.0 - 0.5 ** (1.0 / params.halflife)
        self.var = params.initial_vol**2
        self.atr = 0.0
        self.value = params.initial_vol
        self._prev = 0.0

    def update(self, market: Market) -> float:
        close = market.close
        prev = self._prev
        if prev > 0:
            alpha = self.alpha
            r = log(close / prev)
            self.var = var = self.var + alpha * (r * r - self.var)
            high, low = market.high, market.low
            tr = (prev if prev > high else high) - (prev if prev < low else low)  # max(high, prev) - min(low, prev)
            self.atr += alpha * (tr - self.atr)
            self.value = sqrt(var)
        else:
            self.atr = market.high - market.low
        self._prev = close
        return self.value


def make_volatility(params: VolatilityParams, ctx: BuildContext) -> Volatility:
    return Volatility(params)


@hookimpl
def botmm_register_signals(register):
    register("volatility", make_volatility, VolatilityParams)
