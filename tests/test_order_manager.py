from hypothesis import given
from hypothesis import strategies as st

from botmm.config import OrderManagerConfig, RiskLimits
from botmm.core.order_manager import OrderManager
from botmm.core.risk import RiskManager
from botmm.model import Order, Quote, QuoteLevel, RiskState, Side

prices = st.integers(9_000, 11_000).map(lambda p: p / 10)
sizes = st.sampled_from([0.01, 0.02, 0.05])


def _levels(side, draw_prices, draw_sizes):
    ordered = sorted(set(draw_prices), reverse=side is Side.BUY)
    return [QuoteLevel(side, p, s) for p, s in zip(ordered, draw_sizes)]


quotes = st.builds(
    lambda bp, bs, ap, as_: Quote(_levels(Side.BUY, bp, bs), _levels(Side.SELL, ap, as_)),
    st.lists(prices, max_size=6), st.lists(sizes, min_size=6, max_size=6),
    st.lists(prices, max_size=6), st.lists(sizes, min_size=6, max_size=6),
)
open_books = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, sizes), max_size=8)


def _apply(open_orders, actions):
    """What rests after the actions: modify is cancel-and-replace."""
    book = {o.oid: (o.side, o.price, o.size) for o in open_orders}
    for oid in actions.cancel:
        del book[oid]
    for oid, level in actions.modify:
        del book[oid]
        book[f"m{oid}"] = (level.side, level.price, level.size)
    for i, level in enumerate(actions.place):
        book[f"p{i}"] = (level.side, level.price, level.size)
    return sorted(book.values())


@given(quotes, open_books, st.sampled_from([0.0, 1.0, 5.0]))
def test_reconcile_leaves_exactly_the_desired_orders_without_duplicates(desired, book, threshold_bps):
    open_orders = [Order(i + 1, side, price, size, 0) for i, (side, price, size) in enumerate(book)]
    om = OrderManager(OrderManagerConfig(modify_threshold_bps=threshold_bps), tick=0.1, lot=0.01)
    actions = om.reconcile(desired, open_orders)
    touched = actions.cancel + [oid for oid, _ in actions.modify]
    assert len(touched) == len(set(touched)), "an order was both cancelled and modified, or modified twice"
    after = _apply(open_orders, actions)
    assert len(after) == len(desired.levels())
    if threshold_bps == 0:
        assert after == sorted((lv.side, lv.price, lv.size) for lv in desired.levels())
    assert actions.kept + len(actions.modify) + len(actions.place) == len(desired.levels())
    assert om.calls_saved == actions.kept


def test_unchanged_quotes_are_not_resent_and_small_moves_are_skipped():
    om = OrderManager(OrderManagerConfig(modify_threshold_bps=1.0), tick=0.01, lot=0.01)
    open_orders = [Order(1, Side.BUY, 1000.0, 0.1, 0), Order(2, Side.SELL, 1001.0, 0.1, 0)]
    same = Quote([QuoteLevel(Side.BUY, 1000.0, 0.1)], [QuoteLevel(Side.SELL, 1001.0, 0.1)])
    actions = om.reconcile(same, open_orders)
    assert (actions.place, actions.modify, actions.cancel, actions.kept) == ([], [], [], 2)
    nudged = Quote([QuoteLevel(Side.BUY, 1000.05, 0.1)], [QuoteLevel(Side.SELL, 1001.5, 0.1)])
    actions = om.reconcile(nudged, open_orders)
    assert actions.kept == 1  # 0.5 bps bid move is under the threshold
    assert actions.modify == [(2, QuoteLevel(Side.SELL, 1001.5, 0.1))]  # 5 bps ask move is not
    resized = Quote([QuoteLevel(Side.BUY, 1000.0, 0.2)], [])
    actions = om.reconcile(resized, open_orders)
    assert actions.modify == [(1, QuoteLevel(Side.BUY, 1000.0, 0.2))] and actions.cancel == [2]
    assert om.calls_saved == 3


@given(quotes, st.integers(2, 12), st.floats(-5.0, 5.0))
def test_risk_never_lets_more_than_max_open_orders_through(desired, cap, position):
    risk = RiskManager(RiskLimits(max_position_usd=1e12, max_open_orders=cap), capital=10_000)
    risk.check(0, 1000.0, position, 10_000)
    allowed = risk.apply(desired, position)
    assert len(allowed.levels()) <= cap
    assert len(allowed.levels()) == min(cap, len(desired.levels()))
    assert allowed.bids == desired.bids[: len(allowed.bids)] and allowed.asks == desired.asks[: len(allowed.asks)]


def test_position_limit_stops_only_the_side_that_grows_the_position():
    risk = RiskManager(RiskLimits(max_position_usd=1000.0), capital=10_000)
    quote = Quote([QuoteLevel(Side.BUY, 99.0, 1.0)], [QuoteLevel(Side.SELL, 101.0, 1.0)])
    assert risk.check(0, 100.0, 10.0, 10_000) is RiskState.POSITION_LIMIT
    long_allowed = risk.apply(quote, 10.0)
    assert long_allowed.bids == [] and long_allowed.asks == [quote.asks[0]._replace(reduce_only=True)]
    assert risk.check(0, 100.0, -10.0, 10_000) is RiskState.POSITION_LIMIT
    short_allowed = risk.apply(quote, -10.0)
    assert short_allowed.asks == [] and short_allowed.bids == [quote.bids[0]._replace(reduce_only=True)]
    assert risk.check(0, 100.0, 9.6, 10_000) is RiskState.POSITION_LIMIT  # 960 USD: inside the 95 % release band
    assert risk.check(0, 100.0, 9.4, 10_000) is RiskState.SAFE
    assert risk.check(0, 100.0, 9.6, 10_000) is RiskState.SAFE  # entering needs the full limit


def test_daily_loss_trips_the_circuit_breaker_until_the_next_utc_day():
    day = 86_400_000
    risk = RiskManager(RiskLimits(max_daily_loss_pct=5.0, cooldown_seconds=60), capital=10_000)
    assert risk.check(10 * day, 100.0, 0.0, 10_000) is RiskState.SAFE
    assert risk.check(10 * day + 1000, 100.0, 0.0, 9_499) is RiskState.CIRCUIT_BREAK
    assert risk.apply(Quote([QuoteLevel(Side.BUY, 99.0, 1.0)], []), 0.0).levels() == []
    assert risk.check(10 * day + 5000, 100.0, 0.0, 10_000) is RiskState.CIRCUIT_BREAK  # still paused
    assert risk.check(11 * day, 100.0, 0.0, 9_499) is RiskState.SAFE  # new day, loss measured afresh
    risk.check(11 * day + 1, 100.0, 0.0, 8_900)
    assert risk.state is RiskState.CIRCUIT_BREAK
    risk.reset()
    assert risk.check(11 * day + 2, 100.0, 0.0, 8_900) is RiskState.SAFE


def test_tick_threshold_and_partial_fills():
    om = OrderManager(OrderManagerConfig(modify_threshold_ticks=2), tick=0.5, lot=0.01)
    partly_filled = Order(1, Side.BUY, 1000.0, 0.04, 0, filled=0.06)
    actions = om.reconcile(Quote([QuoteLevel(Side.BUY, 1001.0, 0.1)], []), [partly_filled])
    assert actions.kept == 1  # 2 ticks away, original size 0.1: the rest of the order keeps its place in the queue
    actions = om.reconcile(Quote([QuoteLevel(Side.BUY, 1001.5, 0.1)], []), [partly_filled])
    assert actions.modify == [(1, QuoteLevel(Side.BUY, 1001.5, 0.1))]  # 3 ticks: re-sent at the full size
    refill = OrderManager(OrderManagerConfig(refill_partial=True), tick=0.5, lot=0.01)
    actions = refill.reconcile(Quote([QuoteLevel(Side.BUY, 1000.0, 0.1)], []), [partly_filled])
    assert actions.modify == [(1, QuoteLevel(Side.BUY, 1000.0, 0.1))]


def test_batched_splits_modifies_at_the_venue_limit():
    from botmm.core.order_manager import batched

    assert [len(b) for b in batched(list(range(45)), 20)] == [20, 20, 5]
    assert list(batched([], 20)) == []
