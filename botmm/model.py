"""Value types shared by every component: market data, quotes, orders and fills.

Prices and sizes are floats in quote and base units. ``Side`` is +1 for a bid (a buy) and -1 for an ask (a sell),
so ``side * size`` is the signed change of position a fill makes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Side(enum.IntEnum):
    BUY = 1
    SELL = -1


class RiskState(enum.Enum):
    SAFE = "safe"
    POSITION_LIMIT = "position_limit"
    CIRCUIT_BREAK = "circuit_break"


@dataclass(frozen=True, slots=True)
class Candles:
    """A batch of bars as columns (one numpy array per field), in time order.

    ``ts`` is the bar open in milliseconds since the epoch (UTC); ``volume`` is in base units. ``bid``/``ask`` are the
    top of book at the bar close; sources without a book set both to ``close``.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bar_ms: int

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> Candles:
        return Candles(**{name: getattr(self, name)[start:stop] for name in CANDLE_ARRAYS}, bar_ms=self.bar_ms)


CANDLE_ARRAYS = ("ts", "open", "high", "low", "close", "volume", "bid", "ask")


@dataclass(slots=True)
class Market:
    """What the strategy sees at one tick: the last completed bar and the top of book at its close."""

    ts: int  # ms, end of the bar the data describes
    bid: float
    ask: float
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)


@dataclass(frozen=True, slots=True)
class QuoteLevel:
    side: Side
    price: float
    size: float


@dataclass(slots=True)
class Quote:
    """Desired resting orders: ``bids`` best first (highest price), ``asks`` best first (lowest price)."""

    bids: list[QuoteLevel] = field(default_factory=list)
    asks: list[QuoteLevel] = field(default_factory=list)

    def levels(self) -> list[QuoteLevel]:
        return [*self.bids, *self.asks]


@dataclass(slots=True)
class Order:
    """An order resting on a venue. ``size`` is what remains open."""

    oid: int
    side: Side
    price: float
    size: float
    ts: int  # ms when the venue accepted it


@dataclass(frozen=True, slots=True)
class Fill:
    ts: int  # ms
    oid: int
    side: Side
    price: float
    size: float
    fee: float  # quote units paid; a rebate is negative
    maker: bool = True

    @property
    def notional(self) -> float:
        return self.price * self.size


@dataclass(frozen=True, slots=True)
class Position:
    size: float  # signed base units
    avg_entry: float
