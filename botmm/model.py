"""Value types shared by every component: market data, quotes, orders and fills.

Prices and sizes are floats in quote and base units. ``Side`` is +1 for a bid (a buy) and -1 for an ask (a sell),
so ``side * size`` is the signed change of position a fill makes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

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
    top of book at the bar close, ``bid_size``/``ask_size`` the sizes resting near it; sources without a book set
    bid = ask = close and the sizes to 0.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    bar_ms: int

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> Candles:
        return Candles(**{name: getattr(self, name)[start:stop] for name in CANDLE_ARRAYS}, bar_ms=self.bar_ms)


CANDLE_ARRAYS = ("ts", "open", "high", "low", "close", "volume", "bid", "ask", "bid_size", "ask_size")


@dataclass(frozen=True, slots=True)
class Book:
    """An L2 order book: ``bids`` best (highest) first, ``asks`` best (lowest) first, each a list of (price, size)."""

    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Trade:
    ts: int  # ms
    side: Side  # the aggressor's side
    price: float
    size: float


@dataclass(slots=True)
class Market:
    """What the strategy sees at one tick.

    ``open``/``high``/``low``/``close``/``volume`` describe trading over the interval since the previous tick (one bar
    in a candle backtest); ``bid``/``ask`` are the top of book now. ``bid_size``/``ask_size`` are the sizes resting on
    the top levels when the source knows them (0 otherwise); ``book`` is the full L2 book when the venue has one.
    """

    ts: int  # ms, the end of the interval the data describes
    bid: float
    ask: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    bid_size: float = 0.0
    ask_size: float = 0.0
    book: Book | None = None

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)


class QuoteLevel(NamedTuple):
    """One desired order. A named tuple: the pipeline makes several per tick, and tuples are the cheapest
    immutable value Python builds."""

    side: Side
    price: float
    size: float
    reduce_only: bool = False  # set by risk on the reducing side at the position limit; live venues send it


make_level = partial(tuple.__new__, QuoteLevel)
"""``make_level((side, price, size, reduce_only))``: the :class:`QuoteLevel` of those four fields, built as a tuple is,
without the Python-level ``__new__`` that calling a named tuple runs (a third of its cost; levels are made every
tick)."""


@dataclass(slots=True)
class Quote:
    """Desired resting orders: ``bids`` best first (highest price), ``asks`` best first (lowest price)."""

    bids: list[QuoteLevel] = field(default_factory=list)
    asks: list[QuoteLevel] = field(default_factory=list)

    def levels(self) -> list[QuoteLevel]:
        return [*self.bids, *self.asks]


@dataclass(slots=True)
class Order:
    """An order resting on a venue. ``size`` is what remains open, ``filled`` what has filled so far."""

    oid: int
    side: Side
    price: float
    size: float
    ts: int  # ms when the venue accepted it
    filled: float = 0.0
    cloid: str = ""  # the client order id a live venue sent it with ("" in simulations)


class Fill(NamedTuple):
    """One fill of one of our orders. A named tuple, like :class:`QuoteLevel`: a busy backtest makes one or more a
    bar."""

    ts: int  # ms
    oid: int
    side: Side
    price: float
    size: float
    fee: float  # quote units paid; a rebate is negative
    maker: bool = True
    tid: int = 0  # the exchange's trade id (live venues); 0 in simulations

    @property
    def notional(self) -> float:
        return self.price * self.size


make_fill = partial(tuple.__new__, Fill)
"""``make_fill((ts, oid, side, price, size, fee, maker, tid))``: a :class:`Fill` of all eight fields, as
:data:`make_level` builds a level."""


@dataclass(frozen=True, slots=True)
class Position:
    size: float  # signed base units
    avg_entry: float
