"""The ``fill_model=orderbook`` params, apart from the replay venue (:mod:`botmm.sim.replay`) so that registering the
fill model loads neither numba nor the compiled kernel; the replay venue maps the queue model's and weighting's names
to the kernel's codes when it is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from botmm.config import ComponentParams, require
from botmm.errors import ConfigError
from botmm.sim.latency import duration_ns

QUEUE_MODELS = ("risk_averse", "prob")  # risk_averse: only trades at our price advance us; prob: decreases too
WEIGHTINGS = ("power", "log")  # the prob queue's share of a decrease from ahead of us: x**n or log(1 + x)**n


@dataclass
class OrderBookFillParams(ComponentParams):
    """``fill_model=orderbook``: the replay venue's matching, queue and latency settings."""

    name: str = "orderbook"  # fill_model=<name> picks the fill model
    queue: str = "risk_averse"  # risk_averse | prob
    prob_weighting: str = "power"  # power | log (prob queue only)
    prob_n: float = 2.0  # exponent n of the prob weighting
    partial_fills: bool = False
    post_only: bool = True  # false: crossing orders take liquidity (taker fee)
    entry_latency: str = "10ms"  # order/cancel -> exchange
    response_latency: str = "10ms"  # exchange -> strategy
    latency_table: Optional[str] = None  # CSV/Parquet (ts, entry, response in ns); replaces the constants
    book_levels: int = 20  # levels a side in Market.book (0: no book)
    book_ticks: int = 1 << 20  # width of the price window kept in memory, in ticks

    def __post_init__(self) -> None:
        require(self.queue in QUEUE_MODELS, self, "queue", f"must be {' or '.join(QUEUE_MODELS)}")
        require(self.prob_weighting in WEIGHTINGS, self, "prob_weighting", f"must be {' or '.join(WEIGHTINGS)}")
        require(self.prob_n > 0, self, "prob_n", "must be > 0")
        for key in ("entry_latency", "response_latency"):
            require(_is_duration(getattr(self, key)), self, key, "expected a duration >= 0 such as 10ms or 250us")
        require(self.book_levels >= 0, self, "book_levels", "must be >= 0")
        require(self.book_ticks >= 64, self, "book_ticks", "must be >= 64")

    def describe(self) -> str:
        queue = self.queue if self.queue == "risk_averse" else f"prob({self.prob_weighting}, n={self.prob_n:g})"
        return f"queue={queue} partial_fills={self.partial_fills} post_only={self.post_only}"


def _is_duration(text: str) -> bool:
    try:
        duration_ns(text, "")
    except ConfigError:
        return False
    return True
