"""Hyperliquid's request limits, modelled on the client side so the bot slows down before the exchange says 429.

Two limits apply (Hyperliquid's "Rate limits and user limits" page):

* **Per IP**: 1200 request weight per minute, reads and actions together. An ``/info`` request weighs 2 (l2Book,
  allMids, clearinghouseState, orderStatus, spotClearinghouseState, exchangeStatus), 60 (userRole) or 20 (every
  other), plus 1 per 20 items returned by the fill, funding, trade and history reads and 1 per 60 candles; an
  ``/exchange`` action weighs ``1 + floor(batch / 40)``. :class:`WeightBudget` counts what this process spent over
  the last 60 s against its ``weight_budget`` share.
* **Per address** (actions only): 1 request per 1 USDC traded since the address began, plus an initial buffer of
  10,000; a batch of n orders or cancels counts n. When spent, one request per 10 s still goes through; cancels
  may go on to ``min(cap + 100000, 2 * cap)``. :class:`AddressBudget` starts from the exchange's own figures
  (``userRateLimit``: ``nRequestsUsed``, ``nRequestsCap``), read again every ``ADDRESS_REFRESH_S``, and counts the
  actions sent in between.

:class:`RateBudget` joins them for one account into a **pressure** figure, 0 (idle) to 1 (a limit is reached): the
larger of the IP window's share of ``weight_budget`` and how far the address budget has run into its reserve
(``min(ADDRESS_RESERVE, cap)`` requests). The pipeline reads it every tick to widen its refresh tolerance and, at
high pressure, to send only cancels and reduce-only orders (:mod:`botmm.core.order_manager`). It also keeps the
figures a run reports (:meth:`RateBudget.report`): peak and time-weighted mean % of the IP budget, address requests
used, 429s seen.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Optional

from botmm import VenueError

INFO_WEIGHTS = {"l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2, "spotClearinghouseState": 2,
                "exchangeStatus": 2, "userRole": 60}
DEFAULT_INFO_WEIGHT = 20
_PER_20 = ("recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory", "userFunding",
           "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills", "userTwapSliceFillsByTime",
           "delegatorHistory", "delegatorRewards", "validatorStats")
ITEMS_PER_WEIGHT = {**dict.fromkeys(_PER_20, 20), "candleSnapshot": 60}
ADDRESS_BUFFER = 10_000  # requests every address starts with (then 1 more per USDC traded)
ADDRESS_RESERVE = 10_000  # address requests left below which pressure rises from 0 (at most the cap)
ADDRESS_REFRESH_S = 60.0  # userRateLimit (weight 20) at most this often
THROTTLED_EVERY_S = 10.0  # a spent address may still send one request this often
CANCEL_EXTRA = 100_000  # cancels may go on to min(cap + CANCEL_EXTRA, 2 * cap)


class RateLimited(VenueError):
    """Refused before execution: HTTP 429, or a local budget (IP weight or address requests) had no room."""


def info_weight(kind: str, items: int = 0) -> int:
    """Weight of an ``/info`` request of ``kind`` that returned ``items`` items."""
    per = ITEMS_PER_WEIGHT.get(kind)
    return INFO_WEIGHTS.get(kind, DEFAULT_INFO_WEIGHT) + (items // per if per else 0)


def action_weight(batch: int) -> int:
    """IP weight of one ``/exchange`` action carrying ``batch`` orders, modifies or cancels."""
    return 1 + batch // 40


class WeightBudget:
    """Request weight spent over the last 60 seconds, shared by every client of one server in the process.

    Besides the window it keeps the run's usage: the highest window total (:attr:`peak`), the time integral of the
    window total (for the mean) and the 429s received (:attr:`rate_limited`).
    """

    WINDOW_S = 60.0
    MAX_COOLDOWN_S = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.limit = per_minute
        self.clock = clock
        self.started = clock()
        self.peak = 0
        self.rate_limited = 0
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self._expired = 0  # weight that has left the window: each contributed WINDOW_S * weight to the integral
        self._lock = threading.Lock()
        self._blocked_until = 0.0
        self._strikes = 0

    def _trim(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.WINDOW_S:
            weight = self._spent.popleft()[1]
            self._total -= weight
            self._expired += weight

    def _add(self, now: float, weight: int) -> None:
        self._spent.append((now, weight))
        self._total += weight
        self.peak = max(self.peak, self._total)

    def spent(self) -> int:
        """Weight spent over the last 60 s."""
        with self._lock:
            self._trim(self.clock())
            return self._total

    def pressure(self) -> float:
        """The share of the budget spent over the last 60 s (can pass 1 by cancels and per-item weight)."""
        return self.spent() / self.limit

    def usage(self) -> tuple[float, float]:
        """(peak, time-weighted mean) of the 60-s window total since this budget was made, as % of the budget."""
        with self._lock:
            now = self.clock()
            self._trim(now)
            integral = self.WINDOW_S * self._expired + sum(w * (now - ts) for ts, w in self._spent)
            elapsed = now - self.started
            mean = integral / elapsed if elapsed > 0 else 0.0
            return 100.0 * self.peak / self.limit, 100.0 * mean / self.limit

    def cooling(self) -> float:
        """Seconds left of a 429 cooldown (0 when none)."""
        return max(0.0, self._blocked_until - self.clock())

    def wait_cooldown(self, wait_s: float) -> None:
        """Wait out a 429 cooldown of at most ``wait_s`` seconds; RateLimited (nothing sent) if it is longer."""
        cooling = self.cooling()
        if cooling > wait_s:
            raise RateLimited(f"rate limited by the exchange; retrying in {cooling:.1f}s")
        if cooling:
            time.sleep(cooling)

    def _wait_needed(self, weight: int, share: float) -> float:
        now = self.clock()
        if now < self._blocked_until:
            return self._blocked_until - now
        self._trim(now)
        room = self.limit * share - self._total
        if weight <= room:
            self._add(now, weight)
            return 0.0
        freed, need = 0, weight - room
        for ts, spent in self._spent:
            freed += spent
            if freed >= need:
                return ts + self.WINDOW_S - now
        return self.WINDOW_S

    def acquire(self, weight: int, share: float = 1.0, wait_s: float = 0.0) -> None:
        """Spend ``weight`` within ``share`` of the budget, waiting up to ``wait_s`` for room; RateLimited if none."""
        deadline = self.clock() + wait_s
        while True:
            with self._lock:
                wait = self._wait_needed(weight, share)
            if wait == 0.0:
                return
            if self.clock() + wait > deadline:
                cooling = self.cooling()
                raise RateLimited(f"rate limited by the exchange; retrying in {cooling:.1f}s" if cooling else
                                  f"request weight budget ({self.limit}/min) spent; retry in {wait:.1f}s")
            time.sleep(min(wait, 0.25))

    def spend(self, weight: int) -> None:
        """Count weight that cannot wait (cancels) or that is known only after the answer (per-item weight)."""
        with self._lock:
            now = self.clock()
            self._trim(now)
            self._add(now, weight)

    def penalise(self) -> float:
        """A 429: close the gate for 1 s, doubling per consecutive 429 up to 60 s. Returns the cooldown."""
        with self._lock:
            self.rate_limited += 1
            self._strikes += 1
            cooldown = min(self.MAX_COOLDOWN_S, 2.0 ** (self._strikes - 1))
            self._blocked_until = self.clock() + cooldown
            return cooldown

    def relieve(self) -> None:
        """A request succeeded: the next 429 starts the backoff afresh."""
        self._strikes = 0


class AddressBudget:
    """One address's action requests: the exchange's figures as last read plus what was sent since."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.cap = ADDRESS_BUFFER  # until the first read: what a new address has
        self.used = 0
        self.sent = 0  # requests this process sent (the run's use)
        self.limited = 0  # actions the exchange refused for the address limit
        self.read_at: Optional[float] = None  # when the last userRateLimit read was sent
        self._throttled_at = -THROTTLED_EVERY_S
        self._lock = threading.Lock()

    def update(self, answer: Any, sent_at: float) -> None:
        """Take a ``userRateLimit`` answer (``nRequestsUsed``, ``nRequestsCap``; ``cumVlm`` when no cap is given)
        read by a request sent at ``sent_at``. ValueError when it has neither."""
        try:
            used = int(answer["nRequestsUsed"])
            cap = int(answer["nRequestsCap"]) if "nRequestsCap" in answer else ADDRESS_BUFFER + int(
                float(answer["cumVlm"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"userRateLimit: unexpected answer {str(answer)[:120]}") from None
        with self._lock:
            self.used, self.cap, self.read_at = used, cap, sent_at

    def due(self) -> bool:
        """Whether the exchange's figures, once read, should be read again."""
        return self.read_at is not None and self.clock() - self.read_at >= ADDRESS_REFRESH_S

    def cancel_cap(self) -> int:
        return min(self.cap + CANCEL_EXTRA, 2 * self.cap)

    def left(self) -> int:
        """Requests left before the address limit (for orders and modifies)."""
        return self.cap - self.used

    def admit(self, requests: int, cancel: bool) -> None:
        """Count an action of ``requests`` orders (or cancels). Beyond the cap an order action goes out only once
        per 10 s, as the exchange allows (RateLimited otherwise, nothing sent); cancels (``cancel``: every urgent
        action) always go out."""
        with self._lock:
            now = self.clock()
            if not cancel and self.used + requests > self.cap:
                if now - self._throttled_at < THROTTLED_EVERY_S:
                    raise RateLimited(f"address request budget spent ({self.used} of {self.cap}); one request "
                                      f"per {THROTTLED_EVERY_S:g}s until more volume is traded")
                self._throttled_at = now
            self.used += requests
            self.sent += requests

    def pressure(self) -> float:
        """0 while at least the reserve is left, rising to 1 when the cap is reached."""
        reserve = min(ADDRESS_RESERVE, self.cap)
        if reserve <= 0:
            return 1.0
        return min(1.0, max(0.0, 1.0 - self.left() / reserve))


class RateBudget:
    """What an account may still send: its process's IP budget and its address budget (see the module docstring).

    ``spent()`` and ``limit`` are the IP budget's, as the status page shows them.
    """

    def __init__(self, ip: WeightBudget, address: AddressBudget):
        self.ip, self.address = ip, address

    @property
    def limit(self) -> int:
        return self.ip.limit

    def spent(self) -> int:
        return self.ip.spent()

    def pressure(self) -> float:
        """0 (idle) to 1 (a limit reached): the larger of the IP and the address pressure."""
        return max(min(1.0, self.ip.pressure()), self.address.pressure())

    def report(self) -> dict[str, Any]:
        """The run's use of both budgets, for ``result.json`` and the summary."""
        peak, mean = self.ip.usage()
        return {"ip_peak_pct": round(peak, 2), "ip_mean_pct": round(mean, 2), "ip_limit": self.ip.limit,
                "address_requests": self.address.sent, "address_left": self.address.left(),
                "rate_limited": self.ip.rate_limited + self.address.limited}
