"""``exchange=paper``: fills simulated locally, in real time, against a feed's market data (see
:mod:`botmm.sim.candle`). No keys, no orders leave the machine.

The paper venue is a :class:`~botmm.protocols.LiveVenue` too, so ``botmm run`` drives it exactly as it drives an
exchange: its reconciliation finds its own state (nothing can differ), its dead man's switch is always armed and no
guardian is needed (its orders live in the bot's process and end with it), and its limits are kept under the state
key ``paper-<symbol>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from botmm import BuildContext, GuardianSpec, LiveVenue, Order, QuoteLevel, Reconciliation, hookimpl, require
from botmm.sim import CandleVenue

from .sim import SimParams, candle_venue


@dataclass
class PaperParams(SimParams):
    speed: float = 1.0  # feed time per wall-clock time (2.0 replays a recorded feed twice as fast)
    heartbeat_s: float = 15.0  # how often the live runner re-arms the (always armed) dead man's switch
    reconcile_s: float = 10.0  # how often the live runner reconciles (here: reads the venue's own state)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.speed > 0, self, "speed", "must be > 0")
        require(self.heartbeat_s > 0, self, "heartbeat_s", "must be > 0")
        require(self.reconcile_s > 0, self, "reconcile_s", "must be > 0")


class PaperVenue(CandleVenue, LiveVenue):
    """The candle venue on the wall clock, with the live venue's contract (see the module docstring)."""

    metadata_refresh_s = 3600.0  # the rules of a simulated instrument never change

    def __init__(self, *args: Any, heartbeat_s: float, reconcile_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.heartbeat_s, self.reconcile_s = heartbeat_s, reconcile_s
        self.notify: Optional[Callable[..., None]] = None
        self.halted = False

    @property
    def state_key(self) -> str:
        return f"paper-{self.asset.symbol}"

    def reconcile(self) -> Reconciliation:
        return Reconciliation(self.inventory.position, self.inventory.avg_entry, len(self.orders))

    def arm_dead_mans_switch(self) -> bool:
        return True

    def disarm_dead_mans_switch(self) -> None:
        """Nothing to clear: no order outlives the process."""

    def refresh_metadata(self) -> dict[str, Any]:
        return {}

    def halt(self) -> None:
        self.halted = True

    def guardian(self) -> Optional[GuardianSpec]:
        return None

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        """As the candle venue's; after :meth:`halt` every order is refused (left out)."""
        return [] if self.halted else super().place_orders(levels, now_ms)

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        """As the candle venue's; after :meth:`halt` the orders are left as they are."""
        return [] if self.halted else super().modify_orders(changes, now_ms)


def make_paper(params: PaperParams, ctx: BuildContext) -> PaperVenue:
    return candle_venue(params, ctx, venue=PaperVenue, wall_clock=True, speed=params.speed,
                        heartbeat_s=params.heartbeat_s, reconcile_s=params.reconcile_s)


@hookimpl
def botmm_register_exchanges(register):
    register("paper", make_paper, PaperParams)
