"""Turns the desired quote into the fewest venue actions.

Desired levels and open orders are paired side by side, best price first. A pair is left alone (no API call) when
the price moved less than ``modify_threshold_bps`` or less than ``modify_threshold_ticks`` and the size is unchanged;
a partly filled order counts as unchanged when its original size matches (unless ``refill_partial``, which tops it
back up and so re-queues it). Otherwise the order is modified. Open orders without a desired level are cancelled;
desired levels without an order are placed. Modifies go out in batches of at most the venue's ``max_batch``.

Under rate-budget pressure (a live venue's ``budget.pressure()``, 0..1; the pipeline turns it into a mode with
:meth:`OrderManager.mode`) the manager spends fewer requests before any limit is reached: from ``budget_widen_at``
(:data:`WIDENED`) an order within ``budget_band_bps`` of its new price
and of unchanged size is kept; from ``budget_reduce_only_at`` (:data:`REDUCE_ONLY`) only cancels and reduce-only
orders go out: an order the widened band would not keep is cancelled unless its level is reduce-only (then
modified), and only reduce-only levels are placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from botmm.config import OrderManagerConfig
from botmm.model import Order, Quote, QuoteLevel, Side

# Enum members are slow class attributes on Python 3.11 (a descriptor call each): look them up once.
_BUY, _SELL = Side.BUY, Side.SELL
NORMAL, WIDENED, REDUCE_ONLY = "normal", "widened", "reduce_only"  # how the manager quotes, by budget pressure
HYSTERESIS = 0.03  # a mode is left only this far below its threshold (0.92 > the 0.9 reads may fill): no flapping


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
        self.widen_at, self.reduce_only_at = cfg.budget_widen_at, cfg.budget_reduce_only_at
        self.band_frac = max(self.threshold_frac, cfg.budget_band_bps / 1e4)

    def mode(self, pressure: float, current: str = NORMAL) -> str:
        """How to quote at rate-budget ``pressure`` when quoting in mode ``current``: NORMAL, WIDENED or
        REDUCE_ONLY. A mode is left only once pressure is :data:`HYSTERESIS` below its threshold."""
        if pressure >= self.reduce_only_at - (HYSTERESIS if current == REDUCE_ONLY else 0.0):
            return REDUCE_ONLY
        return WIDENED if pressure >= self.widen_at - (HYSTERESIS if current != NORMAL else 0.0) else NORMAL

    def reconcile(self, desired: Quote, open_orders: Sequence[Order], mode: str = NORMAL) -> Actions:
        """The actions that turn ``open_orders`` into ``desired`` in quoting ``mode`` (see the module doc)."""
        actions = Actions([], [], [])
        bids: list[Order] = []
        asks: list[Order] = []
        for order in open_orders:
            side = order.side
            if side is _BUY:
                bids.append(order)
            elif side is _SELL:
                asks.append(order)
        if len(bids) > 1:
            bids.sort(key=_price, reverse=True)
        if len(asks) > 1:
            asks.sort(key=_price)
        threshold_frac = self.threshold_frac if mode == NORMAL else self.band_frac
        kept = self._pair(desired.bids, bids, actions, threshold_frac)
        kept += self._pair(desired.asks, asks, actions, threshold_frac)
        actions.kept = kept
        if mode == REDUCE_ONLY:
            _reduce_only(actions)
        self.calls_saved += kept
        return actions

    def _pair(self, levels: list[QuoteLevel], orders: list[Order], actions: Actions, threshold_frac: float) -> int:
        """Pair one side's levels with its orders into ``actions``; returns how many orders are kept."""
        kept = 0
        if orders:
            refill, tolerance, threshold_abs = self.refill_partial, self.size_tolerance, self.threshold_abs
            modify = actions.modify
            for level, order in zip(levels, orders):
                price = order.price
                size = order.size if refill else order.size + order.filled
                moved = abs(level.price - price)
                if abs(level.size - size) <= tolerance and (moved <= threshold_abs or moved <= threshold_frac * price):
                    kept += 1
                else:
                    modify.append((order.oid, level))
        n_levels, n_orders = len(levels), len(orders)
        if n_levels > n_orders:
            actions.place.extend(levels[n_orders:] if n_orders else levels)
        elif n_orders > n_levels:
            actions.cancel.extend(order.oid for order in orders[n_levels:])
        return kept


def _reduce_only(actions: Actions) -> None:
    """Keep only what may go out at high pressure: cancels, and modifies and placements of reduce-only levels. A
    modify of any other level becomes a cancel (its order is too far from the quote to stay)."""
    modify = [(oid, level) for oid, level in actions.modify if level.reduce_only]
    actions.cancel.extend(oid for oid, level in actions.modify if not level.reduce_only)
    actions.modify = modify
    actions.place = [level for level in actions.place if level.reduce_only]


def _price(order: Order) -> float:
    return order.price


def batched(items: Sequence, size: int) -> list[Sequence]:
    """Consecutive slices of at most ``size`` items; ``items`` itself when it fits in one (the usual case: no copy,
    no generator per tick)."""
    if len(items) <= size:
        return [items] if items else []
    return [items[start:start + size] for start in range(0, len(items), size)]
