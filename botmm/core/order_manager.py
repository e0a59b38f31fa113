"""Turns the desired quote into the fewest venue actions.

Desired levels and open orders are paired side by side, best price first. A pair whose price moved less than
``modify_threshold_bps`` and whose size is unchanged is left alone (no API call); otherwise the order is modified.
Open orders without a desired level are cancelled; desired levels without an order are placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from botmm.model import Order, Quote, QuoteLevel, Side


@dataclass(slots=True)
class Actions:
    place: list[QuoteLevel] = field(default_factory=list)
    modify: list[tuple[int, QuoteLevel]] = field(default_factory=list)
    cancel: list[int] = field(default_factory=list)
    kept: int = 0  # orders left as they are: API calls saved


class OrderManager:
    def __init__(self, modify_threshold_bps: float = 0.0, size_tolerance: float = 1e-12):
        self.threshold = modify_threshold_bps / 1e4
        self.size_tolerance = size_tolerance
        self.calls_saved = 0

    def reconcile(self, desired: Quote, open_orders: Sequence[Order]) -> Actions:
        actions = Actions()
        bids = sorted((o for o in open_orders if o.side is Side.BUY), key=lambda o: -o.price)
        asks = sorted((o for o in open_orders if o.side is Side.SELL), key=lambda o: o.price)
        self._pair(desired.bids, bids, actions)
        self._pair(desired.asks, asks, actions)
        self.calls_saved += actions.kept
        return actions

    def _pair(self, levels: list[QuoteLevel], orders: list[Order], actions: Actions) -> None:
        for level, order in zip(levels, orders):
            same_size = abs(level.size - order.size) <= self.size_tolerance
            if same_size and abs(level.price - order.price) <= self.threshold * order.price:
                actions.kept += 1
            else:
                actions.modify.append((order.oid, level))
        actions.place.extend(levels[len(orders):])
        actions.cancel.extend(order.oid for order in orders[len(levels):])
