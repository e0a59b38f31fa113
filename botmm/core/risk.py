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
  - the market data is older than ``max_data_age_ms`` (wall-clock runs only; reason ``stale data: Ns``): for as
    long as it stays stale;
* ``POSITION_LIMIT`` when ``|position| * mid >= max_position_usd``: the side that would grow the position is removed
  and the reducing side keeps quoting, marked ``reduce_only`` (the exchange refuses it if it would grow the
  position), until the exposure falls below ``RELEASE`` (95 %) of the limit — the margin keeps one fill or a price
  wiggle from flipping the state (and its notification) every tick;
* ``SAFE`` otherwise.

``apply`` then shapes the quote: at most ``max_open_orders`` levels (best first, shared between the sides) and no
order above ``max_order_usd`` of notional. ``reason`` says why the last check was not SAFE.

A wall-clock run keeps the day's realised loss and the circuit breaker's pause in a :class:`LimitsFile`, so a restart
neither forgets a loss already taken today nor lifts a pause early (:meth:`RiskManager.restore`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from botmm.config import RiskLimits
from botmm.errors import ConfigError
from botmm.model import Quote, QuoteLevel, RiskState, make_level
from botmm.rounding import round_lot

_DAY_MS = 86_400_000
RELEASE = 0.95

# Enum members are slow class attributes on Python 3.11 (a descriptor call each): look them up once.
_SAFE, _POSITION_LIMIT, _CIRCUIT_BREAK = RiskState.SAFE, RiskState.POSITION_LIMIT, RiskState.CIRCUIT_BREAK


class RiskManager:
    def __init__(self, limits: RiskLimits, capital: float, lot: float = 1e-12,
                 max_data_age_ms: Optional[float] = None):
        self.limits = limits
        self.capital = capital
        self.lot = lot
        self.state = RiskState.SAFE
        self._reason: Optional[str] = ""  # None: at the position limit, worded when read (see ``reason``)
        self._exposure = 0.0  # position * mid at the last check
        self._day = -1
        self._day_open_equity = capital
        self._carried = 0.0  # the day's realised PnL of earlier processes (a restart), for the daily loss
        self._restored: tuple[int, float] = (-1, 0.0)  # (day, realised PnL) read back from a limits file
        self._paused_until = 0  # ms
        self._pause_reason = ""
        self._errors: deque[int] = deque()
        self.stopped = ""  # why the account was ruined; quoting never resumes on its own once set
        self._peak = capital
        self._ruin_floor = 1.0 - limits.max_drawdown_pct / 100.0  # of the peak; 0 at 100 %: equity <= 0 still stops
        # The limits in the units check() compares them in, computed once.
        self._max_loss = limits.max_daily_loss_pct / 100.0 * capital
        self._max_data_age_ms = max_data_age_ms
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
        self._paused_until, self._day, self.state, self._reason = 0, -1, _SAFE, ""
        self.stopped, self._peak = "", 0.0
        self._errors.clear()

    @property
    def reason(self) -> str:
        """Why the last check was not SAFE ("" when it was). The position limit's reason is worded only when read:
        a bot can sit at the limit for many ticks, and formatting floats each tick costs more than the check."""
        if self._reason is None:
            self._reason = f"position {self._exposure:+.2f} USD at the limit"
        return self._reason

    @property
    def day(self) -> int:
        """The UTC day (days since the epoch) of the last check; -1 before the first."""
        return self._day

    @property
    def carried(self) -> float:
        """The realised PnL of the current day that earlier processes booked (restored over a restart)."""
        return self._carried

    @property
    def pause(self) -> tuple[int, str]:
        """Until when (ms) the circuit breaker pauses quoting, and why (0 when it never paused)."""
        return self._paused_until, self._pause_reason

    def restore(self, day: int, realized: float, paused_until_ms: int, reason: str) -> None:
        """Carry a previous process's state over a restart: the realised PnL of ``day`` counts towards that day's
        loss, and a pause still running goes on."""
        self._restored = (day, realized)
        self._pause(paused_until_ms, reason)

    def check(self, now_ms: int, mid: float, position: float, equity: float, data_ms: int | None = None) -> RiskState:
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day, self._day_open_equity = day, equity
            self._carried = self._restored[1] if day == self._restored[0] else 0.0
        loss = self._day_open_equity - equity - self._carried
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
            state, reason = _CIRCUIT_BREAK, f"stale data: {(now_ms - data_ms) / 1000:.1f}s"
        elif abs(position) * mid >= (self._release_usd if self.state is _POSITION_LIMIT else self._entry_usd):
            state, reason, self._exposure = _POSITION_LIMIT, None, position * mid
        else:
            state, reason = _SAFE, ""
        self.state, self._reason = state, reason
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
                bids, asks = [], [make_level((*level[:3], True)) for level in asks]
            else:
                bids, asks = [make_level((*level[:3], True)) for level in bids], []
        limits = self.limits
        cap = limits.max_open_orders
        if len(bids) + len(asks) > cap:
            n_bids = min(len(bids), max(cap - len(asks), (cap + 1) // 2))
            bids, asks = bids[:n_bids], asks[: cap - n_bids]
        notional_cap = limits.max_order_usd
        if notional_cap is not None:
            bids, asks = self._cap_notional(bids, notional_cap), self._cap_notional(asks, notional_cap)
        if bids is quote.bids and asks is quote.asks:
            return quote
        return Quote(bids, asks)

    def _cap_notional(self, levels: list[QuoteLevel], cap: float) -> list[QuoteLevel]:
        capped = []
        for level in levels:
            if level.size * level.price > cap:
                level = level._replace(size=round_lot(cap / level.price, self.lot))
            if level.size > 0:
                capped.append(level)
        return capped


class LimitsFile:
    """The JSON file that keeps one account's and instrument's limits across restarts (see the module docstring):
    the UTC day, that day's realised PnL (net of fees and funding, every process of the day together) and the
    circuit breaker's pause. Written atomically (a temporary file renamed over it) whenever one of them changes."""

    def __init__(self, path: Path):
        self.path = path
        self._written: dict[str, Any] = {}

    def read(self) -> Optional[dict[str, Any]]:
        """The saved state, or None when there is none yet; a ConfigError naming the file when it is unreadable."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the risk state file: {exc.strerror}") from None
        try:
            state = json.loads(text)
            state = {"day": str(state["day"]), "realized": float(state["realized"]),
                     "paused_until_ms": int(state["paused_until_ms"]), "pause_reason": str(state["pause_reason"])}
            day_number(state["day"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: corrupt risk state file ({type(exc).__name__}: {exc}); fix or delete "
                              "it (deleting forgets today's loss and any circuit-breaker pause)") from None
        self._written = state
        return state

    def write(self, state: dict[str, Any]) -> None:
        """Save ``state`` unless it is what the file already holds."""
        if state == self._written:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(state, out)
                out.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._written = dict(state)


def day_name(day: int) -> str:
    """A UTC day (days since the epoch) as an ISO date."""
    return datetime.fromtimestamp(day * 86_400, timezone.utc).date().isoformat()


def day_number(name: str) -> int:
    """An ISO date as a UTC day (days since the epoch); ValueError when it is not one."""
    return int(datetime.fromisoformat(name).replace(tzinfo=timezone.utc).timestamp()) // 86_400
