"""Turns the desired quote into the fewest venue actions.

Desired levels and open orders are paired side by side, best price first. A pair is left alone (no API call) when
the price moved less than ``modify_threshold_bps`` or less than ``modify_threshold_ticks`` and the size is unchanged;
a partly filled order counts as unchanged when its original size matches (unless ``refill_partial``, which tops it
back up and so re-queues it). Otherwise the order is modified. Open orders without a desired level are cancelled;
desired levels without an order are placed. Modifies go out in batches of at most the venue's ``max_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from botmm.config import OrderManagerConfig
from botmm.model import Order, Quote, QuoteLevel, Side

# Enum members are slow class attributes on Python 3.11 (a descriptor call each): look them up once.
_BUY, _SELL = Side.BUY, Side.SELL


@dataclass(slots=True)
class Actions:
    place: list[QuoteLevel] = field(default_factory=list)
    modify: list[tuple[int, QuoteLevel]] = field(default_factory=list)
    cancel: list[int] = field(default_factory=list)
    kept: int = 0  # orders left as they are: API calls saved


class OrderManager:
    def __init__(self, cfg: OrderManagerConfig, tick: float, lot: float):
        self.threshold_frac = cfg.modify_threshold_bps / 1e4
        self.threshold_abs = cfg.modify_threshold_ticks * tick + tick * 1e-6
        self.refill_partial = cfg.refill_partial
        self.size_tolerance = lot / 2
        self.calls_saved = 0

    def reconcile(self, desired: Quote, open_orders: Sequence[Order]) -> Actions:
        actions = Actions()
        bids: list[Order] = []
        asks: list[Order] = []
        for order in open_orders:
            if order.side is _BUY:
                bids.append(order)
            elif order.side is _SELL:
                asks.append(order)
        if len(bids) > 1:
            bids.sort(key=_price, reverse=True)
        if len(asks) > 1:
            asks.sort(key=_price)
        self._pair(desired.bids, bids, actions)
        self._pair(desired.asks, asks, actions)
        self.calls_saved += actions.kept
        return actions

    def _pair(self, levels: list[QuoteLevel], orders: list[Order], actions: Actions) -> None:
        if orders:
            refill, tolerance = self.refill_partial, self.size_tolerance
            threshold_abs, threshold_frac = self.threshold_abs, self.threshold_frac
            for level, order in zip(levels, orders):
                size = order.size if refill else order.size + order.filled
                moved = abs(level.price - order.price)
                if abs(level.size - size) <= tolerance and (
                    moved <= threshold_abs or moved <= threshold_frac * order.price
                ):
                    actions.kept += 1
                else:
                    actions.modify.append((order.oid, level))
        if len(levels) > len(orders):
            actions.place.extend(levels[len(orders):])
        elif len(orders) > len(levels):
            actions.cancel.extend(order.oid for order in orders[len(levels):])


def _price(order: Order) -> float:
    return order.price


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
