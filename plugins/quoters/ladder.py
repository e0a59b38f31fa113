"""What the built-in quoters share: turning a top-of-book bid and ask into safe, rounded levels."""

from __future__ import annotations

from dataclasses import dataclass

from botmm import Quote, QuoteParams, Side, make_level, require, round_ask, round_bid, round_lot

# Enum members are slow class attributes on Python 3.11 (a descriptor call each): look them up once.
_BUY, _SELL = Side.BUY, Side.SELL


@dataclass
class LadderParams(QuoteParams):
    level_spacing_bps: float = 2.0  # distance between consecutive levels on one side
    min_distance_bps: float = 0.0  # closest a quote may come to mid
    level_size_multiplier: float = 1.0  # each level deeper is this many times the size of the one before

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.level_spacing_bps >= 0, self, "level_spacing_bps", "must be >= 0")
        require(self.min_distance_bps >= 0, self, "min_distance_bps", "must be >= 0")
        require(self.level_size_multiplier > 0, self, "level_size_multiplier", "must be > 0")


def ladder(bid: float, ask: float, mid: float, p: LadderParams, size_mult: float, tick: float, lot: float) -> Quote:
    """Levels from the top-of-book prices ``bid`` and ``ask``.

    The top bid stays at or below ``mid * (1 - min_distance_bps / 1e4)`` and the top ask at or above the mirror
    price, so skew can never push a quote across mid; bids round down and asks up to the tick and the result is never
    crossed. Level k sits ``k * level_spacing_bps`` further out and is sized
    ``order_size_usd * size_mult * level_size_multiplier ** k / price``, rounded down to the lot. Levels at
    non-positive prices are dropped.
    """
    floor = p.min_distance_bps * 1e-4 * mid
    lowest, highest = mid - floor, mid + floor
    bid0 = round_bid(lowest if lowest < bid else bid, tick)  # min(bid, lowest)
    ask0 = round_ask(highest if highest > ask else ask, tick)  # max(ask, highest)
    if bid0 >= ask0:
        ask0 = round_ask(bid0 + tick, tick)
    notional = p.order_size_usd * size_mult
    bids = [make_level((_BUY, bid0, round_lot(notional / bid0, lot), False))] if bid0 > 0 else []
    asks = [make_level((_SELL, ask0, round_lot(notional / ask0, lot), False))]
    if p.num_levels > 1:
        step = p.level_spacing_bps * 1e-4 * mid
        for k in range(1, p.num_levels):
            notional *= p.level_size_multiplier
            bid_k = round_bid(bid0 - k * step, tick)
            ask_k = round_ask(ask0 + k * step, tick)
            if bid_k > 0:
                bids.append(make_level((_BUY, bid_k, round_lot(notional / bid_k, lot), False)))
            asks.append(make_level((_SELL, ask_k, round_lot(notional / ask_k, lot), False)))
    return Quote(bids, asks)
