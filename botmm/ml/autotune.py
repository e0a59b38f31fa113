"""The auto-tuner: small, bounded adjustments of spread, skew and order size from the job's own recent results.

:class:`AutoTuner` is pure: :meth:`AutoTuner.maybe_tune` takes one window's :class:`WindowMetrics` and returns the
new multipliers, or None when nothing changes. Per window each knob moves at most one step (a factor of
``1 + step`` up or down), always within its ``[min, max]`` bounds:

* **spread** widens when the window lost money with a Sharpe below ``min_sharpe`` (adverse flow), otherwise it
  tightens when the fill rate is below ``target_fills_per_hour * (1 - fill_band)`` and widens when above
  ``target_fills_per_hour * (1 + fill_band)``; inside that band it stays;
* **size** shrinks on a losing window with a Sharpe below ``min_sharpe`` and grows on a winning one with a Sharpe
  above ``good_sharpe``;
* **skew** strengthens when the mean ``|position| * mid`` over ``risk.max_position_usd`` exceeds
  ``max_inventory`` and relaxes back toward 1 when it is below half of that.

Hysteresis: a knob reverses the direction of its last step only after ``hysteresis`` consecutive windows ask for the
reversal, so a metric hovering near a threshold does not make it oscillate.

:class:`AutoTuning` wires a tuner into a strategy policy (``strategy.auto_tune`` of ``basic`` and ``adaptive``):
it measures each window of the job's clock from the strategy's metrics recorder, multiplies the quoter's
``spread_mult``, ``skew_mult`` and ``size_mult`` by the tuned values every tick, and reports every change as event
``auto_tune``, which the notifier logs (one line per change). The same code runs in backtests and live.

The window's Sharpe is the window's own, not annualised: mean over standard deviation of its per-tick equity returns
times the square root of its tick count, i.e. the window's return in units of its own noise. ``good_sharpe = 2``
asks for a window whose gain is two standard deviations of its noise. (Annualising one hour of 1-minute returns
multiplies that by sqrt(525,600 / 60) ~ 94, so any winning hour would pass.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from botmm.config import InvalidValue, parse_duration
from botmm.errors import ConfigError
from botmm.protocols import QuoteInputs, TickState

_HOUR_MS = 3_600_000
KNOBS = ("spread", "skew", "size")


def require(ok: bool, params: Any, key: str, problem: str) -> None:
    """As :func:`botmm.config.require`, naming the key as it sits under a strategy (``auto_tune.<key>``)."""
    if not ok:
        raise InvalidValue(f"auto_tune.{key}", getattr(params, key), problem)


@dataclass
class AutoTuneParams:
    """The ``auto_tune`` node of a strategy (``strategy.auto_tune.enabled=true``)."""

    enabled: bool = False  # tune spread, skew and size within the bounds below
    window: str = "1h"  # metrics are taken over each window of the job's clock; at most one step per knob each
    step: float = 0.1  # one step multiplies or divides a knob by 1 + step
    min_spread_mult: float = 0.5  # lowest multiplier of the quoter's spread
    max_spread_mult: float = 2.0  # highest multiplier of the quoter's spread
    min_skew_mult: float = 0.5  # lowest multiplier of its inventory skew
    max_skew_mult: float = 3.0  # highest multiplier of its inventory skew
    min_size_mult: float = 0.25  # lowest multiplier of its order size
    max_size_mult: float = 1.5  # highest multiplier of its order size
    target_fills_per_hour: float = 20.0  # the fill rate the spread is steered towards
    fill_band: float = 0.5  # no spread change while the fill rate is within target * (1 +- fill_band)
    min_sharpe: float = 0.0  # a losing window below this Sharpe widens the spread and cuts the size
    good_sharpe: float = 2.0  # a winning window above this Sharpe grows the size
    max_inventory: float = 0.5  # mean |position| notional / max_position_usd above which skew strengthens
    hysteresis: int = 2  # consecutive windows needed to reverse a knob's last direction

    def __post_init__(self) -> None:
        try:
            ok = parse_duration(self.window, "window") > 0
        except ConfigError:
            ok = False
        require(ok, self, "window", "expected a duration such as 1h, 30m or 15s")
        require(0 < self.step <= 1, self, "step", "must be in (0, 1]")
        for knob in KNOBS:
            low, high = getattr(self, f"min_{knob}_mult"), getattr(self, f"max_{knob}_mult")
            require(0 < low <= 1 <= high, self, f"min_{knob}_mult",
                    f"must satisfy 0 < min_{knob}_mult <= 1 <= max_{knob}_mult")
        require(self.target_fills_per_hour > 0, self, "target_fills_per_hour", "must be > 0")
        require(0 <= self.fill_band < 1, self, "fill_band", "must be in [0, 1)")
        require(self.min_sharpe <= self.good_sharpe, self, "min_sharpe", "must be <= good_sharpe")
        require(self.max_inventory > 0, self, "max_inventory", "must be > 0")
        require(self.hysteresis >= 1, self, "hysteresis", "must be >= 1")


@dataclass(frozen=True)
class WindowMetrics:
    """One window's results: ``pnl`` (quote units), ``sharpe`` (the window's own, see the module doc),
    ``fill_rate`` (fills per hour) and ``inventory`` (mean ``|position| * mid / max_position_usd``)."""

    pnl: float
    sharpe: float
    fill_rate: float
    inventory: float


@dataclass(frozen=True)
class TunedParams:
    """The multipliers the tuner applies on top of the policy's own."""

    spread_mult: float = 1.0
    skew_mult: float = 1.0
    size_mult: float = 1.0


class AutoTuner:
    """See the module docstring. ``params`` holds the current multipliers; ``reasons`` why the last change was made."""

    def __init__(self, config: AutoTuneParams):
        self.config = config
        self.params = TunedParams()
        self.reasons: dict[str, str] = {}
        self._last = {knob: 0 for knob in KNOBS}  # direction of each knob's last step
        self._pending = {knob: 0 for knob in KNOBS}  # consecutive windows asking to reverse it

    def wanted(self, m: WindowMetrics) -> dict[str, tuple[int, str]]:
        """The direction (+1, -1 or 0) each knob's rules ask for in window ``m``, with the reason."""
        c = self.config
        losing = m.pnl < 0 and m.sharpe < c.min_sharpe
        low, high = c.target_fills_per_hour * (1 - c.fill_band), c.target_fills_per_hour * (1 + c.fill_band)
        if losing:
            spread = (1, f"losing window (pnl {m.pnl:.4g}, sharpe {m.sharpe:.3g} < {c.min_sharpe:g})")
        elif m.fill_rate < low:
            spread = (-1, f"fill rate {m.fill_rate:.3g}/h < {low:.3g}/h")
        elif m.fill_rate > high:
            spread = (1, f"fill rate {m.fill_rate:.3g}/h > {high:.3g}/h")
        else:
            spread = (0, "")
        if losing:
            size = (-1, f"losing window (pnl {m.pnl:.4g}, sharpe {m.sharpe:.3g})")
        elif m.pnl > 0 and m.sharpe > c.good_sharpe:
            size = (1, f"winning window (sharpe {m.sharpe:.3g} > {c.good_sharpe:g})")
        else:
            size = (0, "")
        if m.inventory > c.max_inventory:
            skew = (1, f"mean inventory {m.inventory:.3g} > {c.max_inventory:g}")
        elif m.inventory < c.max_inventory / 2 and self.params.skew_mult > 1:
            skew = (-1, f"mean inventory {m.inventory:.3g} < {c.max_inventory / 2:g}")
        else:
            skew = (0, "")
        return {"spread": spread, "size": size, "skew": skew}

    def maybe_tune(self, metrics: WindowMetrics) -> Optional[TunedParams]:
        """Apply at most one step per knob for this window; the new multipliers, or None when none changed."""
        c = self.config
        values = {"spread": self.params.spread_mult, "skew": self.params.skew_mult, "size": self.params.size_mult}
        reasons = {}
        for knob, (direction, reason) in self.wanted(metrics).items():
            if direction == 0:
                self._pending[knob] = 0
                continue
            if self._last[knob] == -direction:  # a reversal: only after `hysteresis` windows in a row
                self._pending[knob] += 1
                if self._pending[knob] < c.hysteresis:
                    continue
            self._pending[knob] = 0
            factor = (1 + c.step) if direction > 0 else 1 / (1 + c.step)
            low, high = getattr(c, f"min_{knob}_mult"), getattr(c, f"max_{knob}_mult")
            new = min(high, max(low, values[knob] * factor))
            if knob == "skew" and direction < 0:
                new = max(new, 1.0)  # relaxing goes back to the policy's own skew, not below it
            if abs(new - values[knob]) > 1e-12:
                values[knob] = round(new, 10)
                self._last[knob] = direction
                reasons[knob] = reason
        if not reasons:
            return None
        self.params = TunedParams(values["spread"], values["skew"], values["size"])
        self.reasons = reasons
        return self.params


class AutoTuning:
    """A tuner inside a strategy policy: call :meth:`bind` once with the strategy and :meth:`adjust` every tick."""

    def __init__(self, config: AutoTuneParams):
        self.tuner = AutoTuner(config)
        self.window_ms = int(parse_duration(config.window, "strategy.auto_tune.window") * 1000)
        self.strategy: Any = None
        self._window_end: int | None = None
        self._tick = 0  # first tick of the current window in the metrics recorder
        self._fill = 0  # first fill of the current window

    def bind(self, strategy: Any) -> None:
        self.strategy = strategy

    def adjust(self, inputs: QuoteInputs, state: TickState) -> QuoteInputs:
        """Close the window when its time is up (maybe tuning), then apply the current multipliers."""
        if self._window_end is None:
            self._window_end = state.now_ms + self.window_ms
        elif state.now_ms >= self._window_end:
            self._window_end = state.now_ms + self.window_ms
            self._close_window(state.now_ms)
        tuned = self.tuner.params
        inputs.spread_mult *= tuned.spread_mult
        inputs.skew_mult *= tuned.skew_mult
        inputs.size_mult *= tuned.size_mult
        return inputs

    def _close_window(self, now_ms: int) -> None:
        metrics = self.measure()
        if metrics is None:
            return
        before = self.tuner.params
        after = self.tuner.maybe_tune(metrics)
        if after is None:
            return
        changed = {f"{knob}_mult": [getattr(before, f"{knob}_mult"), getattr(after, f"{knob}_mult")]
                   for knob in self.tuner.reasons}
        reason = "; ".join(f"{knob}: {why}" for knob, why in self.tuner.reasons.items())
        self.strategy.event("auto_tune", changed=changed, reason=reason, pnl=round(metrics.pnl, 6),
                            sharpe=round(metrics.sharpe, 4), fill_rate=round(metrics.fill_rate, 4),
                            inventory=round(metrics.inventory, 4))

    def measure(self) -> WindowMetrics | None:
        """The metrics of the ticks and fills recorded since the last window closed (None before two ticks)."""
        rec = self.strategy.metrics
        start, stop = self._tick, len(rec.ts)
        fills = rec.fills[self._fill:]
        self._tick, self._fill = max(stop - 1, 0), len(rec.fills)
        if stop - start < 2:
            return None
        ts = np.asarray(rec.ts[start:stop], dtype=np.int64)
        equity = np.asarray(rec.equity[start:stop], dtype=float)
        exposure = np.abs(np.asarray(rec.position[start:stop]) * np.asarray(rec.mid[start:stop]))
        hours = max((ts[-1] - ts[0]) / _HOUR_MS, 1e-9)
        return WindowMetrics(pnl=float(equity[-1] - equity[0]), sharpe=window_sharpe(equity),
                             fill_rate=len(fills) / hours, inventory=float(exposure.mean()) / rec.max_position_usd)


def window_sharpe(equity: np.ndarray) -> float:
    """The Sharpe of one window of an equity curve on the window's own basis (see the module doc); 0 when flat."""
    returns = np.diff(equity) / equity[:-1]
    std = float(returns.std())
    return float(returns.mean()) / std * len(returns) ** 0.5 if std > 0 else 0.0
