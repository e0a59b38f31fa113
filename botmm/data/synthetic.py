"""Seeded synthetic candles with a top of book, for tests, demos and benchmarks that need no market data.

The model (defaults in brackets, a "year" is 365 days, per-bar figures are for 1-minute bars):

* Regimes. A Markov chain over calm / normal / stormy sets each bar's volatility. It moves only between neighbours:
  calm -> normal, stormy -> normal, and normal -> calm with probability ``calm_share`` [0.5], else stormy. A regime
  lasts a geometric number of bars with mean ``regime_hours`` [6 h, 8 h, 2 h], i.e. each bar it is left with
  probability bar_seconds / (3600 * hours) [0.28 %, 0.21 %, 0.83 %]. Long-run time shares are proportional to
  (calm_share * 6, 8, (1 - calm_share) * 2) [25 %, 67 %, 8 %]. The stream starts in normal.
* Diffusion. The log price is a Gaussian random walk whose per-bar sd is the regime's annualised ``regime_vol``
  [35 %, 55 %, 130 %] times sqrt(bar_seconds / year) [4.8, 7.6, 17.9 bps].
* Jumps. Each bar has a Poisson number of jumps at ``jumps_per_day`` [6, so 0.42 % of bars], each an
  N(0, ``jump_sd``) log move [0.3 %]. Diffusion and jumps together give about 63 % annualised vol in the long run.
* Intrabar path. A bar is ``sub_steps`` [6] equal sub-steps of the diffusion, with the bar's jumps landing in one
  random sub-step. Open is the previous close (``start_price`` for the first bar), close is the last sub-step, and
  high/low are the max/min over the open and every sub-step, so low <= min(open, close) <= max(open, close) <= high
  holds exactly.
* Volume in base units: ``base_volume`` [50] * ``regime_volume``[regime] [0.6, 1, 2]
  * (1 + ``volume_per_abs_bp`` [0.1] * |bar log return in bps|) * lognormal noise (log-sd ``volume_noise`` [0.5],
  mean 1).
* Book at the close: spread_bps = ``mean_spread_bps`` * m[regime] * G, where G ~ Gamma(``spread_shape`` [4]) has mean 1
  and m is ``regime_spread`` [0.8, 1, 2.5] rescaled to a long-run mean of 1, so ``mean_spread_bps`` is the long-run
  mean spread. bid = close - spread / 2 and ask = close + spread / 2: mid is the close and bid < ask.
* Book sizes at the close: depth = ``base_depth`` [20] * lognormal noise (log-sd 0.5) shared as
  bid_size = depth * (1 + I) / 2 and ask_size = depth * (1 - I) / 2, with imbalance
  I = tanh(``imbalance_signal`` [0.5] * z + 0.5 * e): z is the next bar's standardised return and e standard noise.
  Order-book imbalance thus carries a little information about the next move, as it does in real books; the
  strategy sees it at the close, before that move.

Several assets (``correlation`` set): each asset, named by ``asset`` (the feed uses a hash of its symbol), has a
path of its own. The regime chain is the market's (``seed``'s), shared by every asset; an asset's standardised
diffusion shocks are sqrt(c) * market + sqrt(1 - c) * own, and its jumps are the market's jumps times sqrt(c) plus
jumps of its own times sqrt(1 - c), with c = ``correlation``. Each part keeps its variance, so two assets' bar log
returns have correlation c; volumes, spreads and book sizes are the asset's own. ``correlation`` None (the default)
is the single market the stream always was: every asset on ``seed``'s path.

Randomness: the stream is made in blocks of ``BLOCK_BARS`` bars. Block b draws from its own generator, seeded with
``SeedSequence(seed, spawn_key=(b,))`` (an asset's own draws: ``spawn_key=(b, asset)``), and continues block b - 1's
price and regime. Regime durations are memoryless, so starting a new run at a block edge does not change the chain's
law. Batches of any size are cut from this one stream, so ``synthetic_candles(p, n)`` equals the concatenation of
``iter_synthetic(p, n, batch=k)`` for every k.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from botmm.errors import ConfigError
from botmm.model import CANDLE_ARRAYS, Candles

BLOCK_BARS = 8192
"""Bars per RNG block; part of the stream's definition, so changing it changes every seed's candles."""

_YEAR_SECONDS = 365 * 86_400
_CALM, _NORMAL, _STORMY = 0, 1, 2


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of the synthetic market; regime tuples are ordered (calm, normal, stormy)."""

    seed: int = 7
    start_price: float = 2000.0
    bar_seconds: int = 60
    start_ms: int = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    mean_spread_bps: float = 1.0
    regime_vol: tuple[float, float, float] = (0.35, 0.55, 1.30)
    regime_hours: tuple[float, float, float] = (6.0, 8.0, 2.0)
    calm_share: float = 0.5
    jumps_per_day: float = 6.0
    jump_sd: float = 0.003
    sub_steps: int = 6
    base_volume: float = 50.0
    regime_volume: tuple[float, float, float] = (0.6, 1.0, 2.0)
    volume_per_abs_bp: float = 0.1
    volume_noise: float = 0.5
    regime_spread: tuple[float, float, float] = (0.8, 1.0, 2.5)
    spread_shape: float = 4.0
    base_depth: float = 20.0
    imbalance_signal: float = 0.5
    correlation: float | None = None  # with the market's path, for an asset of its own; None: the market's path
    asset: int = 0  # which asset's own draws, when correlation is set

    def __post_init__(self) -> None:
        positive = {
            "start_price": self.start_price,
            "bar_seconds": self.bar_seconds,
            "mean_spread_bps": self.mean_spread_bps,
            "sub_steps": self.sub_steps,
            "spread_shape": self.spread_shape,
            "base_volume": self.base_volume,
            "base_depth": self.base_depth,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"synthetic.{key} must be > 0, got {value!r}")
        non_negative = {
            "jumps_per_day": self.jumps_per_day,
            "jump_sd": self.jump_sd,
            "volume_per_abs_bp": self.volume_per_abs_bp,
            "volume_noise": self.volume_noise,
        }
        for key, value in non_negative.items():
            if not value >= 0:
                raise ConfigError(f"synthetic.{key} must be >= 0, got {value!r}")
        for key in ("regime_vol", "regime_hours", "regime_volume", "regime_spread"):
            value = getattr(self, key)
            if len(value) != 3 or not all(v > 0 for v in value):
                raise ConfigError(f"synthetic.{key} must be three numbers > 0 (calm, normal, stormy), got {value!r}")
        if self.correlation is not None and not 0 <= self.correlation <= 1:
            raise ConfigError(f"synthetic.correlation must be in [0, 1] or null, got {self.correlation!r}")
        if not 0 <= self.calm_share <= 1:
            raise ConfigError(f"synthetic.calm_share must be in [0, 1], got {self.calm_share!r}")


def synthetic_candles(params: SyntheticParams, n_bars: int) -> Candles:
    """The first ``n_bars`` bars of the stream ``params`` defines."""
    if n_bars < 0:
        raise ValueError(f"n_bars must be >= 0, got {n_bars}")
    blocks = _blocks(params)
    n_blocks = max(1, -(-n_bars // BLOCK_BARS))
    return _concat([next(blocks) for _ in range(n_blocks)]).slice(0, n_bars)


def iter_synthetic(params: SyntheticParams, n_bars: int | None, batch: int = 10_000) -> Iterator[Candles]:
    """Yield the stream in consecutive batches of ``batch`` bars (the last may be shorter); ``None`` never ends."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if n_bars is not None and n_bars < 0:
        raise ValueError(f"n_bars must be >= 0, got {n_bars}")
    blocks = _blocks(params)
    pending: list[Candles] = []
    have = emitted = 0
    while n_bars is None or emitted < n_bars:
        size = batch if n_bars is None else min(batch, n_bars - emitted)
        while have < size:
            pending.append(next(blocks))
            have += BLOCK_BARS
        head = pending[0] if len(pending) == 1 else _concat(pending)
        yield head.slice(0, size)
        pending = [head.slice(size, have)]
        have -= size
        emitted += size


def _blocks(params: SyntheticParams) -> Iterator[Candles]:
    """The endless stream as ``BLOCK_BARS``-bar blocks, carrying log price and regime from block to block."""
    n, k = BLOCK_BARS, params.sub_steps
    bar_ms = params.bar_seconds * 1000
    hours = np.asarray(params.regime_hours, dtype=np.float64)
    leave = np.minimum(1.0, params.bar_seconds / (3600.0 * hours))
    sub_sd = np.asarray(params.regime_vol) * np.sqrt(params.bar_seconds / _YEAR_SECONDS / k)
    share = hours * (params.calm_share, 1.0, 1.0 - params.calm_share)
    spread = np.asarray(params.regime_spread) / (share @ np.asarray(params.regime_spread) / share.sum())
    volume = params.base_volume * np.asarray(params.regime_volume)
    jump_rate = params.jumps_per_day * params.bar_seconds / 86_400
    volume_noise = params.volume_noise
    rows = np.arange(n, dtype=np.int64)
    log_price, regime = 0.0, _NORMAL

    mixed = params.correlation is not None
    if mixed:
        market_part, own_part = np.sqrt(params.correlation), np.sqrt(1.0 - params.correlation)

    for index in itertools.count():
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(index,)))
        own = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(index, params.asset))) if mixed \
            else rng

        # Runs alternate between normal and an excursion (calm or stormy); n runs of >= 1 bar cover the block.
        excursion = np.where(rng.random(n) < params.calm_share, _CALM, _STORMY)
        runs = np.where(rows % 2 == (regime != _NORMAL), _NORMAL, excursion)
        runs[0] = regime
        run_ends = np.cumsum(rng.geometric(leave[runs]))
        regimes = runs[np.searchsorted(run_ends, rows, side="right")]

        shocks = rng.standard_normal((n, k))
        jumps = params.jump_sd * np.sqrt(rng.poisson(jump_rate, n)) * rng.standard_normal(n)
        jump_at = rng.integers(0, k, n)
        if mixed:
            shocks = market_part * shocks + own_part * own.standard_normal((n, k))
        steps = shocks * sub_sd[regimes, None]
        if mixed:
            steps[rows, jump_at] += market_part * jumps
            jumps = own_part * params.jump_sd * np.sqrt(own.poisson(jump_rate, n)) * own.standard_normal(n)
            jump_at = own.integers(0, k, n)
        steps[rows, jump_at] += jumps
        levels = (log_price + np.cumsum(steps)).reshape(n, k)
        # Log path with one row per sub-step point (row 0 = open): reductions along axis 0 are fast.
        path = np.empty((k + 1, n))
        path[1:] = levels.T
        path[0, 0] = log_price
        path[0, 1:] = levels[:-1, -1]
        prices = params.start_price * np.exp(path)
        close = prices[-1]

        abs_bps = np.abs(path[-1] - path[0]) * 1e4
        lognormal = np.exp(volume_noise * own.standard_normal(n) - 0.5 * volume_noise**2)
        spread_noise = own.gamma(params.spread_shape, 1.0 / params.spread_shape, n)
        half_spread = close * (0.5e-4 * params.mean_spread_bps) * spread[regimes] * spread_noise
        returns = path[-1] - path[0]
        ahead = np.zeros(n)
        ahead[:-1] = returns[1:] / (sub_sd[regimes[1:]] * np.sqrt(k))
        imbalance = np.tanh(params.imbalance_signal * ahead + 0.5 * own.standard_normal(n))
        depth = params.base_depth * np.exp(0.5 * own.standard_normal(n) - 0.125)
        yield Candles(
            ts=params.start_ms + (index * n + rows) * bar_ms,
            open=prices[0],
            high=prices.max(axis=0),
            low=prices.min(axis=0),
            close=close,
            volume=volume[regimes] * (1.0 + params.volume_per_abs_bp * abs_bps) * lognormal,
            bid=close - half_spread,
            ask=close + half_spread,
            bid_size=depth * (1 + imbalance) / 2,
            ask_size=depth * (1 - imbalance) / 2,
            bar_ms=bar_ms,
        )
        log_price, regime = levels[-1, -1], int(regimes[-1])


def _concat(parts: list[Candles]) -> Candles:
    return Candles(
        **{name: np.concatenate([getattr(p, name) for p in parts]) for name in CANDLE_ARRAYS},
        bar_ms=parts[0].bar_ms,
    )
