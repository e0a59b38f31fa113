"""How fast the bot answers the market: from a pushed book's arrival (the websocket message read, before it is
parsed) to the first order or modify action written after it, for each book that led to one."""

from __future__ import annotations

from typing import Any, Optional

from botmm.exchange import Durations


class ReactionTimes(Durations):
    """Book-to-order times of one venue's run, each book counted once (its first answer)."""

    def __init__(self) -> None:
        super().__init__()
        self._book_ns: Optional[int] = None  # the arrival of the last book answered

    def answer(self, book_ns: int, sent_ns: int) -> None:
        """An action written at ``sent_ns`` for the book that arrived at ``book_ns`` (ns, one clock); counted
        unless an earlier action already answered that book."""
        if book_ns != self._book_ns:
            self._book_ns = book_ns
            self.add((sent_ns - book_ns) / 1e6)

    def report(self) -> dict[str, Any]:
        """``result.json``'s ``reaction``: the median and p99 (ms) and how many books were answered."""
        return {"book_to_order_median_ms": self.rounded(0.5), "book_to_order_p99_ms": self.rounded(0.99),
                "books_answered": self.count}
