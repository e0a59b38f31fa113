import numpy as np
import pytest

from botmm.config import AssetConfig
from botmm.model import Candles, QuoteLevel, Side
from botmm.sim.candle import CandleFillParams, CandleVenue
from botmm.sim.costs import Costs

ASSET = AssetConfig(symbol="T", tick_size=0.1, lot_size=0.001)
BAR = 60_000


class ListFeed:
    """Bars from rows of open, high, low, close, volume; a book half a tick either side of the close, or none
    (bid = ask = close, as in candle files)."""

    def __init__(self, rows, book=True):
        self.rows, self.book = rows, book

    def batches(self):
        a = np.array(self.rows, dtype=float)
        ts = np.arange(len(a), dtype=np.int64) * BAR
        close = a[:, 3]
        zeros = np.zeros_like(close)
        half = 0.05 if self.book else 0.0
        yield Candles(ts, a[:, 0], a[:, 1], a[:, 2], close, a[:, 4], close - half, close + half, zeros, zeros, BAR)


def _venue(rows, costs=Costs(maker_fee=0.0001, taker_fee=0.0004), book=True, **fill):
    venue = CandleVenue(ListFeed(rows, book), CandleFillParams(**fill), ASSET, costs)
    venue.connect()
    return venue


def _tick(venue):
    now = venue.next_tick()
    return now, venue.poll(now)


FLAT = [100.0, 100.2, 99.8, 100.0, 10.0]


def test_quote_made_after_a_bar_never_fills_in_that_bar():
    spike = [100.0, 100.2, 90.0, 100.0, 10.0]  # bar 1 trades down to 90
    venue = _venue([FLAT, spike, FLAT, FLAT])
    now, market = _tick(venue)
    assert market.close == 100.0
    venue.place_orders([QuoteLevel(Side.BUY, 99.0, 0.1)], now)  # rests from bar 1 on
    now, market = _tick(venue)
    assert market.low == 90.0
    assert [f.price for f in venue.fills_since(0)[0]] == [99.0]
    venue.place_orders([QuoteLevel(Side.BUY, 95.0, 0.1)], now)  # placed after seeing the spike
    _tick(venue)
    _tick(venue)
    assert len(venue.fills) == 1, "an order placed at the spike's close filled on the spike"
    assert venue.get_open_orders()[0].price == 95.0


def test_through_needs_a_tick_beyond_the_price_and_touch_does_not():
    touch_bar = [100.0, 100.2, 99.0, 100.0, 10.0]
    through = _venue([FLAT, touch_bar])
    now, _ = _tick(through)
    through.place_orders([QuoteLevel(Side.BUY, 99.0, 0.1), QuoteLevel(Side.SELL, 100.2, 0.1)], now)
    through.place_orders([QuoteLevel(Side.SELL, 100.1, 0.1)], now)
    _tick(through)
    # the low only reached 99.0 and the high only 100.2; the high is one tick beyond 100.1
    assert [(f.side, f.price) for f in through.fills] == [(Side.SELL, 100.1)]
    touch = _venue([FLAT, touch_bar], rule="touch")
    now, _ = _tick(touch)
    touch.place_orders([QuoteLevel(Side.BUY, 99.0, 0.1)], now)
    _tick(touch)
    assert [(f.side, f.price) for f in touch.fills] == [(Side.BUY, 99.0)]


def test_fill_pays_maker_fee_and_moves_position():
    venue = _venue([FLAT, [100.0, 101.0, 98.0, 100.0, 10.0]])
    now, _ = _tick(venue)
    venue.place_orders([QuoteLevel(Side.BUY, 99.0, 0.5), QuoteLevel(Side.SELL, 100.5, 0.2)], now)
    _tick(venue)
    fills = {f.side: f for f in venue.fills}
    assert fills[Side.BUY].fee == pytest.approx(0.0001 * 99.0 * 0.5)
    assert venue.get_position().size == pytest.approx(0.3)
    assert venue.get_open_orders() == []


def test_volume_cap_fills_part_and_leaves_the_rest_resting():
    venue = _venue([FLAT, [100.0, 100.2, 98.0, 100.0, 1.0], [100.0, 100.2, 98.0, 100.0, 1.0]], volume_cap=0.25)
    now, _ = _tick(venue)
    venue.place_orders([QuoteLevel(Side.BUY, 99.0, 0.4)], now)
    _tick(venue)
    assert [f.size for f in venue.fills] == [0.25]
    assert venue.get_open_orders()[0].size == pytest.approx(0.15)
    _tick(venue)
    assert [f.size for f in venue.fills] == pytest.approx([0.25, 0.15])


def test_post_only_order_that_would_cross_is_rejected():
    venue = _venue([FLAT, FLAT])
    now, market = _tick(venue)
    placed = venue.place_orders([QuoteLevel(Side.BUY, market.ask, 0.1), QuoteLevel(Side.SELL, 100.5, 0.1)], now)
    assert [o.side for o in placed] == [Side.SELL]
    assert venue.rejected == 1


def test_modify_is_cancel_and_replace_with_a_new_id():
    venue = _venue([FLAT, FLAT])
    now, _ = _tick(venue)
    (order,) = venue.place_orders([QuoteLevel(Side.BUY, 99.0, 0.1)], now)
    (new,) = venue.modify_orders([(order.oid, QuoteLevel(Side.BUY, 98.0, 0.1))], now)
    assert new.oid != order.oid and [o.oid for o in venue.get_open_orders()] == [new.oid]
    assert venue.cancel_all_orders() == 1 and venue.get_open_orders() == []


def test_clock_ends_with_the_data():
    venue = _venue([FLAT, FLAT])
    assert [_tick(venue)[0] for _ in range(2)] == [BAR, 2 * BAR]
    assert venue.next_tick() is None


BOTH = [100.0, 101.0, 99.0, 100.4, 1.0]  # reaches a bid at 99.5 and an ask at 100.5; closes above their middle


def _both_sides(rows, **fill):
    """Quote a bid at 99.5 and an ask at 100.5 (0.1 each) after a flat bar, then release ``rows``."""
    venue = _venue([FLAT, *rows], **fill)
    now, _ = _tick(venue)
    venue.place_orders([QuoteLevel(Side.BUY, 99.5, 0.1), QuoteLevel(Side.SELL, 100.5, 0.1)], now)
    for _ in rows:
        _tick(venue)
    return venue


def test_the_intrabar_path_decides_which_side_a_capped_bar_fills():
    # the cap lets one bar fill 0.1 in all: the side the path reaches first takes it
    first = {path: [f.side for f in _both_sides([BOTH], path=path, volume_cap=0.1).fills]
             for path in ("open-high-low-close", "open-low-high-close", "adverse")}
    assert first == {"open-high-low-close": [Side.SELL], "open-low-high-close": [Side.BUY],
                     "adverse": [Side.SELL]}  # closing above the middle, the ask is the fill worth less
    falling = [100.0, 101.0, 99.0, 99.6, 1.0]
    assert [f.side for f in _both_sides([falling], path="adverse", volume_cap=0.1).fills] == [Side.BUY]


def test_without_a_cap_both_sides_fill_in_path_order():
    for path, order in (("open-high-low-close", [Side.SELL, Side.BUY]), ("open-low-high-close", [Side.BUY, Side.SELL])):
        venue = _both_sides([BOTH], path=path)
        assert [f.side for f in venue.fills] == order
        assert venue.get_position().size == 0.0 and venue.get_open_orders() == []


def test_a_gap_at_the_open_fills_first_and_the_cap_is_shared_in_path_order():
    venue = _venue([FLAT, [99.0, 101.0, 98.0, 100.0, 1.0]], path="open-high-low-close", volume_cap=0.25)
    now, _ = _tick(venue)
    venue.place_orders([QuoteLevel(Side.SELL, 100.5, 0.1), QuoteLevel(Side.BUY, 99.0, 0.2),
                        QuoteLevel(Side.BUY, 99.5, 0.2)], now)
    _tick(venue)
    # opening at 99.0 is through the 99.5 bid (a gap): it fills first, then the high reaches the ask; the 99.0 bid,
    # reached last on the way down, gets nothing of the 0.25 the bar allows
    assert [(f.side, f.price, f.size) for f in venue.fills] == [
        (Side.BUY, 99.5, 0.2), (Side.SELL, 100.5, pytest.approx(0.05))]
    assert sorted((o.price, o.size) for o in venue.get_open_orders()) == [(99.0, 0.2), (100.5, pytest.approx(0.05))]


def test_without_post_only_a_crossing_order_takes_liquidity_at_the_taker_fee():
    venue = _venue([FLAT, FLAT], post_only=False)
    now, market = _tick(venue)
    (order,) = venue.place_orders([QuoteLevel(Side.BUY, market.ask + 1.0, 0.3)], now)
    (fill,) = venue.fills
    assert (fill.price, fill.size, fill.maker, fill.ts) == (market.ask, 0.3, False, now)
    assert fill.fee == pytest.approx(0.0004 * market.ask * 0.3)
    assert venue.get_open_orders() == [] and venue.get_position().size == pytest.approx(0.3)
    assert venue.fill_stats()["taker_fills"] == 1 and venue.rejected == 0


def test_funding_is_charged_on_the_position_held_at_each_funding_time():
    bar = [100.0, 100.2, 99.8, 100.0, 10.0]
    dip = [100.0, 100.2, 98.0, 100.0, 10.0]
    rows = [bar, dip] + [bar] * 177  # 1-minute bars from 00:00 to 02:59
    venue = _venue(rows, Costs(funding_rate=0.0001, funding_hours=1.0))
    now, _ = _tick(venue)
    venue.place_orders([QuoteLevel(Side.BUY, 99.0, 2.0)], now)  # fills in the dip: long 2 from 00:02
    while (now := venue.next_tick()) is not None:
        venue.poll(now)
    payments, count = venue.funding.since(0)
    assert count == 2  # 01:00 and 02:00; the data ends before 03:00
    assert [(p.ts, p.position, p.mark) for p in payments] == [(3_600_000, 2.0, 100.0), (7_200_000, 2.0, 100.0)]
    assert [p.amount for p in payments] == pytest.approx([0.02, 0.02])  # 2 * 100 * 0.0001: longs pay
    assert venue.funding.since(count) == ([], 2)


def test_bars_without_a_book_get_one_a_tick_wide_so_a_quote_at_the_close_rests():
    venue = _venue([FLAT, [100.0, 100.2, 99.8, 100.0, 1.0]], book=False)
    now, market = _tick(venue)
    assert (market.bid, market.ask, market.mid) == (99.95, 100.05, 100.0)
    # a bot long at its limit skews its ask down to mid: on a zero-width book that would cross and never rest
    placed = venue.place_orders([QuoteLevel(Side.SELL, 100.0, 0.1), QuoteLevel(Side.SELL, 99.9, 0.1),
                                 QuoteLevel(Side.BUY, 100.1, 0.1)], now)
    assert [(o.side, o.price) for o in placed] == [(Side.SELL, 100.0)] and venue.rejected == 2
    _tick(venue)
    assert [(f.side, f.price) for f in venue.fills] == [(Side.SELL, 100.0)]  # the high, 100.2, went through it
