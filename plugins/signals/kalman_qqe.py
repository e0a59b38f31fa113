"""``signals.signal=kalman_qqe``: the seed's DirectionalSignal, a trend vote in {-1, 0, +1}.

Two O(1) filters on the close of each tick:

* Kalman trend: a local-linear-trend Kalman filter (state: level and slope per tick; process noise
  ``process_noise`` times the measured variance, observation noise ``measurement_noise`` times it) gives a filtered
  slope; its direction counts when ``|slope|`` exceeds ``slope_threshold_bps`` of price per tick.
* QQE: Wilder's RSI over ``rsi_period`` ticks, smoothed by an EMA of ``smoothing`` ticks; a trailing level follows
  it at ``qqe_factor`` times the Wilder-smoothed absolute change of the smoothed RSI (period ``2 * rsi_period - 1``).
  Bullish when the smoothed RSI is above both its trailing level and 50, bearish when below both.

``update`` returns +1 when the Kalman slope is up and QQE is bullish, -1 when both are bearish, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from botmm import BuildContext, ComponentParams, Market, hookimpl, require


@dataclass
class KalmanQQEParams(ComponentParams):
    process_noise: float = 0.001
    measurement_noise: float = 1.0
    slope_threshold_bps: float = 0.5
    rsi_period: int = 14
    smoothing: int = 5
    qqe_factor: float = 4.236

    def __post_init__(self) -> None:
        require(self.process_noise > 0, self, "process_noise", "must be > 0")
        require(self.measurement_noise > 0, self, "measurement_noise", "must be > 0")
        require(self.slope_threshold_bps >= 0, self, "slope_threshold_bps", "must be >= 0")
        require(self.rsi_period >= 2, self, "rsi_period", "must be >= 2")
        require(self.smoothing >= 1, self, "smoothing", "must be >= 1")
        require(self.qqe_factor > 0, self, "qqe_factor", "must be > 0")


class KalmanTrend:
    """Local linear trend: x = [level, slope], x' = F x + w, z = level + v. Noise scales with a running variance of
    price changes, so the filter needs no tuning per asset."""

    def __init__(self, q: float, r: float):
        self.q, self.r = q, r
        self.level = self.slope = 0.0
        self.p00, self.p01, self.p11 = 1.0, 0.0, 1.0
        self.var = 0.0
        self.ready = False

    def update(self, z: float) -> float:
        if not self.ready:
            self.level, self.ready = z, True
            return 0.0
        change = z - self.level - self.slope
        self.var += 0.05 * (change * change - self.var)
        scale = max(self.var, 1e-18)
        # predict
        level, slope = self.level + self.slope, self.slope
        p00 = self.p00 + 2 * self.p01 + self.p11 + self.q * scale
        p01 = self.p01 + self.p11
        p11 = self.p11 + self.q * scale
        # correct
        s = p00 + self.r * scale
        k0, k1 = p00 / s, p01 / s
        innovation = z - level
        self.level, self.slope = level + k0 * innovation, slope + k1 * innovation
        self.p00, self.p01, self.p11 = (1 - k0) * p00, (1 - k0) * p01, p11 - k1 * p01
        return self.slope


class QQE:
    def __init__(self, period: int, smoothing: int, factor: float):
        self.alpha_rsi = 1.0 / period
        self.alpha_smooth = 2.0 / (smoothing + 1)
        self.alpha_atr = 1.0 / (2 * period - 1)
        self.factor = factor
        self.gain = self.loss = 0.0
        self.prev = None
        self.smoothed = 50.0
        self.atr = 0.0
        self.trail = 50.0

    def update(self, close: float) -> int:
        prev, self.prev = self.prev, close
        if prev is None:
            return 0
        change = close - prev
        self.gain += self.alpha_rsi * (max(change, 0.0) - self.gain)
        self.loss += self.alpha_rsi * (max(-change, 0.0) - self.loss)
        total = self.gain + self.loss
        rsi = 50.0 if total == 0 else 100.0 * self.gain / total
        last = self.smoothed
        self.smoothed += self.alpha_smooth * (rsi - self.smoothed)
        self.atr += self.alpha_atr * (abs(self.smoothed - last) - self.atr)
        band = self.factor * self.atr
        if self.smoothed > self.trail:
            self.trail = max(self.trail, self.smoothed - band)
        else:
            self.trail = min(self.trail, self.smoothed + band)
        if self.smoothed > self.trail and self.smoothed > 50.0:
            return 1
        if self.smoothed < self.trail and self.smoothed < 50.0:
            return -1
        return 0


class KalmanQQE:
    def __init__(self, params: KalmanQQEParams):
        self.kalman = KalmanTrend(params.process_noise, params.measurement_noise)
        self.qqe = QQE(params.rsi_period, params.smoothing, params.qqe_factor)
        self.threshold = params.slope_threshold_bps * 1e-4
        self.value = 0.0

    def update(self, market: Market) -> float:
        close = market.close
        slope = self.kalman.update(close)
        qqe = self.qqe.update(close)
        trend = 1 if slope > self.threshold * close else -1 if slope < -self.threshold * close else 0
        self.value = float(trend) if trend == qqe else 0.0
        return self.value


def make_kalman_qqe(params: KalmanQQEParams, ctx: BuildContext) -> KalmanQQE:
    return KalmanQQE(params)


@hookimpl
def botmm_register_signals(register):
    register("kalman_qqe", make_kalman_qqe, KalmanQQEParams)
