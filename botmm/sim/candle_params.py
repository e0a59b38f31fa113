"""``fill_model=candle``'s settings (the rules are in :mod:`botmm.sim.candle`). Kept apart from the venue, which is
compiled where botmm's compiled core is built (:mod:`botmm.speedups`): a settings schema stays a plain dataclass that
plugins extend and OmegaConf reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from botmm.config import ComponentParams, require

PATHS = ("open-high-low-close", "open-low-high-close", "adverse")


@dataclass
class CandleFillParams(ComponentParams):
    """``fill_model=candle``: the rules of :mod:`botmm.sim.candle`."""

    name: str = "candle"  # fill_model=<name> picks the fill model
    rule: str = "through"  # through | touch
    path: str = "adverse"  # open-high-low-close | open-low-high-close | adverse
    volume_cap: Optional[float] = None  # max fraction of a bar's volume our fills in that bar may take
    post_only: bool = True  # false: an order crossing on arrival takes liquidity (taker fee)

    def __post_init__(self) -> None:
        require(self.rule in ("through", "touch"), self, "rule", "must be through or touch")
        require(self.path in PATHS, self, "path", f"must be one of {', '.join(PATHS)}")
        require(self.volume_cap is None or 0 < self.volume_cap <= 1, self, "volume_cap", "must be in (0, 1]")
