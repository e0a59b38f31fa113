"""An in-process :class:`~botmm.protocols.LiveVenue` for the live runner's tests (``exchange=fake_live``).

Its market sits at a mid that tests move, stamped with the wall clock; orders rest until cancelled or filled by
hand (:meth:`FakeLiveVenue.fill`). Switches put it into the faults the runner must survive: ``blind`` (``"error"``:
every poll raises, ``"none"``: no data, ``"frozen"``: the last market again and again), ``refuse_cancels``,
``refuse_reconciles`` (that many reconciliations fail) and ``arm_result`` (False: the exchange refuses the dead
man's switch). It records every call with its monotonic time, and for each order when it started and stopped
resting, so tests check what rested while the bot was blind.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from botmm.config import ComponentParams
from botmm.errors import VenueError
from botmm.model import Fill, Market, Order, Position, QuoteLevel
from botmm.protocols import GuardianSpec, LiveVenue, Reconciliation
from botmm.registry import registry
from botmm.sim.costs import Costs, Funding, FundingPayment

NAME = "fake_live"


@dataclass
class Resting:
    """One order's life: when it was placed and when it stopped resting (None: still rests)."""

    oid: int
    since: float
    until: Optional[float] = None


class FakeLiveVenue(LiveVenue):
    max_batch = 10
    metadata_refresh_s = 3600.0

    def __init__(self, heartbeat_s: float = 0.2, reconcile_s: float = 0.5, symbol: str = "ETH"):
        self.heartbeat_s, self.reconcile_s, self.symbol = heartbeat_s, reconcile_s, symbol
        self.notify: Optional[Callable[..., None]] = None
        self.funding = Funding(Costs())
        self.lock = threading.Lock()
        self.mid = 3000.0
        self.orders: dict[int, Order] = {}
        self.lives: dict[int, Resting] = {}
        self.fills: list[Fill] = []
        self.position, self.avg_entry = 0.0, 0.0  # the exchange's
        self.unseen: list[Fill] = []  # fills the exchange has and the venue has not delivered yet
        self.blind: Optional[str] = None
        self.refuse_cancels = False
        self.refuse_reconciles = 0
        self.arm_result = True
        self.calls: list[tuple[float, str]] = []
        self.halted = False
        self._oid = 0
        self._last: Optional[Market] = None

    def _call(self, name: str) -> None:
        self.calls.append((time.monotonic(), name))

    def times(self, name: str) -> list[float]:
        return [t for t, n in self.calls if n == name]

    # -- test controls -----------------------------------------------------------------------------------------
    def fill(self, oid: int, tid: int, delivered: bool = True) -> Fill:
        """Fill resting order ``oid`` in full at its price; ``delivered=False``: only a reconciliation finds it."""
        with self.lock:
            order = self.orders.pop(oid)
            self.lives[oid].until = time.monotonic()
            fill = Fill(int(time.time() * 1000), oid, order.side, order.price, order.size, 0.0, True, tid)
            self._book(fill)
            (self.fills if delivered else self.unseen).append(fill)
            return fill

    def _book(self, fill: Fill) -> None:
        new = self.position + fill.side * fill.size
        if new and self.position * fill.side >= 0:
            self.avg_entry = (self.avg_entry * abs(self.position) + fill.price * fill.size) / abs(new)
        self.position = round(new, 12)

    def pay_funding(self, amount: float) -> None:
        self.funding.payments.append(FundingPayment(int(time.time() * 1000), self.position, self.mid, amount))

    def resting(self) -> list[Order]:
        with self.lock:
            return list(self.orders.values())

    # -- Venue -------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        self._call("connect")

    def disconnect(self) -> None:
        self._call("disconnect")

    def poll(self, now_ms: int) -> Market | None:
        self._call("poll")
        if self.blind == "error":
            self._call("poll_error")
            raise VenueError("l2Book: HTTP 502")
        if self.blind == "none":
            return None
        if self.blind == "frozen" and self._last is not None:
            return self._last
        mid = self.mid
        self._last = Market(now_ms, mid - 0.5, mid + 0.5, mid, mid, mid, mid, 0.0, 1.0, 1.0)
        return self._last

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        self._call("place")
        if self.halted:
            return []
        placed = []
        with self.lock:
            for level in levels:
                self._oid += 1
                order = Order(self._oid, level.side, level.price, level.size, now_ms)
                self.orders[order.oid] = order
                self.lives[order.oid] = Resting(order.oid, time.monotonic())
                placed.append(order)
        return placed

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        self._call("modify")
        if self.halted:
            return []
        self._remove([oid for oid, _ in changes])
        return self.place_orders([level for _, level in changes], now_ms)

    def _remove(self, oids: Sequence[int]) -> None:
        with self.lock:
            for oid in oids:
                if self.orders.pop(oid, None) is not None:
                    self.lives[oid].until = time.monotonic()

    def cancel_orders(self, oids: Sequence[int]) -> None:
        self._call("cancel")
        if self.refuse_cancels:
            raise VenueError("cancel: HTTP 503")
        self._remove(oids)

    def cancel_all_orders(self) -> int:
        self._call("cancel_all")
        if self.refuse_cancels:
            raise VenueError("cancel: HTTP 503")
        count = len(self.orders)
        self._remove(list(self.orders))
        return count

    def get_open_orders(self) -> list[Order]:
        return self.resting()

    def get_position(self) -> Position:
        return Position(self.position, self.avg_entry)

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        with self.lock:
            return self.fills[cursor:], len(self.fills)

    # -- LiveVenue ---------------------------------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return f"fake-{self.symbol}"

    def reconcile(self) -> Reconciliation:
        self._call("reconcile")
        if self.refuse_reconciles:
            self.refuse_reconciles -= 1
            raise VenueError("clearinghouseState: unreadable answer")
        with self.lock:
            differences = [f"fill tid {f.tid} not seen before" for f in self.unseen]
            self.fills.extend(self.unseen)
            self.unseen.clear()
            return Reconciliation(self.position, self.avg_entry, len(self.orders), differences=differences)

    def arm_dead_mans_switch(self) -> bool:
        self._call("arm")
        return self.arm_result

    def disarm_dead_mans_switch(self) -> None:
        self._call("disarm")

    def refresh_metadata(self) -> dict[str, Any]:
        return {}

    def halt(self) -> None:
        self._call("halt")
        self.halted = True

    def guardian(self) -> Optional[GuardianSpec]:
        return GuardianSpec(module="fake_guardian", settings={"symbol": self.symbol})


class Slot:
    """The venue the next ``exchange=fake_live`` job gets (the factory takes no arguments a test could pass)."""

    venue: Optional[FakeLiveVenue] = None


def register() -> None:
    """Make ``exchange=fake_live`` composable and buildable (once per process)."""
    exchanges = registry("exchange")
    if NAME not in exchanges.components:
        exchanges.register(NAME, lambda params, ctx: Slot.venue, ComponentParams, plugin="tests")
