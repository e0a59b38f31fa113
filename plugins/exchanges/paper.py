"""``exchange=paper``: fills simulated locally, in real time, against a feed's market data (see
:mod:`botmm.sim.candle`). No keys, no orders leave the machine."""

from __future__ import annotations

from dataclasses import dataclass

from botmm.config import require
from botmm.registry import BuildContext, hookimpl

from .sim import SimParams, candle_venue


@dataclass
class PaperParams(SimParams):
    speed: float = 1.0  # feed time per wall-clock time (2.0 replays a recorded feed twice as fast)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.speed > 0, self, "speed", "must be > 0")


def make_paper(params: PaperParams, ctx: BuildContext):
    return candle_venue(params, ctx, wall_clock=True, speed=params.speed)


@hookimpl
def botmm_register_exchanges(register):
    register("paper", make_paper, PaperParams)
