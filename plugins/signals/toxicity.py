"""``signals.toxicity=toxicity``: the seed's ToxicityTracker, a score of adverse selection in [0, 1].

After each fill, the tracker waits ``horizon_seconds`` and measures how far mid moved against the fill: for a buy,
``(fill price - mid) / fill price`` in bps (the price kept falling), for a sell the mirror. The move is scaled to
[0, 1] by ``scale_bps`` (a move of ``scale_bps`` or more scores 1; a favourable move scores 0) and the score is an
exponential average over fills (``halflife`` fills). ``update(market)`` returns the current score. Quoters widen their
spread with it. O(1) amortised: each fill is queued once and scored once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from botmm import BuildContext, ComponentParams, Fill, Market, hookimpl, require


@dataclass
class ToxicityParams(ComponentParams):
    horizon_seconds: float = 60.0
    scale_bps: float = 10.0
    halflife: float = 20.0  # fills

    def __post_init__(self) -> None:
        require(self.horizon_seconds > 0, self, "horizon_seconds", "must be > 0")
        require(self.scale_bps > 0, self, "scale_bps", "must be > 0")
        require(self.halflife > 0, self, "halflife", "must be > 0")


class Toxicity:
    def __init__(self, params: ToxicityParams):
        self.horizon_ms = int(params.horizon_seconds * 1000)
        self.scale = params.scale_bps
        self.alpha = 1.0 - 0.5 ** (1.0 / params.halflife)
        self.value = 0.0
        self.pending: deque[Fill] = deque()

    def on_fill(self, fill: Fill) -> None:
        self.pending.append(fill)

    def update(self, market: Market) -> float:
        pending, mid = self.pending, market.mid
        while pending and pending[0].ts + self.horizon_ms <= market.ts:
            fill = pending.popleft()
            adverse_bps = fill.side * (fill.price - mid) / fill.price * 1e4
            score = min(1.0, max(0.0, adverse_bps / self.scale))
            self.value += self.alpha * (score - self.value)
        return self.value


def make_toxicity(params: ToxicityParams, ctx: BuildContext) -> Toxicity:
    return Toxicity(params)


@hookimpl
def botmm_register_signals(register):
    register("toxicity", make_toxicity, ToxicityParams)
