"""One contract, every venue: the candle backtest venue, the order-book replay venue, the paper venue and the
Hyperliquid venue against the loopback server (tests/hl_server.py, the real SDK over HTTP).

Each venue is driven through :class:`~botmm.protocols.Venue` alone: connect, a market view, post-only orders placed,
modified, cancelled one by one and all at once, fill and funding cursors that never deliver twice; then what its
kind adds: a simulated venue's clock and fill statistics, a live venue's reconciliation, dead man's switch, metadata
refresh, halt and guardian.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from hl_server import HLServer, make_venue
from jobs import compose_job

from botmm.errors import VenueError
from botmm.model import Market, Position, QuoteLevel, Side
from botmm.pipeline import build_components
from botmm.protocols import GuardianSpec, LiveVenue, Reconciliation, SimulatedVenue, Venue
from botmm.rounding import round_bid, round_ask

# The Hyperliquid venue gets the LiveVenue names (arm_dead_mans_switch, Reconciliation, funding, state_key, ...) on
# the venue branch; until that is merged these cases fail here.


@dataclass
class Subject:
    """A connected venue and its clock: ``now()`` is a time at which ``poll`` has fresh data."""

    venue: Any
    now: Callable[[], int]
    tick: float


SIMULATED = {  # kind: (primary config, overrides), with small feeds: the contract needs only a few ticks
    "candle": ("backtest", ("feed.bars=500",)),
    "replay": ("replay", ("feed.duration=2m",)),
    "paper": ("run", ("exchange=paper", "feed=synthetic_live", "exchange.speed=60000")),
}


@functools.cache
def _config(kind: str) -> Any:
    name, overrides = SIMULATED[kind]
    return compose_job("asset=eth", *overrides, name=name)


def _simulated(kind: str) -> Subject:
    venue = build_components(_config(kind)).venue
    venue.connect()
    return Subject(venue, lambda: venue.next_tick(), 0.1)


@pytest.fixture(params=["candle", "replay", "paper", "hyperliquid"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    kind = request.param
    if kind == "hyperliquid":
        server = HLServer(step_s=0.5, move_prob=0.0).start()
        venue = make_venue(server.url)
        try:
            venue.connect()
            yield Subject(venue, lambda: int(time.time() * 1000), 0.1)
        finally:
            venue.disconnect()
            server.stop()
        return
    found = _simulated(kind)
    yield found
    found.venue.disconnect()


def _market(subject: Subject) -> Market:
    market = None
    for _ in range(50):
        market = subject.venue.poll(subject.now())
        if market is not None:
            return market
    raise AssertionError("no market data after 50 polls")


def _quote(subject: Subject, market: Market, away: float = 0.01) -> tuple[QuoteLevel, QuoteLevel]:
    """A bid and an ask ``away`` (a fraction) from the touch: resting, not crossing, worth more than $10."""
    size = round(50.0 / market.mid, 3)
    return (QuoteLevel(Side.BUY, round_bid(market.bid * (1 - away), subject.tick), size),
            QuoteLevel(Side.SELL, round_ask(market.ask * (1 + away), subject.tick), size))


def _resting(venue: Venue) -> set[tuple[Side, float]]:
    return {(order.side, order.price) for order in venue.get_open_orders()}


def test_it_is_a_venue_of_its_kind(subject: Subject, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["subject"]
    venue = subject.venue
    assert isinstance(venue, Venue) and venue.max_batch >= 1
    assert isinstance(venue, SimulatedVenue) is (kind != "hyperliquid")
    assert isinstance(venue, LiveVenue) is (kind in ("paper", "hyperliquid"))


def test_orders_are_placed_modified_and_cancelled(subject: Subject) -> None:
    venue = subject.venue
    market = _market(subject)
    assert 0 < market.bid < market.ask and market.ts > 0
    bid, ask = _quote(subject, market)
    placed = venue.place_orders([bid, ask], subject.now())
    assert sorted((o.side, o.price, o.size) for o in placed) == sorted([(bid.side, bid.price, bid.size),
                                                                        (ask.side, ask.price, ask.size)])
    assert _resting(venue) == {(bid.side, bid.price), (ask.side, ask.price)}
    lower = bid._replace(price=round_bid(bid.price * 0.995, subject.tick))
    bid_oid = next(o.oid for o in placed if o.side is Side.BUY)
    venue.modify_orders([(bid_oid, lower)], subject.now())
    assert _resting(venue) == {(lower.side, lower.price), (ask.side, ask.price)}
    ask_oid = next(o.oid for o in venue.get_open_orders() if o.side is Side.SELL)
    venue.cancel_orders([ask_oid])
    assert _resting(venue) == {(lower.side, lower.price)}
    assert venue.cancel_all_orders() == 1
    assert venue.get_open_orders() == []
    assert venue.cancel_all_orders() == 0


def test_a_crossing_post_only_order_is_refused_not_raised(subject: Subject) -> None:
    """Refused at once (left out of the answer), or, where orders take time to reach the exchange (the replay), on
    arrival: either way it never rests and nothing is raised."""
    venue = subject.venue
    market = _market(subject)
    crossing = QuoteLevel(Side.BUY, round_ask(market.ask * 1.01, subject.tick), round(50.0 / market.mid, 3))
    venue.place_orders([crossing], subject.now())
    _market(subject)
    _market(subject)
    assert venue.get_open_orders() == []
    assert venue.fills_since(0)[0] == []


def test_fill_and_funding_cursors_never_deliver_twice(subject: Subject) -> None:
    venue = subject.venue
    _market(subject)
    fills, cursor = venue.fills_since(0)
    assert venue.fills_since(cursor) == ([], cursor)
    payments, funding_cursor = venue.funding.since(0)
    assert venue.funding.since(funding_cursor) == ([], funding_cursor)
    position = venue.get_position()
    assert isinstance(position, Position)
    assert position.size == pytest.approx(sum(f.side * f.size for f in fills))


@pytest.mark.parametrize("subject", ["candle", "replay", "paper"], indirect=True)  # the simulated ones
def test_a_simulated_venue_has_a_clock_and_fill_statistics(subject: Subject) -> None:
    venue = subject.venue
    assert isinstance(venue, SimulatedVenue)
    first = venue.next_tick()
    venue.poll(first)
    second = venue.next_tick()
    assert isinstance(first, int) and second > first
    stats = venue.fill_stats()
    assert isinstance(stats, dict) and stats.get("post_only_rejected", 0) >= 0


@pytest.mark.parametrize("subject", ["paper", "hyperliquid"], indirect=True)  # the live ones
def test_a_live_venue_reconciles_arms_and_halts(subject: Subject, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["subject"]
    venue: LiveVenue = subject.venue
    assert venue.heartbeat_s > 0 and venue.reconcile_s > 0 and venue.metadata_refresh_s > 0
    assert isinstance(venue.state_key, str) and venue.state_key
    market = _market(subject)
    bid, ask = _quote(subject, market)
    venue.place_orders([bid, ask], subject.now())
    found = venue.reconcile()
    assert isinstance(found, Reconciliation)
    assert found.position == pytest.approx(venue.get_position().size) and found.open_orders == 2
    assert found.differences == []  # nothing happened behind its back
    assert venue.arm_dead_mans_switch() is True
    assert isinstance(venue.refresh_metadata(), dict)
    spec = venue.guardian()
    assert spec is None if kind == "paper" else isinstance(spec, GuardianSpec)
    venue.halt()
    assert venue.place_orders([bid._replace(price=round_bid(bid.price * 0.99, subject.tick))],
                              subject.now()) == []
    assert len(venue.get_open_orders()) == 2  # refused, nothing new rests; cancels still go out
    assert venue.cancel_all_orders() == 2 and venue.get_open_orders() == []
    venue.disarm_dead_mans_switch()


def test_a_failed_call_is_a_venue_error(subject: Subject, request: pytest.FixtureRequest) -> None:
    """Cancelling an order the venue never had is not an error anywhere; an unconnected live venue's calls are."""
    venue = subject.venue
    _market(subject)
    venue.cancel_orders([987_654_321])
    assert venue.get_open_orders() == []
    if request.node.callspec.params["subject"] == "hyperliquid":
        venue.disconnect()
        with pytest.raises(VenueError):
            venue.place_orders([QuoteLevel(Side.BUY, 2900.0, 0.01)], subject.now())
