"""The interfaces components implement. Plugins provide factories that return objects of these shapes; the
pipeline calls their methods directly, once per tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, runtime_checkable

from botmm.model import Fill, Market, Order, Position, Quote, QuoteLevel


@dataclass(slots=True)
class QuoteInputs:
    """Everything a quoter may use at one tick.

    ``vol`` is the standard deviation of one tick's log return (a fraction of mid); ``atr`` is in price units;
    ``inventory`` is position notional over ``risk.max_position_usd``, clipped to [-1, 1] (positive = long);
    ``signal`` (directional) and ``imbalance`` (positive: more resting bids) are in [-1, 1]; ``toxicity`` is in
    [0, 1]. ``market`` is the tick's full view (for quoters that estimate from the interval's trading).
    The strategy policy sets the multipliers; every quoter scales its spread by ``spread_mult``, its sizes by
    ``size_mult`` and its inventory skew by ``skew_mult``.
    """

    mid: float
    vol: float = 0.0
    atr: float = 0.0
    position: float = 0.0
    inventory: float = 0.0
    signal: float = 0.0
    imbalance: float = 0.0
    toxicity: float = 0.0
    spread_mult: float = 1.0
    size_mult: float = 1.0
    skew_mult: float = 1.0
    market: Market | None = None


@dataclass(slots=True)
class TickState:
    """The account's running state, updated by the pipeline every tick, for policies and sizers.

    ``fill_rate`` is fills per hour (exponentially weighted over about an hour of ticks); ``drawdown`` is the fall
    of equity from its peak as a fraction of the peak; ``position_since_ms`` is when the current position was opened
    (its sign last changed from flat), or None when flat.
    """

    now_ms: int = 0
    equity: float = 0.0
    peak_equity: float = 0.0
    drawdown: float = 0.0
    fill_rate: float = 0.0
    position_since_ms: int | None = None


@dataclass(slots=True)
class SizeContext:
    """What a sizer may use besides the quote: market, position, account state and the tick's signals."""

    mid: float
    position: float
    equity: float
    vol: float = 0.0
    toxicity: float = 0.0
    inventory: float = 0.0
    fill_rate: float = 0.0
    drawdown: float = 0.0


@runtime_checkable
class Quoter(Protocol):
    def quote(self, inputs: QuoteInputs) -> Quote: ...


@runtime_checkable
class Signal(Protocol):
    """``update`` runs once per tick and returns the signal's value. A signal that also needs the account's fills
    (toxicity) defines ``on_fill(fill)``, called for each fill before the tick's ``update``."""

    def update(self, market: Market) -> float: ...


@runtime_checkable
class Sizer(Protocol):
    """Sets the levels' sizes. A sizer with a class attribute ``reads_context = False`` gets ``ctx=None`` (the
    pipeline builds no :class:`SizeContext` for it)."""

    def size(self, quote: Quote, ctx: SizeContext) -> Quote: ...


@runtime_checkable
class StrategyPolicy(Protocol):
    """How a strategy shapes the quoter's inputs each tick (regimes, adaptation, hot-reloaded params).

    ``bind`` is called once with the job's :class:`~botmm.pipeline.Pipeline`, before the first tick, so the policy
    can reach the quoter's params or send events; ``adjust`` is called every tick.
    """

    def bind(self, strategy: Any) -> None: ...

    def adjust(self, inputs: QuoteInputs, state: TickState) -> QuoteInputs: ...


@runtime_checkable
class Feed(Protocol):
    """Market data in time order, in batches, so a long history or an endless stream never sits in memory. The fill
    model decides the kind: a bar feed (``synthetic``, ``candles``, ``candles_file``, ``hyperliquid``) yields
    :class:`~botmm.model.Candles` for ``fill_model=candle``; an L2 feed (``l2_file``, ``synthetic_l2``) yields
    :class:`botmm.data.L2Events` (book changes and trades, ns timestamps) for ``fill_model=orderbook`` and also has
    ``meta`` (:class:`botmm.data.L2Meta`: symbol, tick and lot sizes). Live venues read their own market data and
    use no feed, except the paper venue, which fills against a bar feed on the wall clock."""

    def batches(self) -> Iterator[Any]:
        """The batches in time order: ``Candles`` from a bar feed, ``L2Events`` from an L2 feed."""


@runtime_checkable
class FundingLedger(Protocol):
    """Funding payments a venue booked, in order; the pipeline books each into the inventory once."""

    def since(self, cursor: int) -> tuple[list[Any], int]:
        """Payments after ``cursor`` (start at 0; each has ``ts`` and ``amount``, quote units paid, negative:
        received) and the cursor to pass next time."""


@runtime_checkable
class Venue(Protocol):
    """Where orders go and fills come from: a real exchange, the paper venue or the backtest venue.

    A failed call raises :class:`botmm.errors.VenueError`; the pipeline counts it and carries on. ``max_batch`` is
    the most orders one ``modify_orders`` call may carry. ``funding`` is the account's funding ledger: the pipeline
    books its payments into the inventory (a venue without funding keeps an empty one). A venue is a
    :class:`SimulatedVenue` or a :class:`LiveVenue` (the paper venue is both); the pipeline and the runners tell
    them apart by these protocols, never by probing for single methods.
    """

    max_batch: int
    funding: FundingLedger

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def poll(self, now_ms: int) -> Market | None:
        """Bring the venue up to ``now_ms`` and return the latest market view (None before any data)."""

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        """Send orders (post-only unless the venue's settings say otherwise) and return those the order manager is to
        track, at the price and size actually sent (a venue may round them to its grid): every order the venue took,
        and, on a venue with order latency (the replay), every order sent, since its answer comes later. A refusal
        known at once (post-only, a halted venue) is left out, not raised; one known later takes the order out of
        :meth:`get_open_orders` and counts in the venue's ``rejected``. An order filled on arrival shows in
        :meth:`fills_since`, returned or not."""

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]: ...

    def cancel_orders(self, oids: Sequence[int]) -> None: ...

    def cancel_all_orders(self) -> int: ...

    def get_open_orders(self) -> list[Order]:
        """The orders resting now, as the adapter knows them. Called every tick, so adapters of remote exchanges
        answer from a local mirror kept up to date by order responses and fills, and resynchronise it themselves."""

    def get_position(self) -> Position: ...

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        """Fills after ``cursor`` (opaque, start at 0) and the cursor to pass next time."""


@runtime_checkable
class SimulatedVenue(Venue, Protocol):
    """A venue whose fills are simulated (candle backtest, order-book replay, paper): it has its own clock, which
    a backtest follows (``next_tick``), and reports its fill model's settings and counters, which ``result.json``
    records under ``venue``."""

    def next_tick(self) -> int | None:
        """The time of the next tick of the venue's clock (ms), or None once its data is used up."""

    def fill_stats(self) -> dict[str, Any]: ...


@dataclass
class Reconciliation:
    """What :meth:`LiveVenue.reconcile` found on the exchange and adopted: the position, the bot's own resting
    orders and every fill of the run (keyed by trade id). ``differences`` lists, one line each, what the venue
    believed differently before (the live runner reports each as a ``reconcile_difference`` event);
    ``foreign_orders`` counts resting orders of the account that are not the bot's (never touched)."""

    position: float
    avg_entry: float
    open_orders: int
    foreign_orders: int = 0
    differences: list[str] = field(default_factory=list)


@dataclass
class GuardianSpec:
    """How a process outside the bot cancels a live venue's orders when the bot stops beating (see
    :mod:`botmm.runners.guardian`): ``module`` is run as ``python -m module`` with ``settings`` (JSON, never a
    secret) on its standard input; ``env`` names the environment variables it needs (a key's variable), passed
    from the bot's environment as they are."""

    module: str
    settings: dict[str, Any]
    env: list[str] = field(default_factory=list)


@runtime_checkable
class LiveVenue(Venue, Protocol):
    """A venue on the wall clock (a real exchange, or the paper venue): what :mod:`botmm.runners.live` needs beyond
    :class:`Venue`. Orders a live venue sends carry client order ids with the bot's prefix, and it touches only
    those. Every method may raise :class:`botmm.errors.VenueError`.

    ``heartbeat_s``: how often the runner re-arms the dead man's switch (only after a tick that saw fresh data);
    ``reconcile_s``: how often :meth:`reconcile` runs (and after any venue error); ``metadata_refresh_s``: how often
    :meth:`refresh_metadata` runs; ``notify``: set by the runner to the job's event function
    (:meth:`botmm.pipeline.Pipeline.event`); ``funding``: the account's funding payments, booked into PnL.
    """

    heartbeat_s: float
    reconcile_s: float
    metadata_refresh_s: float
    notify: Optional[Callable[..., None]]

    @property
    def state_key(self) -> str:
        """Names the account and instrument, for the file that keeps risk limits across restarts."""

    def reconcile(self) -> Reconciliation:
        """Compare position, the bot's open orders and the run's fills with the exchange and adopt the exchange's
        truth; new fills found are delivered by ``fills_since``."""

    def arm_dead_mans_switch(self) -> bool:
        """Arm (or re-arm) the exchange-side cancel of every order ``heartbeat_s`` from now. False when the exchange
        refuses it: the runner then starts the guardian (:meth:`guardian`)."""

    def disarm_dead_mans_switch(self) -> None:
        """Clear the exchange-side cancel. Called only after ``cancel_all_orders`` verified that none rests."""

    def refresh_metadata(self) -> dict[str, Any]:
        """Reload the instrument's rules; what changed (empty when nothing did)."""

    def halt(self) -> None:
        """Refuse every later place and modify (shutdown): only cancels go out from now on."""

    def guardian(self) -> Optional[GuardianSpec]:
        """How an outside process cancels this venue's orders, or None when nothing can rest once the bot's
        process is gone (the paper venue)."""


@runtime_checkable
class PushVenue(LiveVenue, Protocol):
    """A live venue whose exchange pushes market data and account events (the Hyperliquid venue on its websocket):
    the live runner steps it when something changed instead of on a timer.

    ``reconcile_due``: the pushed data had a gap (a reconnection); the runner reconciles at the next tick.
    """

    reconcile_due: bool

    def watch(self, on_change: Callable[[], None]) -> bool:
        """Call ``on_change`` (from any thread) when the venue's book, orders or fills changed. False when this
        venue's data is not pushed after all (then the runner ticks every ``interval``)."""

    def reaction_report(self) -> dict[str, Any]:
        """How fast the run answered pushed books: ``book_to_order_median_ms`` and ``book_to_order_p99_ms`` (from a
        book's arrival to the first order or modify written after it; None when no book led to one) and
        ``books_answered``. ``result.json`` carries it as ``reaction``."""
