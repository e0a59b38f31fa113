"""``signals.imbalance=book_imbalance``: the seed's BookImbalanceTracker.

``update(market)`` returns the exponentially smoothed imbalance ``(bid_vol - ask_vol) / (bid_vol + ask_vol)`` in
[-1, 1] (positive: more size resting on the bid side, buying pressure). Volumes are the sizes on the top ``levels``
levels of ``market.book`` when the venue has an L2 book, else the top-of-book sizes ``bid_size``/``ask_size``; with
neither (plain candle files) the signal stays 0. O(levels) per update.
"""

from __future__ import annotations

from dataclasses import dataclass

from botmm import BuildContext, ComponentParams, Market, hookimpl, require


@dataclass
class BookImbalanceParams(ComponentParams):
    levels: int = 5
    halflife: float = 5.0  # ticks

    def __post_init__(self) -> None:
        require(self.levels >= 1, self, "levels", "must be >= 1")
        require(self.halflife > 0, self, "halflife", "must be > 0")


class BookImbalance:
    def __init__(self, params: BookImbalanceParams):
        self.levels = params.levels
        self.alpha = 1.0 - 0.5 ** (1.0 / params.halflife)
        self.value = 0.0

    def update(self, market: Market) -> float:
        book = market.book
        if book is not None:
            bid_vol = sum(size for _, size in book.bids[: self.levels])
            ask_vol = sum(size for _, size in book.asks[: self.levels])
        else:
            bid_vol, ask_vol = market.bid_size, market.ask_size
        total = bid_vol + ask_vol
        if total > 0:
            self.value += self.alpha * ((bid_vol - ask_vol) / total - self.value)
        return self.value


def make_book_imbalance(params: BookImbalanceParams, ctx: BuildContext) -> BookImbalance:
    return BookImbalance(params)


@hookimpl
def botmm_register_signals(register):
    register("book_imbalance", make_book_imbalance, BookImbalanceParams)
