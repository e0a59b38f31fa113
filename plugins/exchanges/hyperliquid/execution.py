"""The Hyperliquid venue: :class:`botmm.protocols.Venue` for one perp of one account.

* **Orders** are post-only (ALO), rounded by :mod:`.rounding` (bids down, asks up, sizes down, $10 minimum) before
  they leave; a level that cannot be sent is skipped without a request. A post-only rejection is a per-order status,
  so the order is simply missing from what ``place_orders`` returns. Placement is one bulk ``order`` action, modifies
  are ``batchModify`` (cancel-and-replace: the order gets a new oid) of at most ``max_batch`` orders, and a modify
  whose rounded price and size equal the resting order's is not sent at all. A modify the exchange rejects leaves
  nothing resting for that level: the old order is cancelled too, so a rejected replace never leaves a stale quote.
  When every order of a batch fails for a reason other than post-only (or the order being gone already), the call
  raises VenueError so the pipeline's error breaker counts it; a partial failure does not.
* **Mirror**: ``get_open_orders`` answers from a local copy kept up to date by action answers and fills, and
  replaced by ``openOrders`` every ``resync_s``, or at the next poll after an action whose outcome is uncertain
  (timeout, 5xx) or a per-order error. The snapshot used is always requested after this venue's last action.
* **Fills** come from the client's account-wide fill log (``userFillsByTime``, deduplicated by trade id). Each tick
  reads the account's position (clearinghouseState, weight 2, shared by the process's venues); when it moved, the
  fill log is polled at once, otherwise every ``fills_poll_s`` as a backstop. ``fills_since`` hands each fill to
  the pipeline exactly once.
* **Dead man's switch**: ``set_dead_mans_switch`` arms ``scheduleCancel``; when the exchange refuses it (new
  accounts with little volume), a client-side :class:`Watchdog` cancels this venue's orders if ``poll`` stops being
  called for ``dead_mans_switch_s``.
* **Metadata**: ``refresh_metadata`` reloads ``meta`` and reports what changed; when this coin's szDecimals
  changed, resting orders that no longer fit the rules are cancelled, and later orders round with the new value.
  An order refused for its price or size schedules a refresh at the next poll.
* ``reconcile()`` adopts the account's resting orders of the coin and reads its position before the first quote;
  ``halt()`` refuses every later place and modify (shutdown); ``cancel_all_orders()`` verifies that none rests.
* ``notify`` (set by the live runner to :meth:`botmm.pipeline.Strategy.event`) reports rare events: ``reconciled``,
  ``metadata_changed``, ``dead_mans_switch``, ``watchdog``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Callable, Optional, Sequence

from botmm.config import AssetConfig
from botmm.errors import VenueError
from botmm.model import Book, Fill, Market, Order, Position, QuoteLevel, Side
from botmm.secrets import Secret

from .client import (
    MARKET_SHARE,
    OPTIONAL_SHARE,
    ClientSettings,
    HyperliquidClient,
    Refused,
    Uncertain,
    close_client,
    open_client,
)
from .config import HyperliquidParams
from .rounding import is_valid_price, is_valid_size, order_size, round_price, round_size
from .symbols import to_coin

log = logging.getLogger("botmm.hyperliquid")

ALO_REJECTED = "Post only order would have immediately matched"
GONE = ("never placed, already canceled, or filled", "canceled or filled order")
RULE_ERRORS = ("invalid size", "invalid price", "tick size", "minimum value", "szdecimals")
PENDING_POLLS = 3  # polls that keep reading fills after the position moved and no fill had arrived yet


def _gone(status: Any) -> bool:
    """Whether an order status says the order no longer exists (filled or cancelled meanwhile)."""
    return any(text in str(status) for text in GONE)


class Watchdog:
    """Calls ``fire`` once when ``feed`` has not been called for ``timeout_s`` (re-armed by the next ``feed``): the
    client-side dead man's switch for accounts whose ``scheduleCancel`` the exchange refuses."""

    def __init__(self, timeout_s: float, fire: Callable[[], None], name: str):
        self.timeout_s, self.fire = timeout_s, fire
        self._fed = time.monotonic()
        self._fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def feed(self) -> None:
        self._fed, self._fired = time.monotonic(), False

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout_s / 4)):
            if not self._fired and time.monotonic() - self._fed > self.timeout_s:
                self._fired = True
                try:
                    self.fire()
                except Exception as exc:  # the watchdog thread must survive to fire again
                    log.error("watchdog: cancelling failed: %s", exc)

    def stop(self, join_s: float = 0.0) -> None:
        """Stop watching; wait up to ``join_s`` for a cancel in progress to finish."""
        self._stop.set()
        if join_s and self._thread is not threading.current_thread():
            self._thread.join(join_s)


class HyperliquidVenue:
    """One coin of one account on Hyperliquid; see the module docstring."""

    def __init__(self, params: HyperliquidParams, asset: AssetConfig, key: Secret):
        self.params, self.asset = params, asset
        self.max_batch = params.max_batch
        self.heartbeat_s = params.heartbeat_s
        self.metadata_refresh_s = params.metadata_refresh_s
        self.notify: Optional[Callable[..., None]] = None
        self.client: Optional[HyperliquidClient] = None
        self.coin = ""
        self.sz_decimals = 0
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.stats: Counter[str] = Counter()
        self.watchdog: Optional[Watchdog] = None
        self._key = key
        self._universe: dict[str, int] = {}
        self._lock = threading.RLock()
        self._halted = False
        self._dirty = True
        self._synced = 0.0  # monotonic: when the openOrders request behind the mirror was sent
        self._last_action = 0.0  # monotonic: when the last action's answer (or failure) came back
        self._fill_cursor = 0
        self._position: Optional[float] = None
        self._pending_fills = 0
        self._meta_stale = False
        self._market: Optional[Market] = None
        self._warned: set[str] = set()

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
        log.info("[%s] connected to %s as %s (coin %s, szDecimals %d)", self.asset.symbol, p.base_url,
                 client.account, self.coin, self.sz_decimals)

    def reconcile(self) -> dict[str, Any]:
        """Adopt the account's resting orders of this coin and read its position, before the first quote."""
        client = self._client()
        self._load_orders(client.open_orders(time.monotonic(), MARKET_SHARE), time.monotonic())
        size, entry = client.positions(0.0).get(self.coin, (0.0, 0.0))
        self._position = size
        client.poll_fills(force=True)
        self._fill_cursor = len(client.fill_log)  # fills up to the position snapshot are inside it
        found = {"open_orders": len(self.orders), "position": size, "avg_entry": entry}
        self._notify("reconciled", coin=self.coin, **found)
        return found

    def halt(self) -> None:
        """Refuse every later place and modify (shutdown): only cancels go out from now on."""
        self._halted = True

    def disconnect(self) -> None:
        """Stop the watchdog and release the client; the last venue of an account disarms the switch it armed."""
        if self.watchdog is not None:
            self.watchdog.stop(join_s=self.params.cancel_deadline_s + self.params.timeout_s)
            self.watchdog = None
        client, self.client = self.client, None
        if client is None:
            return
        log.info("[%s] disconnected; %s", self.asset.symbol,
                 ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())) or "no rejections")
        if not close_client(client):
            return
        if client.armed_until is not None:
            try:
                client.schedule_cancel(None)
            except VenueError as exc:
                log.warning("dead man's switch left armed (fires with no order resting): %s", exc)

    def _client(self) -> HyperliquidClient:
        if self.client is None:
            raise VenueError(f"{self.asset.symbol}: the Hyperliquid venue is not connected")
        return self.client

    def _notify(self, event: str, **data: Any) -> None:
        log.info("[%s] %s %s", self.asset.symbol, event, data)
        if self.notify is not None:
            self.notify(event, **data)

    # -- market data -------------------------------------------------------------------------------------------
    def poll(self, now_ms: int) -> Market | None:
        """Read the book (l2Book), resynchronise the mirror when due and take new fills."""
        client = self._client()
        if self.watchdog is not None:
            self.watchdog.feed()
        if self._meta_stale:
            self._meta_stale = False
            changes = self.refresh_metadata()
            if changes:
                self._notify("metadata_changed", **changes)
        book = client.info({"type": "l2Book", "coin": self.coin})
        self._resync_if_due()
        self._take_fills()
        return self._to_market(book, now_ms)

    def _to_market(self, book: Any, now_ms: int) -> Market | None:
        try:
            bids = [(float(lv["px"]), float(lv["sz"])) for lv in book["levels"][0]]
            asks = [(float(lv["px"]), float(lv["sz"])) for lv in book["levels"][1]]
        except (KeyError, IndexError, TypeError, ValueError):
            raise VenueError(f"l2Book {self.coin}: unexpected answer {str(book)[:80]}") from None
        if not bids or not asks:
            return self._market  # a one-sided book: keep the last view (the risk check sees its age)
        mid = 0.5 * (bids[0][0] + asks[0][0])
        prev = self._market.close if self._market is not None else mid
        ts = min(int(book.get("time") or now_ms), now_ms)
        self._market = Market(ts, bids[0][0], asks[0][0], prev, max(prev, mid), min(prev, mid), mid, 0.0,
                              bids[0][1], asks[0][1], Book(bids, asks))
        return self._market

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

    def _load_orders(self, raw: list[dict], sent: float) -> None:
        with self._lock:
            mirror: dict[int, Order] = {}
            for entry in raw:
                if entry.get("coin") != self.coin:
                    continue
                oid, size = int(entry["oid"]), float(entry["sz"])
                known = self.orders.get(oid)
                orig = float(entry.get("origSz") or 0.0)
                filled = round(orig - size, 12) if orig else (known.filled if known else 0.0)
                mirror[oid] = Order(oid, Side.BUY if entry["side"] == "B" else Side.SELL, float(entry["limitPx"]),
                                    size, int(entry.get("timestamp") or 0), filled)
            added, gone = mirror.keys() - self.orders.keys(), self.orders.keys() - mirror.keys()
            if added or gone:
                log.info("[%s] resync: %d resting order(s) not in the mirror, %d gone", self.asset.symbol,
                         len(added), len(gone))
                self.stats["resync_corrections"] += 1
            self.orders = mirror
            self._dirty = False
            self._synced = sent

    def get_open_orders(self) -> list[Order]:
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
        """Record this coin's fills of the client's log up to ``end``, once each; how many there were."""
        with self._lock:
            log_ = self._client().fill_log
            fresh = [f for f in log_[self._fill_cursor:end] if f.get("coin") == self.coin]
            self._fill_cursor = max(self._fill_cursor, end)
            for raw in fresh:
                self._record_fill(raw)
            return len(fresh)

    def _record_fill(self, raw: dict) -> None:
        oid, size = int(raw["oid"]), float(raw["sz"])
        side = Side.BUY if raw["side"] == "B" else Side.SELL
        self.fills.append(Fill(int(raw["time"]), oid, side, float(raw["px"]), size, float(raw.get("fee") or 0.0),
                               not raw.get("crossed", False)))
        order = self.orders.get(oid)
        if order is not None:
            order.size = round_size(order.size - size + 1e-12, self.sz_decimals)
            order.filled = round(order.filled + size, 12)
            if order.size <= 0:
                del self.orders[oid]

    def fills_since(self, cursor: int) -> tuple[list[Fill], int]:
        return self.fills[cursor:], len(self.fills)

    def get_position(self) -> Position:
        size, entry = self._client().positions(self.params.account_poll_s).get(self.coin, (0.0, 0.0))
        return Position(size, entry)

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

    def _acted(self) -> None:
        self._last_action = time.monotonic()

    def place_orders(self, levels: Sequence[QuoteLevel], now_ms: int) -> list[Order]:
        with self._lock:
            if self._halted:
                return []
            todo = []
            for level in levels:
                price, size = self._rounded(level)
                if size > 0:
                    todo.append((level.side, price, size))
            if not todo:
                return []
            try:
                statuses = self._client().place([(self.coin, side is Side.BUY, size, price)
                                                 for side, price, size in todo])
            except Uncertain:
                self._dirty = True
                raise
            finally:
                self._acted()
            placed = []
            for (side, price, size), status in zip(todo, statuses):
                order = self._accepted(status, side, price, size, now_ms)
                if order is not None:
                    placed.append(order)
            self._check_batch(statuses, "order")
            return placed

    def _accepted(self, status: Any, side: Side, price: float, size: float, now_ms: int) -> Order | None:
        """Record one order status in the mirror; the resting order, or None."""
        if isinstance(status, dict) and "resting" in status:
            order = Order(int(status["resting"]["oid"]), side, price, size, now_ms)
            self.orders[order.oid] = order
            return order
        if isinstance(status, dict) and "filled" in status:
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
        with self._lock:
            if self._halted:
                return []
            todo, unsendable, kept = [], [], []
            for oid, level in changes:
                old = self.orders.get(oid)
                if old is None:
                    continue  # filled or gone since the pipeline looked: the next tick places afresh
                price, size = self._rounded(level)
                if size <= 0:
                    unsendable.append(oid)
                elif price == old.price and abs(size - (old.size + old.filled)) < 10 ** -(self.sz_decimals + 3):
                    kept.append(old)
                    self.stats["modify_unchanged"] += 1
                else:
                    todo.append((oid, level.side, price, size))
            if unsendable:
                self.cancel_orders(unsendable)
            replaced = list(kept)
            for start in range(0, len(todo), self.max_batch):
                replaced.extend(self._modify_batch(todo[start:start + self.max_batch], now_ms))
            return replaced

    def _modify_batch(self, batch: list[tuple[int, Side, float, float]], now_ms: int) -> list[Order]:
        try:
            statuses = self._client().modify([(oid, self.coin, side is Side.BUY, size, price)
                                              for oid, side, price, size in batch])
        except Uncertain:
            self._dirty = True
            raise
        finally:
            self._acted()
        replaced, leftovers = [], []
        for (oid, side, price, size), status in zip(batch, statuses):
            self.orders.pop(oid, None)
            order = self._accepted(status, side, price, size, now_ms)
            if order is not None:
                replaced.append(order)
            elif not _gone(status) and "filled" not in status:
                leftovers.append(oid)
        if leftovers:  # a refused replace: make sure the old order does not stay behind
            self._cancel([(self.coin, oid) for oid in leftovers])
        self._check_batch(statuses, "batchModify")
        return replaced

    def cancel_orders(self, oids: Sequence[int]) -> None:
        with self._lock:
            if oids:
                self._cancel([(self.coin, oid) for oid in oids])

    def _cancel(self, targets: list[tuple[str, int]]) -> int:
        """Cancel ``targets``; the number the exchange confirmed. Gone orders leave the mirror either way."""
        try:
            statuses = self._client().cancel(targets)
        except Uncertain:
            self._dirty = True
            raise
        finally:
            self._acted()
        done = 0
        for (_, oid), status in zip(targets, statuses):
            if status == "success":
                done += 1
                self.orders.pop(oid, None)
            elif _gone(status):
                self.orders.pop(oid, None)
            else:
                self._dirty = True
                log.warning("[%s] cancel of %d refused: %s", self.asset.symbol, oid, status)
        return done

    def cancel_all_orders(self) -> int:
        """Cancel every order of this coin and verify with ``openOrders`` that none rests, retrying until
        ``cancel_deadline_s``; then read the last fills. VenueError when it cannot be verified in time."""
        client = self._client()
        deadline = time.monotonic() + self.params.cancel_deadline_s
        cancelled = 0
        with self._lock:
            targets = list(self.orders)
            while True:
                try:
                    if targets:
                        cancelled += self._cancel([(self.coin, oid) for oid in targets])
                    remaining = deadline - time.monotonic()
                    raw = client.open_orders(time.monotonic(), 1.0, max(remaining, 0.0))
                    targets = [int(o["oid"]) for o in raw if o.get("coin") == self.coin]
                    if not targets:
                        self.orders.clear()
                        self._synced, self._dirty = time.monotonic(), False
                        break
                except VenueError as exc:
                    if time.monotonic() >= deadline:
                        raise VenueError(f"{self.coin}: could not verify that no order rests after "
                                         f"{self.params.cancel_deadline_s:g}s ({exc})") from None
                    time.sleep(0.2)
                    targets = targets or list(self.orders)
                else:
                    if time.monotonic() >= deadline:
                        raise VenueError(f"{self.coin}: {len(targets)} order(s) still rest after "
                                         f"{self.params.cancel_deadline_s:g}s of cancelling")
        self._final_fills(deadline)
        return cancelled

    def _final_fills(self, deadline: float) -> None:
        """Read fills until the deadline so the job's result has every fill up to the cancel."""
        while self.client is not None:
            try:
                self._ingest(self.client.poll_fills(force=True))
                return
            except VenueError as exc:
                if time.monotonic() >= deadline:
                    log.error("[%s] last fills not read (%s): see the exchange's fill history", self.asset.symbol,
                              exc)
                    return
                time.sleep(0.2)

    # -- safety ------------------------------------------------------------------------------------------------
    def set_dead_mans_switch(self, seconds: Optional[float] = None) -> bool:
        """Arm ``scheduleCancel`` ``seconds`` ahead (default ``dead_mans_switch_s``). True when armed; False when
        the exchange refused it and the client-side watchdog took over. Other failures raise VenueError."""
        seconds = seconds or self.params.dead_mans_switch_s
        client = self._client()
        try:
            client.arm(int(time.time() * 1000 + seconds * 1000), min_interval_s=1.0)
        except Refused as exc:
            if self.watchdog is None:
                self.watchdog = Watchdog(seconds, self._watchdog_fired, f"botmm-watchdog-{self.coin}")
                self._notify("dead_mans_switch", armed=False, fallback="watchdog", seconds=seconds, reason=str(exc))
            return False
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None
        return True

    def _watchdog_fired(self) -> None:
        log.error("[%s] watchdog: no tick for %gs; cancelling every order", self.asset.symbol,
                  self.watchdog.timeout_s if self.watchdog else 0)
        count = self.cancel_all_orders()
        self._notify("watchdog", cancelled=count)

    def refresh_metadata(self) -> dict[str, Any]:
        """Reload ``meta``; what changed since this venue last looked (empty when nothing did): ``sz_decimals``
        [old, new] of this coin, coins ``listed`` and ``delisted``, and how many resting orders were
        ``recancelled`` because they no longer fit the new rules."""
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
                    self._cancel([(self.coin, oid) for oid in misfits])
            changes["recancelled"] = len(misfits)
        return changes
