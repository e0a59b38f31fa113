"""Position, average entry and PnL of one asset, from the fills alone.

Conventions: ``position`` is signed base units (long > 0). Realized PnL is booked when a fill reduces the position,
against the average entry; a fill that flips the position closes the old side at the average entry and opens the
rest at the fill price. Fees (a rebate is a negative fee) and funding paid are tracked apart, so
``realized + unrealized(mark) - fees - funding == cash flow + position * mark`` for every sequence of fills and
funding payments.
"""

from __future__ import annotations

from botmm.model import Fill


class InventoryTracker:
    __slots__ = ("position", "avg_entry", "realized_pnl", "total_fees", "funding", "volume", "fills")

    def __init__(self) -> None:
        self.position = 0.0
        self.avg_entry = 0.0
        self.realized_pnl = 0.0
        self.total_fees = 0.0
        self.funding = 0.0  # perpetual funding paid, quote units; negative: received
        self.volume = 0.0  # traded notional, quote units
        self.fills = 0

    def record(self, fill: Fill) -> None:
        self.record_fill(fill.side, fill.price, fill.size, fill.fee)

    def record_fill(self, side: int, price: float, size: float, fee: float = 0.0) -> None:
        """Apply one fill: ``side`` +1 buy / -1 sell, ``size`` > 0 base units, ``fee`` in quote units."""
        signed = side * size
        pos = self.position
        self.total_fees += fee
        self.volume += price * size
        self.fills += 1
        if pos == 0.0 or (pos > 0) == (signed > 0):  # opening or adding
            new = pos + signed
            self.avg_entry = (self.avg_entry * abs(pos) + price * size) / abs(new)
            self.position = new
            return
        closed = -pos if pos < 0 else pos  # abs(pos)
        if not closed < size:  # min(size, abs(pos))
            closed = size
        self.realized_pnl += closed * (price - self.avg_entry) * (1.0 if pos > 0 else -1.0)
        new = pos + signed
        if abs(new) < 1e-12:
            self.position, self.avg_entry = 0.0, 0.0
        elif (new > 0) != (pos > 0):  # flipped: the remainder opens at the fill price
            self.position, self.avg_entry = new, price
        else:
            self.position = new

    def record_funding(self, amount: float) -> None:
        """Apply a funding payment: ``amount`` quote units paid (negative: received)."""
        self.funding += amount

    @property
    def net_position(self) -> float:
        return self.position

    def unrealized_pnl(self, price: float) -> float:
        return self.position * (price - self.avg_entry)

    def total_pnl(self, price: float) -> float:
        """Realized plus unrealized, net of fees and funding (read every tick: the unrealized part inline, the same
        arithmetic as :meth:`unrealized_pnl` without a second call)."""
        return self.realized_pnl + self.position * (price - self.avg_entry) - self.total_fees - self.funding
