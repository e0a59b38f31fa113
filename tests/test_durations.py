"""Durations kept in bounded memory: their median and p99 are the exact nearest-rank quantiles to within 1 %; a venue's
book-to-order times count each pushed book once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from botmm.exchange import Durations
from botmm.plugins.exchanges.hyperliquid.reaction import ReactionTimes

times_ms = st.lists(st.floats(min_value=0.0005, max_value=200_000, allow_nan=False), min_size=1, max_size=300)


@given(times_ms)
def test_quantiles_are_exact_to_one_percent(times: list[float]) -> None:
    durations = Durations()
    for ms in times:
        durations.add(ms)
    exact = sorted(times)
    for q in (0.5, 0.99):
        want = exact[min(len(exact) - 1, int(q * len(exact)))]
        got = durations.quantile(q)
        assert want <= got, (q, want, got)
        assert got <= max(want * 1.0101, 0.001) or (want > 100_000 and got == exact[-1])  # over 100 s: the longest
    assert durations.count == len(times) and durations.max_ms == exact[-1]


def test_a_book_counts_once_and_an_empty_run_reports_none() -> None:
    reaction = ReactionTimes()
    assert reaction.report() == {"book_to_order_median_ms": None, "book_to_order_p99_ms": None, "books_answered": 0}
    reaction.answer(1_000_000_000, 1_002_000_000)  # 2 ms after the book
    reaction.answer(1_000_000_000, 1_900_000_000)  # a second action for the same book: not its answer
    reaction.answer(2_000_000_000, 2_000_500_000)  # 0.5 ms after the next one
    assert reaction.report() == {"book_to_order_median_ms": 2.0, "book_to_order_p99_ms": 2.0, "books_answered": 2}
