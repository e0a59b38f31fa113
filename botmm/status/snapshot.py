"""What the status server shows, read from the running strategies once per request (never per tick).

:func:`venue_view` is the one place that knows which optional attributes a venue may have (the dead man's switch's
armed-until time, the request-weight budget, whether the local order mirror is confirmed by the exchange); every
other part of :mod:`botmm.status` works on the plain dicts :class:`Snapshots` builds. Values are read without
locks while the tick thread runs: a figure may be one tick older than its neighbour, never torn.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import deque
from typing import Any, Optional

from botmm.core.inventory import InventoryTracker
from botmm.registry import hookimpl

DAY_MS = 86_400_000
LAST_FILLS = 10
EVENTS_KEPT = 20
DEFAULT_MAX_DATA_AGE_S = 10.0  # when a run has no data-age limit, health still wants data this fresh


def venue_view(venue: Any) -> dict[str, Any]:
    """A venue's optional operational details, read defensively (None when the venue has no such thing).

    ``orders_confirmed``: the local mirror of resting orders matches the exchange (simulated venues: always);
    ``armed_until_ms``: when the exchange-side dead man's switch fires; ``budget_spent``/``budget_limit``: request
    weight spent over the last minute and the budget it may spend; ``budget_pressure``: the rate budget's pressure
    (0..1) that makes the order manager widen its tolerance and then send only cancels and reduce-only orders.
    """
    client = getattr(venue, "client", None)
    confirmed = getattr(venue, "orders_confirmed", True)  # simulated venues: the mirror is the venue
    armed = getattr(venue, "armed_until", None)
    if armed is None:
        armed = getattr(client, "armed_until", None)
    budget = getattr(venue, "budget", None) or getattr(client, "budget", None)
    spent = getattr(budget, "spent", None)
    pressure = getattr(budget, "pressure", None)
    return {
        "orders_confirmed": bool(confirmed() if callable(confirmed) else confirmed),
        "armed_until_ms": armed,
        "budget_spent": spent() if callable(spent) else spent,
        "budget_limit": getattr(budget, "limit", None),
        "budget_pressure": round(pressure(), 3) if callable(pressure) else None,
    }


class EventLog:
    """The last events of each run (a plugin: ``botmm_event`` and ``botmm_error`` are rare lifecycle hooks)."""

    def __init__(self) -> None:
        self.events: dict[str, deque[dict[str, Any]]] = {}

    def _add(self, symbol: str, event: str, detail: str) -> None:
        kept = self.events.setdefault(symbol, deque(maxlen=EVENTS_KEPT))
        kept.append({"ts": int(time.time() * 1000), "event": event, "detail": detail})

    @hookimpl
    def botmm_event(self, run: Any, event: str, data: dict[str, Any]) -> None:
        self._add(run.symbol, event, ", ".join(f"{k}={v}" for k, v in data.items()))

    @hookimpl
    def botmm_error(self, run: Any, error: BaseException) -> None:
        self._add(run.symbol, "error", str(error))

    def recent(self, symbol: str) -> list[dict[str, Any]]:
        return list(self.events.get(symbol, ()))[::-1]


class DayOpen:
    """Realized PnL and fees at the open of the current UTC day, from a replay of the run's fills through an
    inventory that starts where the strategy's started (so "today" is exact whenever the page is asked). Requests
    are served by several threads: one replays at a time."""

    def __init__(self, inventory: InventoryTracker):
        self.replay = InventoryTracker()
        self.replay.position, self.replay.avg_entry = inventory.position, inventory.avg_entry
        self.cursor = 0
        self.day = -1
        self.realized = self.fees = 0.0
        self._lock = threading.Lock()

    def update(self, fills: list[Any], now_ms: int) -> tuple[float, float]:
        """Take in the fills since the last call; the day's opening (realized, fees)."""
        with self._lock:
            return self._update(fills, now_ms)

    def _update(self, fills: list[Any], now_ms: int) -> tuple[float, float]:
        end, replay = len(fills), self.replay
        for fill in fills[self.cursor:end]:
            day = fill.ts // DAY_MS
            if day > self.day:
                self.day, self.realized, self.fees = day, replay.realized_pnl, replay.total_fees
            realized, fees = replay.realized_pnl, replay.total_fees
            replay.record(fill)
            if day < self.day:  # a fill of yesterday read after midnight belongs to the day's open
                self.realized += replay.realized_pnl - realized
                self.fees += replay.total_fees - fees
        self.cursor = end
        if now_ms // DAY_MS > self.day:
            self.day, self.realized, self.fees = now_ms // DAY_MS, self.replay.realized_pnl, self.replay.total_fees
        return self.realized, self.fees


class Snapshots:
    """Builds the per-asset snapshot dicts of the running strategies. Create it after the strategies started
    (a live run's seeded position is then in place) and before their first tick."""

    def __init__(self, strategies: list[Any], events: EventLog, last_step: Optional[dict[int, float]] = None):
        self.strategies, self.events = strategies, events
        self.last_step = last_step if last_step is not None else {}
        self.day_open = {id(s): DayOpen(s.inventory) for s in strategies}

    def assets(self) -> list[dict[str, Any]]:
        now_ms = int(time.time() * 1000)
        return [self.asset(s, now_ms) for s in self.strategies]

    def asset(self, strategy: Any, now_ms: int) -> dict[str, Any]:
        inv, market = strategy.inventory, getattr(strategy, "market", None)
        venue = venue_view(strategy.venue)
        fresh_ms = strategy.data_ms
        limit = strategy.max_data_age_s or DEFAULT_MAX_DATA_AGE_S
        age = None if fresh_ms is None else max(0.0, (now_ms - fresh_ms) / 1000.0)
        mid = market.mid if market is not None else None
        position = inv.position
        orders = sorted(strategy.venue.get_open_orders(), key=lambda o: -o.price)
        fills = strategy.metrics.fills
        stepped = self.last_step.get(id(strategy))
        return {
            "symbol": strategy.run.symbol,
            "mode": strategy.run.mode,
            "risk_state": strategy.risk.state.value,
            "risk_reason": strategy.risk.reason,
            "data_age_s": age,
            "max_data_age_s": limit,
            "fresh": age is not None and age <= limit,
            "orders_confirmed": venue["orders_confirmed"],
            "last_step_age_s": None if stepped is None else round(time.monotonic() - stepped, 3),
            "ticks": len(strategy.metrics.ts),
            "mid": mid,
            "best_bid": market.bid if market is not None else None,
            "best_ask": market.ask if market is not None else None,
            "our_bid": max((o.price for o in orders if o.side > 0), default=None),
            "our_ask": min((o.price for o in orders if o.side < 0), default=None),
            "position": position,
            "avg_entry": inv.avg_entry,
            "notional": None if mid is None else position * mid,
            "max_position_usd": strategy.max_position_usd,
            "pnl": self._pnl(strategy, mid, now_ms),
            "open_orders": [{"oid": o.oid, "side": "buy" if o.side > 0 else "sell", "price": o.price,
                             "size": o.size, "filled": o.filled, "age_s": max(0.0, (now_ms - o.ts) / 1000.0)}
                            for o in orders],
            "fills": len(fills),
            "last_fills": [{"ts": f.ts, "side": "buy" if f.side > 0 else "sell", "price": f.price, "size": f.size,
                            "fee": f.fee, "maker": f.maker} for f in fills[-LAST_FILLS:][::-1]],
            "orders_placed": strategy.calls["placed"],
            "orders_modified": strategy.calls["modified"],
            "orders_cancelled": strategy.calls["cancelled"],
            "venue_errors": strategy.calls["venue_errors"],
            "armed_until_ms": venue["armed_until_ms"],
            "budget_spent": venue["budget_spent"],
            "budget_limit": venue["budget_limit"],
            "budget_pressure": venue["budget_pressure"],
            "events": self.events.recent(strategy.run.symbol),
        }

    def _pnl(self, strategy: Any, mid: Optional[float], now_ms: int) -> dict[str, dict[str, float]]:
        """Realized, unrealized, fees, funding and their total (equity change), since the start and today."""
        inv = strategy.inventory
        unrealized = inv.unrealized_pnl(mid) if mid is not None else 0.0
        total = inv.realized_pnl + unrealized - inv.total_fees - inv.funding
        since_start = {"total": total, "realized": inv.realized_pnl, "unrealized": unrealized,
                       "fees": inv.total_fees, "funding": inv.funding}
        realized_open, fees_open = self.day_open[id(strategy)].update(strategy.metrics.fills, now_ms)
        day_start = now_ms // DAY_MS * DAY_MS
        metrics = strategy.metrics
        ticks = min(len(metrics.ts), len(metrics.equity))
        before = bisect_left(metrics.ts, day_start, 0, ticks)
        equity_open = metrics.equity[before - 1] if before > 0 else strategy.capital
        funding = getattr(strategy.venue, "funding", None)
        payments = funding.since(0)[0] if funding is not None else []
        today = {"total": strategy.capital + total - equity_open,
                 "realized": inv.realized_pnl - realized_open,
                 "fees": inv.total_fees - fees_open,
                 "funding": sum((p.amount for p in payments if p.ts >= day_start), 0.0)}
        today["unrealized"] = today["total"] - today["realized"] + today["fees"] + today["funding"]
        return {"since_start": since_start, "today": today}


def health(assets: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether every asset has fresh market data and confirmed orders; the reason when not (one line)."""
    problems = []
    for asset in assets:
        if asset["data_age_s"] is None:
            problems.append(f"{asset['symbol']}: no market data yet")
        elif not asset["fresh"]:
            problems.append(f"{asset['symbol']}: market data {asset['data_age_s']:.1f}s old "
                            f"(max {asset['max_data_age_s']:g}s)")
        if not asset["orders_confirmed"]:
            problems.append(f"{asset['symbol']}: open orders not confirmed by the exchange")
    return not problems, "; ".join(problems) or "ok"
