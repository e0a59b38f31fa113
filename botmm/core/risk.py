"""Risk checks run every tick, after the quoter and sizer and before any order is sent.

* position limit: when ``|position| * mid >= max_position_usd`` the side that would grow the position is removed
  and the reducing side keeps quoting (state ``POSITION_LIMIT``);
* daily loss: when equity falls ``max_daily_loss_pct`` % of capital below the day's opening equity the circuit
  breaker trips (state ``CIRCUIT_BREAK``): every order is cancelled and quoting pauses until the next UTC day and at
  least ``cooldown_seconds``;
* open orders: at most ``max_open_orders`` levels are quoted, the best first, alternating sides.
"""

from __future__ import annotations

from botmm.config import RiskLimits
from botmm.model import Quote, RiskState

_DAY_MS = 86_400_000


class RiskManager:
    def __init__(self, limits: RiskLimits, capital: float):
        self.limits = limits
        self.capital = capital
        self.state = RiskState.SAFE
        self._day = -1
        self._day_open_equity = capital
        self._paused_until = 0  # ms

    def check(self, now_ms: int, mid: float, position: float, equity: float) -> RiskState:
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day, self._day_open_equity = day, equity
        if now_ms < self._paused_until:
            self.state = RiskState.CIRCUIT_BREAK
        elif self._day_open_equity - equity >= self.limits.max_daily_loss_pct / 100.0 * self.capital:
            next_day = (day + 1) * _DAY_MS
            self._paused_until = max(next_day, now_ms + int(self.limits.cooldown_seconds * 1000))
            self.state = RiskState.CIRCUIT_BREAK
        elif abs(position) * mid >= self.limits.max_position_usd:
            self.state = RiskState.POSITION_LIMIT
        else:
            self.state = RiskState.SAFE
        return self.state

    def reset(self) -> None:
        """Lift a circuit break by hand (the day's loss is measured afresh from now)."""
        self._paused_until, self._day, self.state = 0, -1, RiskState.SAFE

    def apply(self, quote: Quote, position: float) -> Quote:
        """The quote allowed in the current state: reduce-only at the position limit, nothing on a circuit break."""
        if self.state is RiskState.CIRCUIT_BREAK:
            return Quote()
        bids, asks = quote.bids, quote.asks
        if self.state is RiskState.POSITION_LIMIT:
            if position > 0:
                bids = []
            else:
                asks = []
        cap = self.limits.max_open_orders
        if len(bids) + len(asks) > cap:
            n_bids = min(len(bids), max(cap - len(asks), (cap + 1) // 2))
            bids, asks = bids[:n_bids], asks[: cap - n_bids]
        return Quote(bids, asks)
