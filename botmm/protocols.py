"""The interfaces components implement. Plugins provide factories that return objects of these shapes; the
pipeline calls their methods directly, once per tick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence, runtime_checkable

from botmm.model import Candles, Fill, Market, Order, Position, Quote, QuoteLevel


@dataclass(slots=True)
class QuoteInputs:
    """Everything a quoter may use at one tick.

    ``vol`` is the standard deviation of one bar's log return (a fraction of mid); ``atr`` is in price units;
    ``inventory`` is position notional over ``risk.max_position_usd``, clipped to [-1, 1] (positive = long);
    ``signal`` (directional) and ``imbalance`` are in [-1, 1]; ``toxicity`` is in [0, 1].
    """

    mid: float
    vol: float = 0.0
    atr: float = 0.0
    position: float = 0.0
    inventory: float = 0.0
    signal: float = 0.0
    imbalance: float = 0.0
    toxicity: float = 0.0


@dataclass(slots=True)
class SizeContext:
    """What a sizer may use besides the quote: current market, position and account state."""

    mid: float
    position: float
    equity: float
    vol: float = 0.0


@runtime_checkable
class Quoter(Protocol):
    def quote(self, inputs: QuoteInputs) -> Quote: ...


@runtime_checkable
class Signal(Protocol):
    def update(self, market: Market) -> float: ...


@runtime_checkable
class Sizer(Protocol):
    def size(self, quote: Quote, ctx: SizeContext) -> Quote: ...


@runtime_checkable
class StrategyPolicy(Protocol):
    def adjust(self, inputs: QuoteInputs) -> QuoteInputs: ...


@runtime_checkable
class Feed(Protocol):
    """A source of bars, in time order, in batches (so a long history or an endless stream never sits in memory)."""

    def batches(self) -> Iterator[Candles]: ...


@runtime_checkable
class Venue(Protocol):
    """Where orders go and fills come from: a real exchange, the paper venue or the backtest venue."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def poll(self, now_ms: int) -> Market | None:
        """Bring the venue up to ``now_ms`` and return the latest market view (None before any data)."""

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]: ...

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]: ...

    def cancel_orders(self, oids: Sequence[int]) -> None: ...

    def cancel_all_orders(self) -> int: ...

    def get_open_orders(self) -> list[Order]: ...

    def get_position(self) -> Position: ...

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        """Fills after ``cursor`` (opaque, start at 0) and the cursor to pass next time."""
