"""What a simulated exchange charges: maker and taker fees, and perpetual funding.

Fees are fractions of a fill's notional (negative: a rebate). Funding is paid at every multiple of
``funding_hours`` since the epoch (UTC-aligned: hourly on Hyperliquid, every 8 hours on Binance and Bybit): the
position then held pays ``position * mark * funding_rate`` in quote units, so with a positive rate longs pay and
shorts receive. A constant rate is a stress assumption (what a persistent premium costs a strategy that leans one
way), not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Costs:
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    funding_rate: float = 0.0  # per funding interval, fraction of the position's notional
    funding_hours: float = 1.0


@dataclass(frozen=True, slots=True)
class FundingPayment:
    ts: int  # ms, the funding time
    position: float  # signed base units held then
    mark: float
    amount: float  # quote units paid; negative: received


class Funding:
    """Charges funding at each funding time a venue's clock passes. ``due_ms`` is the next funding time (infinite
    when the rate is 0), so a venue can test ``now_ms >= funding.due_ms`` per tick at the cost of one comparison."""

    def __init__(self, costs: Costs):
        self.rate = costs.funding_rate
        self.interval_ms = round(costs.funding_hours * _HOUR_MS)
        self.due_ms: float = float("inf")
        self.payments: list[FundingPayment] = []

    def start(self, now_ms: int) -> None:
        """Start the clock: the first payment falls due at the first funding time after ``now_ms``."""
        if self.rate:
            self.due_ms = (now_ms // self.interval_ms + 1) * self.interval_ms

    def settle(self, now_ms: int, position: float, mark: float) -> None:
        """Pay for every funding time up to ``now_ms`` at the position and mark of now."""
        while now_ms >= self.due_ms:
            ts = int(self.due_ms)
            self.payments.append(FundingPayment(ts, position, mark, position * mark * self.rate))
            self.due_ms = ts + self.interval_ms

    def since(self, cursor: int) -> tuple[list[FundingPayment], int]:
        count = len(self.payments)
        return (self.payments[cursor:] if cursor < count else []), count
