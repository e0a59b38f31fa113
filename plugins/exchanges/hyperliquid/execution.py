"""The Hyperliquid venue: :class:`botmm.protocols.LiveVenue` for one perp of one account (a
:class:`botmm.protocols.PushVenue` with ``exchange.websocket``).

* **Push data** (``exchange.websocket``, on in the ``hl_*`` presets): the book, the account's order updates, fills
  and funding come from the process's websocket (:mod:`.live_data`) instead of HTTP polls. ``poll`` reads nothing
  over the network: it applies the queued pushes (order states to the mirror, fills once each by ``tid``, funding)
  and returns the latest pushed book, dated by its arrival. While the connection is down, and after a reconnection
  until a book arrived on the new connection, ``poll`` returns None, so the pipeline's data-age check goes stale.
  A reconnection sets ``reconcile_due`` (the runner reconciles, reading fills over HTTP: pushes may have been
  missed). Without a gap a reconciliation reads only position and open orders (22 weight instead of ~62). Fills of
  the account from before the run (the ``userFills`` snapshot) are not the run's and are skipped.
* **Actions** go over HTTP. Measured with ``benchmarks/live_latency.py`` against the loopback exchange, the same
  signed actions over HTTP and as websocket ``post`` requests take about the same time (median round trip 1.8 / 1.3
  ms at 0 ms injected, 53.6 / 52.7 ms at 50 ms, 203.8 / 202.7 ms at 200 ms): the websocket would save about 1 ms of
  a round trip, and HTTP keeps
  actions apart from the market-data connection, whose reconnection would otherwise leave every action in flight
  of unknown outcome. A cancel travels on a thread of its own: a placement or modify on the other side goes out
  while it is in flight (one round trip for both); one on the same side waits for it (never two quotes of a side
  at once), and so does every other call. Nonces stay unique and increasing in the order the actions are signed;
  they may arrive out of order, which the exchange allows (above the least of the signer's 100 highest).

* **Orders** are post-only (ALO), rounded by :mod:`.rounding` (bids down, asks up, sizes down, $10 minimum) before
  they leave; a level that cannot be sent is skipped without a request. A post-only rejection is a per-order status,
  so the order is simply missing from what ``place_orders`` returns. Placement is one bulk ``order`` action, modifies
  are ``batchModify`` (cancel-and-replace: the order gets a new oid) of at most ``max_batch`` orders, and a modify
  whose rounded price and size equal the resting order's is not sent at all. A modify the exchange rejects leaves
  nothing resting for that level: the old order is cancelled too, so a rejected replace never leaves a stale quote.
  When every order of a batch fails for a reason other than post-only (or the order being gone already), the call
  raises VenueError so the pipeline's error breaker counts it; a partial failure does not. A ``QuoteLevel`` with
  ``reduce_only`` goes out with ``"r": true``.
* **Client order ids**: every order (and every modify's replacement) carries a cloid ``0x`` + ``cloid_prefix`` + 24
  hex digits (milliseconds and a counter, so unique across restarts). The venue adopts, modifies and cancels only
  orders whose cloid starts with its prefix; any other order of the coin (placed by hand, another bot) is reported
  once (event ``foreign_order``) and never touched, also not by ``cancel_all_orders``.
* **Unknown outcomes**: an order, modify or cancel action that timed out, got a 5xx or an unreadable answer may or
  may not have been executed. Its orders' cloids are kept as *pending*; the next poll (or the next place or modify)
  asks ``orderStatus`` for each before anything is sent again: a resting one is adopted, one the exchange never
  took is forgotten. Until a side's pending orders are resolved nothing is placed or modified on that side, and a
  call that resolved them sends nothing more on that side (the pipeline's view did not include them): never a
  duplicate order.
* **Mirror**: ``get_open_orders`` answers from a local copy kept up to date by action answers and fills, and
  replaced by ``frontendOpenOrders`` every ``resync_s``, or at the next poll after an action whose outcome is
  uncertain or a per-order error. The snapshot used is always requested after this venue's last action.
* **Fills** come from the client's account-wide fill log (``userFillsByTime``); the run's fills are this coin's
  fills of the bot's orders (cloid prefix or an oid it knew) since connect, delivered once each by trade id
  (``Fill.tid``). Each tick reads the account's position (clearinghouseState, weight 2, shared by the process's
  venues); when it moved, the fill log is polled at once, otherwise every ``fills_poll_s`` as a backstop.
* **Reconciliation** (``reconcile()``, every ``reconcile_s`` and after errors): position (clearinghouseState), the
  bot's open orders (frontendOpenOrders) and the run's fills (userFillsByTime from the start, by tid) are compared
  with the venue's beliefs; the exchange's truth is adopted, each difference reported (event
  ``reconcile_difference``), fills it finds (late ones too) are delivered through ``fills_since``, and the run's
  funding payments (``userFunding``) are booked into :attr:`funding`. An unreadable answer is a VenueError.
  These reads are the account's, not the coin's: at start (after every venue connected) and after a reconnection,
  the account's venues share one read of each (:meth:`HyperliquidClient.account_reads`), sent after the venue
  connected or the connection came back; otherwise a venue reads afresh.
* **Dead man's switch**: ``arm_dead_mans_switch`` arms ``scheduleCancel``; when the exchange refuses it (new
  accounts with little volume) it returns False and the runner starts the guardian process (:meth:`guardian`).
  ``disconnect`` never clears it: ``disarm_dead_mans_switch`` does, called after a verified cancel.
* **Stop**: ``cancel_all_orders`` cancels the bot's orders, each once (an order confirmed gone is never cancelled
  again), waits out a 429 cooldown rather than re-sending into it, and verifies with ``frontendOpenOrders`` that
  none of the bot's orders rests (VenueError when it cannot within ``cancel_deadline_s``); then it reads the run's
  fills from the start, so a late fill still reaches the result. The venues of an account stopping together share
  these reads when sent after each one's stop began (the open orders; one its cancel confirmed gone is no target)
  and after its last cancel's answer (the fills).
* **Metadata**: ``refresh_metadata`` reloads ``meta`` and reports what changed; when this coin's szDecimals
  changed, resting orders that no longer fit the rules are cancelled, and later orders round with the new value.
  An order refused for its price or size schedules a refresh at the next poll.
* ``notify`` (set by the live runner to :meth:`botmm.pipeline.Pipeline.event`) reports rare events: ``reconciled``,
  ``foreign_order``, ``metadata_changed``, ``dead_mans_switch``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional, Sequence

from botmm import (AssetConfig, Book, Fill, GuardianSpec, Market, Order, Position, QuoteLevel, Reconciliation, Secret,
                   Side, VenueError)
from botmm.exchange import FundingPayment

from .budget import RateBudget
from .client import (
    MARKET_SHARE,
    OPTIONAL_SHARE,
    ClientSettings,
    HyperliquidClient,
    OrderSpec,
    RateLimited,
    Refused,
    Uncertain,
    close_client,
    open_client,
    positions_of,
)
from .config import HyperliquidParams
from .live_data import BookView, LiveData, close_live_data, open_live_data
from .reaction import ReactionTimes
from .rounding import is_valid_price, is_valid_size, order_size, round_price, round_size
from .stream import StreamSettings
from .symbols import to_coin

log = logging.getLogger("botmm.hyperliquid")

ALO_REJECTED = "Post only order would have immediately matched"
GONE = ("never placed, already canceled, or filled", "canceled or filled order")
RULE_ERRORS = ("invalid size", "invalid price", "tick size", "minimum value", "szdecimals")
PENDING_POLLS = 3  # polls that keep reading fills after the position moved and no fill had arrived yet
GUARDIAN_MODULE = "botmm.plugins.exchanges.hyperliquid.guardian"
_SEQUENCE = itertools.count()  # shared by every venue of the process: two orders never get the same cloid
POSITION_TOLERANCE = 1e-9
WS_PING_S = 5.0  # the venue's websocket pings this often ...
WS_STALE_S = 15.0  # ... and reconnects after this long without any message


def _gone(status: Any) -> bool:
    """Whether an order status says the order no longer exists (filled or cancelled meanwhile)."""
    return any(text in str(status) for text in GONE)


def new_cloid(prefix: str) -> str:
    """A client order id: ``0x``, the 8-digit ``prefix``, 12 hex digits of milliseconds and 12 of a counter."""
    return f"0x{prefix}{int(time.time() * 1000) % 16 ** 12:012x}{next(_SEQUENCE) % 16 ** 12:012x}"


class FundingLog:
    """The account's funding payments of one coin, in time order (a :class:`botmm.protocols.FundingLedger`)."""

    def __init__(self) -> None:
        self.payments: list[FundingPayment] = []
        self._seen: set[tuple] = set()

    def add(self, entry: dict) -> bool:
        """Book one ``userFunding`` entry (``usdc`` received; negative: paid) unless booked already (by time and
        coin: the websocket's ``userFundings`` carries no hash)."""
        key = (int(entry["time"]), entry["delta"]["coin"])  # one payment per coin and hour: HTTP and push agree
        if key in self._seen:
            return False
        self._seen.add(key)
        delta = entry["delta"]
        amount, szi, rate = -float(delta["usdc"]), float(delta["szi"]), float(delta["fundingRate"])
        mark = amount / (szi * rate) if szi and rate else 0.0
        self.payments.append(FundingPayment(int(entry["time"]), szi, mark, amount))
        return True

    def since(self, cursor: int) -> tuple[list[FundingPayment], int]:
        return self.payments[cursor:], len(self.payments)


class HyperliquidVenue:
    """One coin of one account on Hyperliquid; see the module docstring."""

    def __init__(self, params: HyperliquidParams, asset: AssetConfig, key: Secret):
        self.params, self.asset = params, asset
        self.max_batch = params.max_batch
        self.heartbeat_s = params.heartbeat_s
        self.reconcile_s = params.reconcile_s
        self.metadata_refresh_s = params.metadata_refresh_s
        self.notify: Optional[Callable[..., None]] = None
        self.funding = FundingLog()
        self.client: Optional[HyperliquidClient] = None
        self.coin = ""
        self.sz_decimals = 0
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.stats: Counter[str] = Counter()
        self._key = key
        self._mine = "0x" + params.cloid_prefix
        self._universe: dict[str, int] = {}
        self._lock = threading.RLock()
        self._halted = False
        self._dirty = True
        self._synced = 0.0  # monotonic: when the frontendOpenOrders request behind the mirror was sent
        self._last_action = 0.0  # monotonic: when the last action's answer (or failure) came back
        self._fill_cursor = 0
        self._start_ms = 0
        self._fresh_after = 0.0  # monotonic: a full reconciliation may use the account's reads sent after this
        self._position: Optional[float] = None  # the last clearinghouseState size seen (detects fills)
        self._believed: Optional[float] = None  # the position as the venue accounts it: reconciled + own fills
        self._pending: dict[str, tuple[Side, Optional[int]]] = {}  # cloid -> (side, oid it replaces)
        self._oids: set[int] = set()  # every oid of the bot's orders this run
        self._tids: set[int] = set()  # every fill delivered
        self._foreign: set[int] = set()  # foreign orders already reported
        self._reconciled = False
        self._pending_fills = 0
        self._meta_stale = False
        self._market: Optional[Market] = None
        self._warned: set[str] = set()
        self.live: Optional[LiveData] = None  # the process's push data (exchange.websocket)
        self.reconcile_due = False  # the push data had a gap: the runner reconciles over HTTP at the next tick
        self._listeners: list[Callable[[], None]] = []
        self._inbox: deque[tuple[str, dict]] = deque()  # pushed account entries of this coin, drained by poll
        self._generation = 0  # the push connection the venue last saw
        self._gap = False  # pushed fills may be missing: the next reconciliation reads fills over HTTP
        self._view: Optional[BookView] = None
        self.reaction = ReactionTimes()  # pushed book -> first action written after it
        self._closed: set[int] = set()  # oids known gone: a late (reordered) "open" update never revives one
        self._cancels = ThreadPoolExecutor(1, thread_name_prefix=f"botmm-cancel-{asset.symbol}")
        self._reads = ThreadPoolExecutor(1, thread_name_prefix=f"botmm-read-{asset.symbol}")  # a read beside another
        self._inflight: Optional[tuple[set[Side], Future]] = None  # a cancel on its way, and its orders' sides

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Load meta once (shared per account), map the symbol to a listed coin, and start the fill log."""
        from eth_account import Account

        wallet = Account.from_key(self._key.reveal())
        p = self.params
        settings = ClientSettings(p.base_url, p.is_mainnet, p.timeout_s, p.weight_budget, p.fills_poll_s)
        client = open_client(settings, wallet, p.account_address or wallet.address)
        try:
            self._universe = dict(client.sz_decimals)
            self.coin = to_coin(self.asset.symbol, self._universe)
        except BaseException:
            close_client(client)
            raise
        self.client = client
        self.sz_decimals = self._universe[self.coin]
        self._fill_cursor = len(client.fill_log)
        self._start_ms = int(time.time() * 1000)
        self._fresh_after = time.monotonic()
        if p.websocket:
            self._open_push(client)
        log.info("[%s] connected to %s as %s (coin %s, szDecimals %d, cloid prefix %s)", self.asset.symbol,
                 p.base_url, client.account, self.coin, self.sz_decimals, p.cloid_prefix)

    @property
    def state_key(self) -> str:
        """The account (lowercase) and coin, e.g. ``0xabc...-ETH``: names the file of limits kept across restarts
        (read it after ``connect``, which maps the symbol to the coin)."""
        if self.client is not None:
            account = self.client.account
        else:
            from eth_account import Account

            account = self.params.account_address or Account.from_key(self._key.reveal()).address
        return f"{account.lower()}-{self.coin or self.asset.symbol}"

    @property
    def budget(self) -> Optional[RateBudget]:
        """The account's rate budget (IP weight and address requests); the pipeline degrades on its pressure."""
        return self.client.rate if self.client is not None else None

    @property
    def orders_confirmed(self) -> bool:
        """Whether the local mirror of resting orders is the exchange's: no action of unknown outcome unresolved and
        no resynchronisation due (the status server's health check)."""
        return not self._dirty and not self._pending

    def halt(self) -> None:
        """Refuse every later place and modify (shutdown): only cancels go out from now on."""
        self._halted = True

    def disconnect(self) -> None:
        """Release the client. The dead man's switch stays as it is (see :meth:`disarm_dead_mans_switch`)."""
        try:
            self._settle()
        except VenueError:
            pass  # the stop verified (or reported) what rests
        client, self.client = self.client, None
        if client is None:
            return
        live, self.live = self.live, None
        if live is not None:
            close_live_data(live)
        log.info("[%s] disconnected; %s", self.asset.symbol,
                 ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())) or "no rejections")
        close_client(client)

    def _client(self) -> HyperliquidClient:
        if self.client is None:
            raise VenueError(f"{self.asset.symbol}: the Hyperliquid venue is not connected")
        return self.client

    def _notify(self, event: str, **data: Any) -> None:
        log.info("[%s] %s %s", self.asset.symbol, event, data)
        if self.notify is not None:
            self.notify(event, **data)

    def _is_mine(self, entry: dict) -> bool:
        return str(entry.get("cloid") or "").startswith(self._mine)

    # -- market data -------------------------------------------------------------------------------------------
    def poll(self, now_ms: int) -> Market | None:
        """The book, after resolving pending orders and resynchronising the mirror when due. Over HTTP: read the
        book (l2Book) and new fills. With the websocket: take the pushed fills, order states and funding, and the
        latest pushed book (None while disconnected or until a book arrived on the current connection)."""
        client = self._client()
        self._settle()
        if self._meta_stale:
            self._meta_stale = False
            changes = self.refresh_metadata()
            if changes:
                self._notify("metadata_changed", **changes)
        if self.live is not None:
            self._watch_connection()
            self._drain()
            self._try_resolve()
            self._resync_if_due()
            return self._pushed_market()
        book = client.info({"type": "l2Book", "coin": self.coin})
        self._try_resolve()
        self._resync_if_due()
        self._take_fills()
        return self._to_market(book, now_ms)

    def _to_market(self, book: Any, now_ms: int) -> Market | None:
        try:
            bids = [(float(lv["px"]), float(lv["sz"])) for lv in book["levels"][0]]
            asks = [(float(lv["px"]), float(lv["sz"])) for lv in book["levels"][1]]
            ts = min(int(book.get("time") or now_ms), now_ms)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise VenueError(f"l2Book {self.coin}: unexpected answer {str(book)[:80]}") from None
        return self._market_of(bids, asks, ts)

    def _market_of(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]], ts: int) -> Market | None:
        """The market view of one book at ``ts`` (ms)."""
        if not bids or not asks:
            return self._market  # a one-sided book: keep the last view (the risk check sees its age)
        mid = 0.5 * (bids[0][0] + asks[0][0])
        prev = self._market.close if self._market is not None else mid
        self._market = Market(ts, bids[0][0], asks[0][0], prev, max(prev, mid), min(prev, mid), mid, 0.0,
                              bids[0][1], asks[0][1], Book(bids, asks))
        return self._market

    # -- push data (exchange.websocket) -----------------------------------------------------------------------
    def watch(self, on_change: Callable[[], None]) -> bool:
        """Call ``on_change`` (from the stream's thread) when this coin's book changes or one of its orders, fills
        or funding payments is pushed. False over HTTP: nothing is pushed, the runner ticks every interval."""
        self._listeners.append(on_change)
        return self.params.websocket

    def _open_push(self, client: HyperliquidClient) -> None:
        p = self.params
        self.live = live = open_live_data(StreamSettings(p.ws_url, WS_PING_S, WS_STALE_S), p.timeout_s)
        if not live.connected:
            log.warning("[%s] websocket %s not connected yet (retrying): no market data until it is",
                        self.asset.symbol, p.ws_url)
        self._generation = live.generation
        live.watch_book(self.coin, self._changed)
        live.watch_account(client.account, self._pushed("order"), self._pushed("fill"), self._pushed("funding"))

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _pushed(self, kind: str) -> Callable[[list[dict[str, Any]]], None]:
        """A stream callback queueing this coin's entries of ``kind`` for the next poll (the stream's thread never
        waits for the venue's lock, which an action holds for a whole round trip). It wakes the runner unless every
        entry is an order update the mirror already shows (the echo of the bot's own action)."""
        def take(entries: list[dict[str, Any]]) -> None:
            mine = [entry for entry in entries if (entry["order"] if kind == "order" else entry)["coin"] == self.coin]
            self._inbox.extend((kind, entry) for entry in mine)
            if any(kind != "order" or not self._shown(entry) for entry in mine):
                self._changed()
        return take

    def _shown(self, update: dict) -> bool:
        """Whether the mirror already shows an order update: an order it holds opening, one it dropped closing."""
        oid = int(update["order"]["oid"])
        return oid in self.orders if update["status"] == "open" else oid in self._closed

    def _watch_connection(self) -> None:
        """A new connection (a reconnect) may have missed pushes: reconcile over HTTP, fills included."""
        generation = self.live.generation
        if generation != self._generation:
            self._generation, self._gap, self._dirty, self.reconcile_due = generation, True, True, True
            self._fresh_after = self.live.connected_at  # what a read sent since the reconnection shows covers the gap
            self._notify("websocket_connected", generation=generation)

    def _pushed_market(self) -> Market | None:
        """The latest pushed book, dated by its arrival; None while disconnected or until the current connection
        delivered one (the pipeline's data-age check turns a gap into the stale-data risk state)."""
        live, view = self.live, self.live.books.get(self.coin)
        if not live.connected or view is None or view.recv_ns < live.connected_ns:
            return None
        if view is not self._view:
            self._view = view
            return self._market_of(view.bids, view.asks, view.recv_ns // 1_000_000)
        return self._market

    def _drain(self) -> None:
        """Apply the pushed entries in arrival order: order states to the mirror, fills once each by trade id, and
        funding payments."""
        with self._lock:
            while self._inbox:
                kind, entry = self._inbox.popleft()
                if kind == "order":
                    self._order_update(entry)
                elif kind == "fill":
                    self._record_fill(entry)
                else:
                    self.funding.add({"time": entry["time"], "delta": {
                        "coin": entry["coin"], "usdc": entry["usdc"], "szi": entry["szi"],
                        "fundingRate": entry["fundingRate"]}})

    def _order_update(self, update: dict) -> None:
        """One ``orderUpdates`` entry of this coin: an order of the bot starts resting, or stops."""
        raw, status = update["order"], update["status"]
        if not self._is_mine(raw):
            return  # reported once by the next resynchronisation
        oid, cloid = int(raw["oid"]), str(raw.get("cloid") or "")
        self._oids.add(oid)
        pending = self._pending.pop(cloid, None)
        if status == "open" and oid not in self._closed:
            self.orders.setdefault(oid, self._order(raw))
            if pending is not None and pending[1] is not None:
                self.orders.pop(pending[1], None)
        elif status != "open":
            self._closed.add(oid)
            self.orders.pop(oid, None)

    # -- unknown outcomes --------------------------------------------------------------------------------------
    def _uncertain(self, specs: Sequence[tuple[Side, OrderSpec, Optional[int]]]) -> None:
        """An action whose outcome is unknown: remember its orders until :meth:`_resolve` learns their fate."""
        for side, spec, replaces in specs:
            self._pending[spec.cloid] = (side, replaces)
        self._dirty = True
        log.warning("[%s] outcome of %d order(s) unknown: asking the exchange by cloid before sending more",
                    self.asset.symbol, len(specs))

    def _resolve(self) -> None:
        """Ask ``orderStatus`` for every pending cloid: adopt the resting ones, forget the others."""
        client = self._client()
        for cloid, (side, replaces) in list(self._pending.items()):
            status, order = client.order_status(cloid)
            with self._lock:
                if status == "open" and order is not None:
                    adopted = self._order(order)
                    self.orders[adopted.oid] = adopted
                    self._oids.add(adopted.oid)
                    if replaces is not None:
                        self.orders.pop(replaces, None)
                elif order is not None:
                    self._oids.add(int(order["oid"]))
                    if status == "filled":
                        self._pending_fills = PENDING_POLLS
                if replaces is not None:
                    self._dirty = True  # did the replaced order stay? the next resync says
                self._pending.pop(cloid, None)  # a verified cancel-all may have cleared it meanwhile
                log.info("[%s] order %s resolved: %s", self.asset.symbol, cloid, status)

    def _try_resolve(self) -> None:
        if not self._pending:
            return
        try:
            self._resolve()
        except VenueError as exc:
            log.warning("[%s] pending orders not resolved yet (%s); nothing is sent on their side", self.asset.symbol,
                        exc)

    def _blocked_sides(self) -> set[Side]:
        """Sides on which nothing may be sent now: those that had orders of unknown outcome when the call began."""
        blocked = {side for side, _ in self._pending.values()}
        self._try_resolve()
        return blocked

    # -- mirror ------------------------------------------------------------------------------------------------
    def _resync_if_due(self) -> None:
        now = time.monotonic()
        if not self._dirty and now - self._synced < self.params.resync_s:
            return
        share = MARKET_SHARE if self._dirty else OPTIONAL_SHARE
        sent_after = max(self._last_action, now - self.params.resync_s / 2)
        try:
            raw = self._client().open_orders(sent_after, share)
        except VenueError:
            if self._dirty:
                raise
            return  # a backstop resync waits for budget
        self._load_orders(raw, now)

    def _order(self, entry: dict) -> Order:
        """A ``frontendOpenOrders`` entry as an :class:`Order`."""
        oid, size = int(entry["oid"]), float(entry["sz"])
        known = self.orders.get(oid)
        orig = float(entry.get("origSz") or 0.0)
        filled = round(orig - size, 12) if orig else (known.filled if known else 0.0)
        return Order(oid, Side.BUY if entry["side"] == "B" else Side.SELL, float(entry["limitPx"]), size,
                     int(entry.get("timestamp") or 0), filled, str(entry.get("cloid") or ""))

    def _load_orders(self, raw: list[dict], sent: float) -> list[str]:
        """Replace the mirror with the bot's resting orders of this coin in ``raw``; report foreign ones once.
        Returns what differed from the mirror, one line each."""
        with self._lock:
            mirror: dict[int, Order] = {}
            for entry in raw:
                if entry.get("coin") != self.coin:
                    continue
                if self._is_mine(entry):
                    order = self._order(entry)
                    mirror[order.oid] = order
                elif int(entry["oid"]) not in self._foreign:
                    self._foreign.add(int(entry["oid"]))
                    self._notify("foreign_order", coin=self.coin, oid=int(entry["oid"]), side=entry.get("side"),
                                 price=float(entry.get("limitPx") or 0.0), size=float(entry.get("sz") or 0.0))
            added, gone = sorted(mirror.keys() - self.orders.keys()), sorted(self.orders.keys() - mirror.keys())
            differences = [f"order {oid}: ours absent, exchange's resting" for oid in added]
            differences += [f"order {oid}: ours resting, exchange's absent" for oid in gone]
            if differences:
                log.info("[%s] resync: %d resting order(s) not in the mirror, %d gone", self.asset.symbol,
                         len(added), len(gone))
                self.stats["resync_corrections"] += 1
            self.orders = mirror
            self._oids.update(mirror)
            for order in mirror.values():  # a pending order seen resting is resolved
                self._pending.pop(order.cloid, None)
            self._dirty = False
            self._synced = sent
            return differences

    def get_open_orders(self) -> list[Order]:
        self._settle()  # a cancel in flight ends before the orders are read
        return list(self.orders.values())

    # -- fills -------------------------------------------------------------------------------------------------
    def _take_fills(self) -> None:
        client = self._client()
        force = self._pending_fills > 0
        if self.params.account_poll_s >= 0:
            size = client.positions(self.params.account_poll_s).get(self.coin, (0.0, 0.0))[0]
            if self._position is not None and abs(size - self._position) > 1e-12:
                force, self._pending_fills = True, PENDING_POLLS
            self._position = size
        fresh = self._ingest(client.poll_fills(force))
        if fresh:
            self._pending_fills = 0
        elif force:
            self._pending_fills = max(0, self._pending_fills - 1)

    def _ingest(self, end: int) -> int:
        """Record the run's fills of the client's log up to ``end``, once each; how many were new."""
        with self._lock:
            log_ = self._client().fill_log
            fresh = [raw for raw in log_[self._fill_cursor:end] if self._record_fill(raw)]
            self._fill_cursor = max(self._fill_cursor, end)
            return len(fresh)

    def _ours(self, raw: dict) -> bool:
        """Whether an account fill belongs to this run: this coin, the bot's order, since connect."""
        return (raw.get("coin") == self.coin and int(raw["time"]) >= self._start_ms
                and (self._is_mine(raw) or int(raw["oid"]) in self._oids))

    def _record_fill(self, raw: dict) -> bool:
        """Deliver one fill of the run unless it was delivered already (by trade id); whether it was new."""
        tid = int(raw.get("tid") or 0)
        if not self._ours(raw) or tid in self._tids:
            return False
        self._tids.add(tid)
        oid, size = int(raw["oid"]), float(raw["sz"])
        side = Side.BUY if raw["side"] == "B" else Side.SELL
        self.fills.append(Fill(int(raw["time"]), oid, side, float(raw["px"]), size, float(raw.get("fee") or 0.0),
                               not raw.get("crossed", False), tid))
        if self._believed is not None:
            self._believed += size if side is Side.BUY else -size
        order = self.orders.get(oid)
        if order is not None:
            order.size = round_size(order.size - size + 1e-12, self.sz_decimals)
            order.filled = round(order.filled + size, 12)
            if order.size <= 0:
                del self.orders[oid]
        return True

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        return self.fills[cursor:], len(self.fills)

    def get_position(self) -> Position:
        size, entry = self._client().positions(self.params.account_poll_s).get(self.coin, (0.0, 0.0))
        return Position(size, entry)

    # -- reconciliation ----------------------------------------------------------------------------------------
    def reconcile(self) -> Reconciliation:
        """Compare position, the bot's resting orders, the run's fills and funding with the exchange, adopt the
        exchange's truth and report each difference. ``position`` is the exchange's as of the fills read here:
        every fill in it has been delivered through ``fills_since``.

        With the websocket and no gap since the last reconciliation it is lighter (position and open orders,
        22 weight instead of ~62: fills and funding are pushed); a position that differs from the pushed fills'
        falls back to the full reconciliation, which reads the fills over HTTP."""
        self._settle()
        fresh_after = self._fresh_after if not self._reconciled or self._gap else time.monotonic()
        if self.live is not None and self._reconciled and not self._gap:
            found = self._reconcile_light()
            if found is not None:
                return found
        found = self._reconcile_full(fresh_after)
        self._gap = self.reconcile_due = False
        return found

    def _reconcile_light(self) -> Reconciliation | None:
        """Position and open orders against the pushed fills and order states; None when the position differs."""
        client = self._client()
        sent = time.monotonic()
        orders = self._reads.submit(client.open_orders, sent, MARKET_SHARE)  # beside the position: one round trip
        try:
            size, entry = client.positions(0.0).get(self.coin, (0.0, 0.0))
            snap_ms = int(client.account_state(60.0).get("time") or time.time() * 1000)
        finally:
            raw_orders = orders.result()
        self._drain()
        with self._lock:
            later = sum(f.size if f.side is Side.BUY else -f.size for f in self.fills if f.ts > snap_ms)
            exchange = round(size + later, 12)
            if self._believed is None or abs(self._believed - exchange) > POSITION_TOLERANCE:
                return None
            self._position = size
            differences = self._load_orders(raw_orders, sent)
            foreign = len([o for o in raw_orders if o.get("coin") == self.coin and not self._is_mine(o)])
            return Reconciliation(exchange, entry, len(self.orders), foreign, differences)

    def _reconcile_full(self, fresh_after: float) -> Reconciliation:
        """Position, fills and funding from the account's reads sent after ``fresh_after`` (shared with its other
        venues: at start and after a reconnection, when every venue reconciles, they read once), open orders from
        a read sent after that and after this venue's last action."""
        client = self._client()
        self._drain()
        reads = client.account_reads(self._start_ms, fresh_after)
        size, entry = positions_of(reads.state).get(self.coin, (0.0, 0.0))
        self._position = size
        snap_ms = int(reads.state.get("time") or reads.asked_ms)
        sent = max(fresh_after, self._last_action)
        raw_orders = client.open_orders(sent, MARKET_SHARE)
        fills, payments = reads.fills, reads.funding
        differences: list[str] = []
        with self._lock:
            for raw in sorted(fills, key=lambda f: int(f["time"])):
                if self._record_fill(raw):
                    differences.append(f"fill {raw.get('tid')}: ours missing, exchange's {raw['side']} {raw['sz']} "
                                       f"@ {raw['px']} (oid {raw['oid']})")
            changed = self._load_orders(raw_orders, sent)
            differences += changed if self._reconciled else []  # at start, adopting orders is no difference
            later = sum((1 if f["side"] == "B" else -1) * float(f["sz"]) for f in fills
                        if f.get("coin") == self.coin and int(f["time"]) > snap_ms)
            exchange = round(size + later, 12)
            if self._believed is not None and abs(self._believed - exchange) > POSITION_TOLERANCE:
                differences.append(f"position: ours {self._believed:g}, exchange's {exchange:g}")
            self._believed = exchange
            for payment in payments:
                if payment["delta"].get("coin") == self.coin:
                    self.funding.add(payment)
            mine = len(self.orders)
            foreign = len([o for o in raw_orders if o.get("coin") == self.coin and not self._is_mine(o)])
        if not self._reconciled:
            self._reconciled = True
            self._notify("reconciled", coin=self.coin, open_orders=mine, position=exchange, avg_entry=entry)
        return Reconciliation(exchange, entry, mine, foreign, differences)

    # -- orders ------------------------------------------------------------------------------------------------
    def _rounded(self, level: QuoteLevel) -> tuple[float, float]:
        """The (price, size) to send for ``level``; size 0.0 when the level cannot be sent."""
        price = round_price(level.price, self.sz_decimals, level.side is Side.BUY)
        size = order_size(price, level.size, self.sz_decimals, self.params.min_order_value) if price > 0 else 0.0
        if size <= 0:
            self.stats["skipped"] += 1
            reason = "price" if price <= 0 else "value"
            if reason not in self._warned:
                self._warned.add(reason)
                log.warning("[%s] level %s %g @ %g not sent: below the minimum %s", self.asset.symbol,
                            level.side.name, level.size, level.price,
                            "price" if reason == "price" else f"order value ${self.params.min_order_value:g}")
        return price, size

    def _spec(self, level: QuoteLevel, price: float, size: float) -> OrderSpec:
        return OrderSpec(self.coin, level.side is Side.BUY, size, price, new_cloid(self.params.cloid_prefix),
                         bool(level.reduce_only))

    def _acted(self, began_ns: int = 0) -> None:
        """An action's answer (or failure) came back. An order or modify written since ``began_ns`` (time_ns)
        answers the latest pushed book: its reaction time is counted (once per book)."""
        self._last_action = time.monotonic()
        written = self._client().written_ns() if began_ns else 0
        if written >= began_ns > 0 and self._view is not None:
            self.reaction.answer(self._view.recv_ns, written)

    def reaction_report(self) -> dict[str, Any]:
        """How fast pushed books were answered (:mod:`.reaction`)."""
        return self.reaction.report()

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        self._settle({level.side for level in levels})
        with self._lock:
            if self._halted:
                return []
            blocked = self._blocked_sides()
            todo = []
            for level in levels:
                if level.side in blocked:
                    continue
                price, size = self._rounded(level)
                if size > 0:
                    todo.append((level.side, self._spec(level, price, size)))
            if not todo:
                return []
            began = time.time_ns()
            try:
                statuses = self._client().place([spec for _, spec in todo])
            except Uncertain:
                self._uncertain([(side, spec, None) for side, spec in todo])
                raise
            finally:
                self._acted(began)
            placed = []
            for (side, spec), status in zip(todo, statuses):
                order = self._accepted(status, side, spec, now_ms)
                if order is not None:
                    placed.append(order)
            self._check_batch(statuses, "order")
            return placed

    def _accepted(self, status: Any, side: Side, spec: OrderSpec, now_ms: int) -> Order | None:
        """Record one order status in the mirror; the resting order, or None."""
        if isinstance(status, dict) and "resting" in status:
            order = Order(int(status["resting"]["oid"]), side, spec.price, spec.size, now_ms, 0.0, spec.cloid)
            self.orders[order.oid] = order
            self._oids.add(order.oid)
            return order
        if isinstance(status, dict) and "filled" in status:
            self._oids.add(int(status["filled"].get("oid") or 0))
            self._pending_fills = PENDING_POLLS  # executed at once: its fill is read at the next poll
            return None
        if _gone(status):
            self.stats["gone"] += 1
            self._pending_fills = PENDING_POLLS  # most likely filled: read fills at the next poll
            return None
        self._order_error(status)
        return None

    def _order_error(self, status: Any) -> None:
        message = status.get("error", str(status)) if isinstance(status, dict) else str(status)
        if ALO_REJECTED in message:
            self.stats["alo_rejected"] += 1
            return
        self.stats["order_errors"] += 1
        self._dirty = True
        if any(word in message.lower() for word in RULE_ERRORS):
            self._meta_stale = True
        log.warning("[%s] order refused: %s", self.asset.symbol, message)

    def _check_batch(self, statuses: list[Any], what: str) -> None:
        errors = [s["error"] for s in statuses if isinstance(s, dict) and "error" in s]
        if statuses and len(errors) == len(statuses) and any(ALO_REJECTED not in e and not _gone(e) for e in errors):
            raise VenueError(f"{self.coin} {what}: every order refused ({errors[0]})")

    def modify_orders(self, changes: Sequence[tuple[int, QuoteLevel]], now_ms: int) -> list[Order]:
        self._settle({level.side for _, level in changes})
        with self._lock:
            if self._halted:
                return []
            blocked = self._blocked_sides()
            todo, unsendable, kept = [], [], []
            for oid, level in changes:
                old = self.orders.get(oid)
                if old is None or level.side in blocked:
                    continue  # gone since the pipeline looked, or its side unresolved: the next tick decides
                price, size = self._rounded(level)
                if size <= 0:
                    unsendable.append(oid)
                elif price == old.price and abs(size - (old.size + old.filled)) < 10 ** -(self.sz_decimals + 3):
                    kept.append(old)
                    self.stats["modify_unchanged"] += 1
                else:
                    todo.append((oid, level.side, self._spec(level, price, size)))
            if unsendable:
                self._cancel(unsendable)
            replaced = list(kept)
            for start in range(0, len(todo), self.max_batch):
                replaced.extend(self._modify_batch(todo[start:start + self.max_batch], now_ms))
            return replaced

    def _modify_batch(self, batch: list[tuple[int, Side, OrderSpec]], now_ms: int) -> list[Order]:
        began = time.time_ns()
        try:
            statuses = self._client().modify([(oid, spec) for oid, _, spec in batch])
        except Uncertain:
            self._uncertain([(side, spec, oid) for oid, side, spec in batch])
            raise
        finally:
            self._acted(began)
        replaced, leftovers = [], []
        for (oid, side, spec), status in zip(batch, statuses):
            self.orders.pop(oid, None)
            self._closed.add(oid)
            order = self._accepted(status, side, spec, now_ms)
            if order is not None:
                replaced.append(order)
            elif not _gone(status) and "filled" not in status:
                leftovers.append(oid)
        if leftovers:  # a refused replace: make sure the old order does not stay behind
            self._cancel(leftovers)
        self._check_batch(statuses, "batchModify")
        return replaced

    def cancel_orders(self, oids: Sequence[int]) -> None:
        """Cancel the bot's orders among ``oids``. The action goes out on a thread of its own and this returns at
        once, so a placement or modify on the other side goes out while it travels (one round trip for both); a
        call touching the same side, and every other call, first waits for it (:meth:`_settle`), where its error is
        raised."""
        self._settle()
        with self._lock:
            mine = [oid for oid in oids if oid in self.orders]
            sides = {self.orders[oid].side for oid in mine}
        if mine:
            self._inflight = (sides, self._cancels.submit(self._cancel, mine))

    def _settle(self, sides: Optional[set[Side]] = None) -> None:
        """Wait for the cancel in flight when it touches ``sides`` (None: whatever it touches); raise its error."""
        inflight = self._inflight
        if inflight is None or (sides is not None and not inflight[0] & sides):
            return
        self._inflight = None
        inflight[1].result()

    def _cancel(self, oids: list[int]) -> tuple[int, set[int]]:
        """Cancel ``oids``; how many this cancelled, and those now confirmed gone (also filled or cancelled
        before). The request goes out without the venue's lock (a placement may travel beside it)."""
        try:
            statuses = self._client().cancel([(self.coin, oid) for oid in oids])
        except Uncertain:
            self._dirty = True
            raise
        finally:
            self._acted()
        gone, done = set(), 0
        with self._lock:
            for oid, status in zip(oids, statuses):
                if status == "success" or _gone(status):
                    gone.add(oid)
                    self._closed.add(oid)
                    done += status == "success"
                    self.orders.pop(oid, None)
                else:
                    self._dirty = True
                    log.warning("[%s] cancel of %d refused: %s", self.asset.symbol, oid, status)
        return done, gone

    def cancel_all_orders(self) -> int:
        """Cancel every order of the bot in this coin, each once, and verify with ``frontendOpenOrders`` that none
        rests, until ``cancel_deadline_s``; then read the last fills. VenueError when it cannot be verified."""
        client = self._client()
        try:
            self._settle()
        except VenueError:
            pass  # what still rests is read and cancelled below
        deadline = time.monotonic() + self.params.cancel_deadline_s
        confirmed: set[int] = set()
        cancelled = 0
        with self._lock:
            began = time.monotonic()  # nothing of this venue's is in flight from here on (halted, settled, locked)
            targets, read_after = list(self.orders), began
            while True:
                try:
                    todo = [oid for oid in targets if oid not in confirmed]
                    targets = []  # after a failure nothing is re-sent before a fresh read shows it resting
                    if todo:
                        done, gone = self._cancel(todo)
                        cancelled += done
                        confirmed |= gone
                    remaining = max(deadline - time.monotonic(), 0.0)
                    # first any read sent after the stop began (another venue's too), where an order its cancel
                    # confirmed gone may still show and is no target; then each read sent after the one before
                    raw = client.open_orders(read_after, client.stop_share, remaining)
                    read_after = time.monotonic()
                    targets = [int(o["oid"]) for o in raw if o.get("coin") == self.coin and self._is_mine(o)
                               and int(o["oid"]) not in confirmed]
                    if not targets:
                        self.orders.clear()
                        self._pending.clear()  # verified: none of the bot's orders rests, pending or not
                        self._synced, self._dirty = time.monotonic(), False
                        break
                    if time.monotonic() >= deadline:
                        raise VenueError(f"{self.coin}: {len(targets)} order(s) still rest after "
                                         f"{self.params.cancel_deadline_s:g}s of cancelling")
                except RateLimited as exc:
                    self._wait_or_fail(deadline, exc, client.budget.cooling())
                except VenueError as exc:
                    if "still rest after" in str(exc):
                        raise
                    self._wait_or_fail(deadline, exc, 0.2)
        self._final_fills(deadline, max(client.orders_sent, self._last_action))
        return cancelled

    def _wait_or_fail(self, deadline: float, exc: VenueError, pause: float) -> None:
        """Sleep ``pause`` (a 429 cooldown is waited out, never re-sent into) unless that passes the deadline."""
        if time.monotonic() + pause >= deadline:
            raise VenueError(f"{self.coin}: could not verify that no order rests after "
                             f"{self.params.cancel_deadline_s:g}s ({exc})") from None
        time.sleep(max(pause, 0.05))

    def _final_fills(self, deadline: float, verified: float) -> None:
        """Read the run's fills from its start (until the deadline) with a request sent after ``verified`` (when
        none of the bot's orders rested any more: after the read that showed none and the last cancel's answer),
        so the job's result has every fill up to the cancel, late ones too, each once by trade id."""
        while self.client is not None:
            try:
                with self._lock:
                    for raw in sorted(self.client.fills_from(self._start_ms, verified, self.client.stop_share),
                                      key=lambda f: int(f["time"])):
                        self._record_fill(raw)
                return
            except VenueError as exc:
                if time.monotonic() >= deadline:
                    log.error("[%s] last fills not read (%s): see the exchange's fill history", self.asset.symbol,
                              exc)
                    return
                time.sleep(0.2)

    # -- safety ------------------------------------------------------------------------------------------------
    def arm_dead_mans_switch(self) -> bool:
        """Arm ``scheduleCancel`` ``dead_mans_switch_s`` ahead. True when armed; False when the exchange refused it
        (the runner then starts the guardian). Other failures raise VenueError."""
        seconds = self.params.dead_mans_switch_s
        try:
            self._client().arm(int(time.time() * 1000 + seconds * 1000), min_interval_s=1.0)
        except Refused as exc:
            self._notify("dead_mans_switch", armed=False, fallback="guardian", seconds=seconds, reason=str(exc))
            return False
        return True

    def disarm_dead_mans_switch(self) -> None:
        """Clear ``scheduleCancel`` once every venue sharing this account's client has asked (each after its own
        verified cancel), so one asset's stop never disarms another's orders."""
        self._client().disarm()

    def guardian(self) -> GuardianSpec:
        """The guardian process: it cancels the bot's orders (this coin, this prefix) when the bot stops beating.
        Its settings name the key's variable or file, never the key."""
        p = self.params
        settings = {"base_url": p.base_url, "account": self._client().account, "coins": [self.coin],
                    "cloid_prefix": p.cloid_prefix, "timeout_s": p.timeout_s, "is_mainnet": p.is_mainnet,
                    "key_env": p.key_env, "key_file": p.key_file}
        return GuardianSpec(module=GUARDIAN_MODULE, settings=settings, env=[p.key_env] if p.key_env else [])

    def refresh_metadata(self) -> dict[str, Any]:
        """Reload ``meta``; what changed since this venue last looked (empty when nothing did): ``sz_decimals``
        [old, new] of this coin, coins ``listed`` and ``delisted``, and how many resting orders were
        ``recancelled`` because they no longer fit the new rules."""
        self._settle()
        new = self._client().load_meta()
        old, self._universe = self._universe, dict(new)
        changes: dict[str, Any] = {}
        listed, delisted = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
        if listed:
            changes["listed"] = listed
        if delisted:
            changes["delisted"] = delisted
        if self.coin not in new:
            self.halt()
            changes["recancelled"] = self.cancel_all_orders()
            return changes
        if new[self.coin] != self.sz_decimals:
            changes["coin"] = self.coin
            changes["sz_decimals"] = [self.sz_decimals, new[self.coin]]
            self.sz_decimals = new[self.coin]
            with self._lock:
                misfits = [o.oid for o in self.orders.values() if not (
                    is_valid_price(o.price, self.sz_decimals) and is_valid_size(o.size, self.sz_decimals))]
                if misfits:
                    self._cancel(misfits)
            changes["recancelled"] = len(misfits)
        return changes
