import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmm.core.inventory import InventoryTracker

fills = st.lists(
    st.tuples(
        st.sampled_from([1, -1]),
        st.floats(1.0, 100_000.0),
        st.floats(0.001, 50.0),
        st.floats(-1.0, 1.0),
        st.floats(-0.001, 0.001),  # a funding rate charged after the fill
    ),
    max_size=60,
)


@given(fills, st.floats(1.0, 100_000.0))
def test_pnl_is_conserved_for_any_fill_and_funding_sequence(sequence, mark):
    inv = InventoryTracker()
    cash = 0.0
    for side, price, size, fee, rate in sequence:
        inv.record_fill(side, price, size, fee)
        cash -= side * price * size + fee
        payment = inv.position * price * rate  # funding on the position held, marked at the last fill
        inv.record_funding(payment)
        cash -= payment
    expected_position = sum(side * size for side, _, size, _, _ in sequence)
    assert inv.net_position == pytest.approx(expected_position, abs=1e-9)
    marked = cash + inv.position * mark
    total = inv.realized_pnl + inv.unrealized_pnl(mark) - inv.total_fees - inv.funding
    scale = 1.0 + sum(p * s for _, p, s, _, _ in sequence) + abs(inv.position) * mark
    assert math.isclose(total, marked, rel_tol=0, abs_tol=1e-9 * scale)
    assert inv.total_pnl(mark) == pytest.approx(total)


def test_average_entry_and_realized_pnl_on_reduction():
    inv = InventoryTracker()
    inv.record_fill(1, 100.0, 1.0)
    inv.record_fill(1, 110.0, 1.0)
    assert inv.avg_entry == pytest.approx(105.0)
    inv.record_fill(-1, 120.0, 0.5)
    assert inv.realized_pnl == pytest.approx(7.5)
    assert inv.position == pytest.approx(1.5)
    assert inv.avg_entry == pytest.approx(105.0)  # a reduction keeps the entry
    assert inv.unrealized_pnl(100.0) == pytest.approx(-7.5)


def test_flip_closes_at_entry_and_opens_the_rest_at_fill_price():
    inv = InventoryTracker()
    inv.record_fill(1, 100.0, 1.0)
    inv.record_fill(-1, 90.0, 3.0)
    assert inv.realized_pnl == pytest.approx(-10.0)
    assert inv.position == pytest.approx(-2.0)
    assert inv.avg_entry == pytest.approx(90.0)


def test_rebates_are_negative_fees():
    inv = InventoryTracker()
    inv.record_fill(1, 100.0, 1.0, fee=-0.02)
    inv.record_fill(-1, 100.0, 1.0, fee=-0.02)
    assert inv.total_fees == pytest.approx(-0.04)
    assert inv.total_pnl(100.0) == pytest.approx(0.04)
    assert inv.volume == pytest.approx(200.0)
    assert inv.position == 0.0 and inv.avg_entry == 0.0
