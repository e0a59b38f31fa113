"""Risk checks run every tick, after the quoter and sizer and before any order is sent.

``check`` returns the state the tick must respect:

* ``CIRCUIT_BREAK`` — quote nothing and cancel every order — when
  - the account is ruined: equity at or below zero, or ``max_drawdown_pct`` % below its running peak. This one is
    final: ``stopped`` holds the reason, a backtest ends there, and a live run stays stopped until an operator calls
    :meth:`reset`;
  - the day's loss reaches ``max_daily_loss_pct`` % of capital (equity below the UTC day's opening equity): paused
    until the next UTC day (and at least ``cooldown_seconds``), or until :meth:`reset`;
  - ``max_api_errors`` venue errors happened within ``error_window_seconds`` (:meth:`record_error`): paused for
    ``cooldown_seconds``, then quoting resumes;
  - the market data is older than ``max_data_age_seconds``: for as long as it stays stale;
* ``POSITION_LIMIT`` when ``|position| * mid >= max_position_usd``: the side that would grow the position is removed
  and the reducing side keeps quoting, until the exposure falls below ``RELEASE`` (95 %) of the limit — the margin
  keeps one fill or a price wiggle from flipping the state (and its notification) every tick;
* ``SAFE`` otherwise.

``apply`` then shapes the quote: at most ``max_open_orders`` levels (best first, shared between the sides) and no
order above ``max_order_usd`` of notional. ``reason`` says why the last check was not SAFE.
"""

from __future__ import annotations

from collections import deque

from botmm.config import RiskLimits
from botmm.model import Quote, QuoteLevel, RiskState
from botmm.rounding import round_lot

_DAY_MS = 86_400_000
RELEASE = 0.95

# Enum members are slow class attributes on Python 3.11 (a descriptor call each): look them up once.
_SAFE, _POSITION_LIMIT, _CIRCUIT_BREAK = RiskState.SAFE, RiskState.POSITION_LIMIT, RiskState.CIRCUIT_BREAK


class RiskManager:
    def __init__(self, limits: RiskLimits, capital: float, lot: float = 1e-12):
        self.limits = limits
        self.capital = capital
        self.lot = lot
        self.state = RiskState.SAFE
        self.reason = ""
        self._day = -1
        self._day_open_equity = capital
        self._paused_until = 0  # ms
        self._pause_reason = ""
        self._errors: deque[int] = deque()
        self.stopped = ""  # why the account was ruined; quoting never resumes on its own once set
        self._peak = capital
        self._ruin_floor = 1.0 - limits.max_drawdown_pct / 100.0  # of the peak; 0 at 100 %: equity <= 0 still stops
        # The limits in the units check() compares them in, computed once.
        self._max_loss = limits.max_daily_loss_pct / 100.0 * capital
        self._max_data_age_ms = None if limits.max_data_age_seconds is None else limits.max_data_age_seconds * 1000
        self._entry_usd = float(limits.max_position_usd)  # POSITION_LIMIT from SAFE
        self._release_usd = limits.max_position_usd * RELEASE  # ... and back

    def record_error(self, now_ms: int) -> None:
        """Count one venue error; too many within the window trip the circuit breaker for the cooldown."""
        window = int(self.limits.error_window_seconds * 1000)
        self._errors.append(now_ms)
        while self._errors and self._errors[0] <= now_ms - window:
            self._errors.popleft()
        if len(self._errors) >= self.limits.max_api_errors:
            self._pause(now_ms + int(self.limits.cooldown_seconds * 1000), f"{len(self._errors)} venue errors")
            self._errors.clear()

    def reset(self) -> None:
        """Lift a circuit break by hand (an operator's decision, also after ruin): errors forgotten, the day's loss and
        the drawdown's peak measured afresh from the next check."""
        self._paused_until, self._day, self.state, self.reason = 0, -1, _SAFE, ""
        self.stopped, self._peak = "", 0.0
        self._errors.clear()

    def check(self, now_ms: int, mid: float, position: float, equity: float, data_ms: int | None = None) -> RiskState:
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day, self._day_open_equity = day, equity
        loss = self._day_open_equity - equity
        if equity > self._peak:
            self._peak = equity
        if self.stopped or equity <= self._peak * self._ruin_floor:
            state, reason = _CIRCUIT_BREAK, self.stopped or self._ruin(equity)
        elif now_ms < self._paused_until:
            state, reason = _CIRCUIT_BREAK, self._pause_reason
        elif loss >= self._max_loss:
            limits = self.limits
            until = max((day + 1) * _DAY_MS, now_ms + int(limits.cooldown_seconds * 1000))
            self._pause(until, f"daily loss {loss:.2f} >= {limits.max_daily_loss_pct}% of capital")
            state, reason = _CIRCUIT_BREAK, self._pause_reason
        elif (self._max_data_age_ms is not None and data_ms is not None
              and now_ms - data_ms > self._max_data_age_ms):
            state, reason = _CIRCUIT_BREAK, f"market data {(now_ms - data_ms) / 1000:.1f}s old"
        elif abs(position) * mid >= (self._release_usd if self.state is _POSITION_LIMIT else self._entry_usd):
            state, reason = _POSITION_LIMIT, f"position {position * mid:+.2f} USD at the limit"
        else:
            state, reason = _SAFE, ""
        self.state, self.reason = state, reason
        return state

    def _ruin(self, equity: float) -> str:
        """Set and return the reason the account is ruined."""
        if equity <= 0:
            self.stopped = f"ruin: equity {equity:.2f} <= 0"
        else:
            fall = 100.0 * (1.0 - equity / self._peak)
            self.stopped = (f"ruin: equity {equity:.2f} is {fall:.2f}% below its peak {self._peak:.2f} "
                            f"(risk.max_drawdown_pct={self.limits.max_drawdown_pct:g})")
        return self.stopped

    def _pause(self, until_ms: int, reason: str) -> None:
        self._paused_until, self._pause_reason = max(self._paused_until, until_ms), reason

    def apply(self, quote: Quote, position: float) -> Quote:
        """The quote allowed in the current state (see the module docstring): ``quote`` itself when it is allowed
        as it is."""
        state = self.state
        if state is _CIRCUIT_BREAK:
            return Quote()
        bids, asks = quote.bids, quote.asks
        if state is _POSITION_LIMIT:
            if position > 0:
                bids = []
            else:
                asks = []
        limits = self.limits
        cap = limits.max_open_orders
        if len(bids) + len(asks) > cap:
            n_bids = min(len(bids), max(cap - len(asks), (cap + 1) // 2))
            bids, asks = bids[:n_bids], asks[: cap - n_bids]
        if limits.max_order_usd is not None:
            bids, asks = self._cap_notional(bids), self._cap_notional(asks)
        if bids is quote.bids and asks is quote.asks:
            return quote
        return Quote(bids, asks)

    def _cap_notional(self, levels: list[QuoteLevel]) -> list[QuoteLevel]:
        cap = self.limits.max_order_usd
        capped = []
        for level in levels:
            if level.size * level.price > cap:
                level = QuoteLevel(level.side, level.price, round_lot(cap / level.price, self.lot))
            if level.size > 0:
                capped.append(level)
        return capped
