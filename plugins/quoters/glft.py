"""``quoter=glft``: the Guéant–Lehalle–Fernandez-Tapia closed-form market-making quotes, with the order-arrival
parameters estimated online.

Model (Guéant, Lehalle and Fernandez-Tapia, "Dealing with the inventory risk: a solution to the market making
problem", Mathematics and Financial Economics 7, 477–507, 2013; closed-form approximation from Guéant, "Optimal
market making", Applied Mathematical Finance 24(2), 112–154, 2017): a quote at depth δ from mid is hit at rate
``A * exp(-kappa * δ)``. With risk aversion γ (= ξ), order size Δ = 1 (inventory ``q`` counted in orders of
``order_size_usd``) and volatility σ::

    c1 = ln(1 + γ / kappa) / γ
    c2 = sqrt(γ / (2 A kappa) * (1 + γ / kappa) ** (kappa / γ + 1))
    half_spread = c1 + σ c2 / 2          skew = σ c2
    bid depth = half_spread + q * skew   ask depth = half_spread - q * skew

Everything is in basis points of mid, so one set of parameters suits every asset: δ and σ in bps (σ = vol * 1e4,
per tick), kappa per bp, A per tick.

Online estimation of A and kappa: each tick, the interval's trading reaches ``high - prev_mid`` above and
``prev_mid - low`` below the previous mid. For a grid of depths δ_i = i * ``depth_step_bps`` the pipeline keeps an
exponentially weighted frequency λ_i of ticks whose excursion reached δ_i (both sides averaged); every
``refit_every`` ticks a least-squares fit of ``ln λ_i = ln A - kappa δ_i`` updates A and kappa. Until two grid points
have data, ``initial_a`` and ``initial_kappa`` are used. O(grid) per tick, independent of history length.

The result honours the shared knobs: the full spread is at least ``spread_bps``, scaled by ``spread_mult``; the skew
is scaled by ``inventory_skew_factor`` and ``skew_mult``; ``signal * bias_strength * spread`` shifts both quotes;
``vol_multiplier`` is unused (the model sets the spread from σ). Levels and rounding follow
:func:`botmm.plugins.quoters.ladder.ladder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from botmm import BuildContext, Quote, QuoteInputs, hookimpl, require

from .ladder import LadderParams, ladder


@dataclass
class GLFTParams(LadderParams):
    inventory_skew_factor: float = 1.0  # 1 = the model's own skew
    gamma: float = 0.1  # risk aversion, per bp
    depth_step_bps: float = 1.0  # step of the grid of depths where hit frequencies are estimated
    depth_levels: int = 20  # points of that grid
    halflife: float = 500.0  # ticks of exponential weighting of hit frequencies
    refit_every: int = 20  # ticks between fits
    initial_a: float = 1.0  # hits per tick at depth 0
    initial_kappa: float = 0.3  # per bp

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.gamma > 0, self, "gamma", "must be > 0")
        require(self.depth_step_bps > 0, self, "depth_step_bps", "must be > 0")
        require(self.depth_levels >= 2, self, "depth_levels", "must be >= 2")
        require(self.halflife > 0, self, "halflife", "must be > 0")
        require(self.refit_every >= 1, self, "refit_every", "must be >= 1")
        require(self.initial_a > 0, self, "initial_a", "must be > 0")
        require(self.initial_kappa > 0, self, "initial_kappa", "must be > 0")


class ArrivalEstimator:
    """Exponentially weighted hit frequencies on a depth grid and the fitted (A, kappa).

    The per-tick update runs on lists of Python floats: on a grid of a few dozen points numpy's per-call cost is
    most of the work, and the element-wise arithmetic is the same IEEE operations in the same order either way."""

    def __init__(self, p: GLFTParams):
        self.depths = p.depth_step_bps * np.arange(1, p.depth_levels + 1)
        self._depths = self.depths.tolist()
        self.freq = [0.0] * p.depth_levels
        self.alpha = 1.0 - 0.5 ** (1.0 / p.halflife)
        self.refit_every = p.refit_every
        self.a, self.kappa = p.initial_a, p.initial_kappa
        self._prev_mid = 0.0
        self._ticks = 0

    def observe(self, mid: float, high: float, low: float) -> None:
        prev = self._prev_mid
        self._prev_mid = mid
        if prev <= 0:
            return
        up = (high - prev) / prev * 1e4
        down = (prev - low) / prev * 1e4
        alpha = self.alpha  # hit: 1 when both sides reached the depth, 0.5 when one did
        self.freq = [f + alpha * (0.5 * ((d <= up) + (d <= down)) - f) for d, f in zip(self._depths, self.freq)]
        self._ticks += 1
        if self._ticks % self.refit_every == 0:
            self._fit()

    def _fit(self) -> None:
        freq = np.array(self.freq)
        seen = freq > 1e-9
        if seen.sum() < 2:
            return
        slope, intercept = np.polyfit(self.depths[seen], np.log(freq[seen]), 1)
        if slope < 0:
            self.kappa, self.a = float(-slope), float(math.exp(intercept))


class GLFTQuoter:
    def __init__(self, params: GLFTParams, tick: float, lot: float):
        self.params, self.tick, self.lot = params, tick, lot
        self.arrivals = ArrivalEstimator(params)

    def quote(self, inputs: QuoteInputs) -> Quote:
        p = self.params
        mid = inputs.mid
        market = inputs.market
        if market is not None:
            self.arrivals.observe(mid, market.high, market.low)
        half, skew = glft_depths(p.gamma, self.arrivals.a, self.arrivals.kappa, inputs.vol * 1e4)
        half = max(half, p.spread_bps / 2) * inputs.spread_mult
        skew *= p.inventory_skew_factor * inputs.skew_mult
        q = inputs.position * mid / p.order_size_usd
        shift = inputs.signal * p.bias_strength * 2 * half
        bid = mid * (1 - (half + q * skew - shift) * 1e-4)
        ask = mid * (1 + (half - q * skew + shift) * 1e-4)
        return ladder(bid, ask, mid, p, inputs.size_mult, self.tick, self.lot)


def glft_depths(gamma: float, a: float, kappa: float, sigma_bps: float) -> tuple[float, float]:
    """(half spread, skew per order of inventory) in bps: the closed form in the module docstring."""
    ratio = 1.0 + gamma / kappa
    c1 = math.log(ratio) / gamma
    c2 = math.sqrt(gamma / (2.0 * a * kappa) * ratio ** (kappa / gamma + 1.0))
    return c1 + 0.5 * sigma_bps * c2, sigma_bps * c2


def make_glft(params: GLFTParams, ctx: BuildContext) -> GLFTQuoter:
    return GLFTQuoter(params, ctx.asset.tick_size, ctx.asset.lot_size)


@hookimpl
def botmm_register_quoters(register):
    register("glft", make_glft, GLFTParams)
