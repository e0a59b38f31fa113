"""Durations of a long-running process (a live bot's reaction times, its steps' CPU) in bounded memory:
logarithmic buckets 1 % wide from 1 us to 100 s, so a run of weeks keeps a few kilobytes and its quantiles are exact
to 1 %."""

from __future__ import annotations

import math
from typing import Optional

FLOOR_MS = 0.001  # the first bucket holds everything up to 1 us
GROWTH = 1.01  # each bucket's upper edge is 1 % above the one before
BUCKETS = 1 + math.ceil(math.log(100_000 / FLOOR_MS, GROWTH))  # up to 100 s; longer ones share the last bucket


class Durations:
    """Counts of durations in ms; :meth:`quantile` reads them back."""

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.count = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        ms = max(0.0, ms)
        bucket = 0 if ms <= FLOOR_MS else min(BUCKETS - 1, 1 + int(math.log(ms / FLOOR_MS, GROWTH)))
        self.counts[bucket] += 1
        self.count += 1
        self.max_ms = max(self.max_ms, ms)

    def quantile(self, q: float) -> Optional[float]:
        """The nearest-rank ``q`` quantile in ms: the upper edge of its bucket, at most the longest duration (the
        longest for the last bucket); None when nothing was added."""
        if not self.count:
            return None
        rank, seen = min(self.count - 1, int(q * self.count)), 0
        for bucket, n in enumerate(self.counts):
            seen += n
            if seen > rank:
                return self.max_ms if bucket == BUCKETS - 1 else min(self.max_ms, FLOOR_MS * GROWTH ** bucket)
        return self.max_ms

    def rounded(self, q: float) -> Optional[float]:
        """:meth:`quantile` to the microsecond, as a report shows it."""
        value = self.quantile(q)
        return None if value is None else round(value, 3)
