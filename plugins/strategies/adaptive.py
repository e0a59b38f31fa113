"""``strategy=adaptive``: the seed's AdaptiveMMStrategy, on top of everything ``basic`` does (hot reload).

Each tick it sets the quoter's multipliers:

* Volatility regime: the ratio of a short to a long exponentially weighted volatility of mid's log returns
  (``short_halflife`` and ``long_halflife`` ticks) classes the market LOW (ratio < ``low_ratio``), HIGH
  (> ``high_ratio``) or MEDIUM. LOW multiplies spread by ``low_spread_mult`` and size by ``low_size_mult``; HIGH by
  ``high_spread_mult`` and ``high_size_mult``; MEDIUM leaves both. A change of regime sends event ``regime``.
  ``hysteresis`` (a fraction of the threshold) keeps noise around a threshold from flipping the regime every few
  ticks: a regime is entered when the ratio passes its threshold by that fraction and left only when the ratio is
  back on the other side by that fraction.
* Inventory decay: a position held for t hours is skewed ``1 + inventory_decay_per_hour * t`` times harder (at most
  ``max_skew_mult``), to flatten stale inventory.
* Fill-rate targeting: after the first hour, the spread is multiplied by ``(fill_rate / target_fills_per_hour) **
  fill_rate_gain`` clipped to [``min_fill_mult``, ``max_fill_mult``]: too few fills tighten, too many widen
  (``target_fills_per_hour: 0`` turns it off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from botmm import BuildContext, QuoteInputs, TickState, hookimpl, require

from .basic import BasicParams, BasicPolicy, check_params_file

_HOUR_MS = 3_600_000


@dataclass
class AdaptiveParams(BasicParams):
    short_halflife: float = 30.0
    long_halflife: float = 720.0
    low_ratio: float = 0.7
    high_ratio: float = 1.5
    low_spread_mult: float = 0.8
    low_size_mult: float = 1.2
    high_spread_mult: float = 2.0
    high_size_mult: float = 0.5
    hysteresis: float = 0.15  # enter past threshold * (1 +- hysteresis), leave back past threshold * (1 -+ hysteresis)
    inventory_decay_per_hour: float = 1.0
    max_skew_mult: float = 4.0
    target_fills_per_hour: float = 20.0
    fill_rate_gain: float = 0.5
    min_fill_mult: float = 0.7
    max_fill_mult: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.short_halflife < self.long_halflife, self, "short_halflife", "must be in (0, long_halflife)")
        require(0 < self.low_ratio < self.high_ratio, self, "low_ratio", "must be in (0, high_ratio)")
        require(0 <= self.hysteresis < 1 and self.low_ratio * (1 + self.hysteresis) < self.high_ratio
                * (1 - self.hysteresis), self, "hysteresis", "must be in [0, 1) and keep the LOW and HIGH bands apart")
        for key in ("low_spread_mult", "low_size_mult", "high_spread_mult", "high_size_mult"):
            require(getattr(self, key) > 0, self, key, "must be > 0")
        require(self.inventory_decay_per_hour >= 0, self, "inventory_decay_per_hour", "must be >= 0")
        require(self.max_skew_mult >= 1, self, "max_skew_mult", "must be >= 1")
        require(self.target_fills_per_hour >= 0, self, "target_fills_per_hour", "must be >= 0")
        require(0 < self.min_fill_mult <= 1 <= self.max_fill_mult, self, "min_fill_mult",
                "must satisfy 0 < min_fill_mult <= 1 <= max_fill_mult")


class AdaptivePolicy(BasicPolicy):
    def __init__(self, params: AdaptiveParams):
        super().__init__(params)
        self.p = params
        self.a_short = 1.0 - 0.5 ** (1.0 / params.short_halflife)
        self.a_long = 1.0 - 0.5 ** (1.0 / params.long_halflife)
        self.var_short = self.var_long = 0.0
        self.regime = "MEDIUM"
        self._prev_mid = 0.0
        self._start_ms: int | None = None

    def adjust(self, inputs: QuoteInputs, state: TickState) -> QuoteInputs:
        inputs = super().adjust(inputs, state)
        p = self.p
        self._observe(inputs.mid)
        if self._start_ms is None:
            self._start_ms = state.now_ms
        regime = self._classify()
        if regime != self.regime:
            self.strategy.event("regime", regime=regime, previous=self.regime, ratio=round(self.vol_ratio, 4))
            self.regime = regime
        if regime == "LOW":
            inputs.spread_mult *= p.low_spread_mult
            inputs.size_mult *= p.low_size_mult
        elif regime == "HIGH":
            inputs.spread_mult *= p.high_spread_mult
            inputs.size_mult *= p.high_size_mult
        # Clipped with conditional expressions: ``min(a, b)`` is exactly ``b if b < a else a`` and ``max(a, b)``
        # ``b if b > a else a`` (NaN included), without a builtin call each tick.
        if state.position_since_ms is not None:
            hours = (state.now_ms - state.position_since_ms) / _HOUR_MS
            decay = 1.0 + p.inventory_decay_per_hour * hours
            inputs.skew_mult *= decay if decay < p.max_skew_mult else p.max_skew_mult
        if p.target_fills_per_hour > 0 and state.now_ms - self._start_ms >= _HOUR_MS:
            rate = state.fill_rate
            ratio = (1e-9 if 1e-9 > rate else rate) / p.target_fills_per_hour  # max(rate, 1e-9)
            mult = ratio**p.fill_rate_gain
            mult = mult if mult > p.min_fill_mult else p.min_fill_mult
            inputs.spread_mult *= mult if mult < p.max_fill_mult else p.max_fill_mult
        return inputs

    @property
    def vol_ratio(self) -> float:
        return math.sqrt(self.var_short / self.var_long) if self.var_long > 0 else 1.0

    def _observe(self, mid: float) -> None:
        prev, self._prev_mid = self._prev_mid, mid
        if prev <= 0:
            return
        r2 = math.log(mid / prev) ** 2
        self.var_short += self.a_short * (r2 - self.var_short)
        self.var_long += self.a_long * (r2 - self.var_long)

    def _classify(self) -> str:
        """The regime of the current ratio, with hysteresis around both thresholds (see the module docstring)."""
        ratio, p, h = self.vol_ratio, self.p, self.p.hysteresis
        if self.regime == "LOW" and ratio < p.low_ratio * (1 + h):
            return "LOW"
        if self.regime == "HIGH" and ratio > p.high_ratio * (1 - h):
            return "HIGH"
        if ratio < p.low_ratio * (1 - h):
            return "LOW"
        if ratio > p.high_ratio * (1 + h):
            return "HIGH"
        return "MEDIUM"


def make_adaptive(params: AdaptiveParams, ctx: BuildContext) -> AdaptivePolicy:
    check_params_file(params)
    return AdaptivePolicy(params)


@hookimpl
def botmm_register_strategies(register):
    register("adaptive", make_adaptive, AdaptiveParams)
