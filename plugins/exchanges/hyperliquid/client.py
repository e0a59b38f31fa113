"""HTTP to Hyperliquid through hyperliquid-python-sdk, made safe for a bot that runs for days.

* **One client per account and server**, shared by every venue (symbol) of the process that trades that account:
  one nonce source, one weight budget, one fill log, one cache of account state, open orders, and the heavy reads
  of a reconciliation or a stop (position, fills, funding), shared by its venues when recent enough for each.
* **Nonces** are milliseconds, strictly increasing per signing key within the process (two actions in one
  millisecond would otherwise collide). Actions are built with the SDK's own wire helpers
  (``order_request_to_order_wire``) and signed by :mod:`.signer` (the signatures of the SDK's ``sign_l1_action``
  in a tenth of its CPU time) so the nonce is ours, then posted through the SDK's ``Exchange``; reads go through
  its ``Info``. Both carry ``timeout_s`` (the SDK's default is no timeout); their sessions read the environment
  (proxy, CA bundle) once, not before every request.
* **Rate budget** (:mod:`.budget`): the IP weight budget is shared by every client of one server in the process;
  market reads may use 90 % of ``weight_budget`` and wait for room, optional reads (fill and order backstops) 75 %
  and are skipped when there is none, actions all of it; cancels go out even when it is spent. Each client (one
  account) also counts its address's action requests, starting from the exchange's ``userRateLimit`` figures (read
  at open and again after an action once ``ADDRESS_REFRESH_S`` has passed, so the read never delays an order). A
  429 (its body is ``null``) closes the gate for 1 s, doubling per consecutive 429 up to 60 s; nothing is sent during
  the cooldown (cancels wait it out, up to their caller's deadline), so no code path spends into a run of 429s.
* **Orders** carry the caller's client order id (``c`` on the wire) and its reduce-only flag; open orders are read
  with ``frontendOpenOrders`` (it shows each order's ``cloid``), one order's fate with ``orderStatus`` by cloid.
* **Errors** become one-line VenueErrors (:class:`~botmm.errors.VenueError`), never an exception out of the SDK:
  :class:`RateLimited` when nothing was executed (429 or the local budget), :class:`Refused` when the exchange
  answered ``err``, :class:`Uncertain` when an action may or may not have been executed (timeout, dropped
  connection, 5xx, an unreadable or oddly shaped answer, a 400 without the usual body), so the caller resolves its
  orders by cloid before sending anything again.
* **Fills**: the account's fills are read with ``userFillsByTime`` from a watermark (the ``userFills`` family,
  windowed so a poll returns only new fills and costs ~20 weight instead of up to 120 for the last 2000), with a
  5 s overlap and deduplication by trade id, into an append-only log; venues keep their own cursor into it. Fills
  that existed before the client connected are marked seen and never delivered.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import requests
from hyperliquid.exchange import Exchange
from hyperliquid.utils.error import ClientError, ServerError
from hyperliquid.utils.signing import order_request_to_order_wire, order_wires_to_order_action
from hyperliquid.utils.types import Cloid

from botmm import VenueError

from .budget import (ITEMS_PER_WEIGHT, AddressBudget, RateBudget, RateLimited, WeightBudget, action_weight,
                     info_weight)
from .config import WEIGHT_LIMIT
from .signer import L1Signer

log = logging.getLogger("botmm.hyperliquid")

MARKET_SHARE = 0.9  # of the budget that market-data reads may use
OPTIONAL_SHARE = 0.75  # ... that backstop reads may use (skipped beyond)
FILL_OVERLAP_MS = 5000  # each fill poll re-reads this much before the newest fill seen, for late arrivals
FILLS_PAGE = 2000  # the most fills one userFillsByTime answer carries
EMPTY_SPOT_META = {"universe": [], "tokens": []}
ALO = {"limit": {"tif": "Alo"}}
ADDRESS_LIMITED = "Too many cumulative requests"  # how the exchange begins refusing an action for the address limit


class Uncertain(VenueError):
    """The request may or may not have been executed: timeout, dropped connection, 5xx or an unreadable answer."""


class Refused(VenueError):
    """The exchange answered ``{"status": "err"}``: the action was not executed."""


class NonceSource:
    """Millisecond nonces, strictly increasing: ``max(now, last + 1)``."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(int(self.clock() * 1000), self._last + 1)
            return self._last


def fill_key(fill: dict) -> tuple:
    """What identifies one fill of the account: its trade id, or (hash, oid, time, px, sz) on older answers."""
    if fill.get("tid") is not None:
        return ("tid", fill["tid"], fill.get("oid"))
    return (fill.get("hash"), fill.get("oid"), fill.get("time"), fill.get("px"), fill.get("sz"))


@dataclass
class Snapshot:
    """A cached answer and when (monotonic seconds) its request was sent."""

    sent: float
    data: Any


@dataclass
class AccountReads:
    """What a full reconciliation reads of an account, sent in this order after ``sent`` (monotonic seconds): the
    position (clearinghouseState, asked at wall time ``asked_ms``), then the fills and funding payments from
    ``since_ms``. The fills are read after the position, so every fill in the position's snapshot is among them."""

    sent: float
    asked_ms: int
    since_ms: int
    state: dict
    fills: list[dict]
    funding: list[dict]


@dataclass
class ClientSettings:
    base_url: str
    is_mainnet: bool
    timeout_s: float
    weight_budget: int
    fills_poll_s: float


class HyperliquidClient:
    """One account on one server: see the module docstring. Thread-safe; venues call it from their own threads."""

    def __init__(self, settings: ClientSettings, wallet: Any, account: str, budget: WeightBudget,
                 nonces: NonceSource):
        self.settings = settings
        self.wallet, self.account = wallet, account
        self.signer = L1Signer(wallet, settings.is_mainnet)
        self.budget, self.nonces = budget, nonces
        self.rate = RateBudget(budget, AddressBudget())  # the IP budget and this account's address budget
        self.exchange: Optional[Exchange] = None
        self.sz_decimals: dict[str, int] = {}
        self.fill_log: list[dict] = []
        self.users = 0
        self.opened = 0  # venues that ever opened this client (each must disarm before the switch is cleared)
        self._disarms = 0
        self.armed_until: Optional[int] = None  # ms: when the exchange's dead man's switch fires
        self._seen: dict[tuple, int] = {}
        self._watermark = 0
        self._fills_sent = 0.0
        self._account: Optional[Snapshot] = None
        self._orders: Optional[Snapshot] = None
        self._run_fills: Optional[Snapshot] = None  # the last fills_from read: (since_ms, fills)
        self._reads: Optional[AccountReads] = None
        self.started_ms = int(time.time() * 1000)  # before any venue of this client connected
        self._armed_sent = 0.0
        self._written = threading.local()  # per thread: when its last action was handed to HTTP (time_ns)
        self._locks = {name: threading.RLock() for name in ("meta", "fills", "account", "orders", "arm", "run_fills",
                                                            "reads")}

    @property
    def stop_share(self) -> float:
        """The share of ``weight_budget`` a stop's reads (verifying no order rests, the last fills) may use: up to
        the exchange's IP limit, the margin above ``weight_budget`` that cancels also use, so a spent budget never
        keeps a stop from verifying."""
        return WEIGHT_LIMIT / self.budget.limit

    # -- transport ---------------------------------------------------------------------------------------------
    def _call(self, what: str, send: Callable[[], Any], action: bool) -> Any:
        """``send()`` with every failure turned into a one-line VenueError (Uncertain for actions whose outcome is
        unknown). The SDK answers an unparseable body with ``{"error": "Could not parse JSON: ..."}``."""
        kind = Uncertain if action else VenueError
        try:
            answer = send()
        except ClientError as exc:
            if exc.status_code == 429:
                cooldown = self.budget.penalise()
                raise RateLimited(f"{what}: HTTP 429 from the exchange; backing off {cooldown:.0f}s") from None
            raise VenueError(f"{what}: HTTP {exc.status_code}: {_short(exc.error_message)}") from None
        except ServerError as exc:
            raise kind(f"{what}: HTTP {exc.status_code} from the exchange") from None
        except requests.Timeout:
            raise kind(f"{what}: no answer within {self.settings.timeout_s:g}s") from None
        except requests.RequestException as exc:
            raise kind(f"{what}: {type(exc).__name__} talking to {self.settings.base_url}") from None
        except Exception as exc:  # the SDK itself failed on an odd answer (a 400 without "code": KeyError)
            raise kind(f"{what}: unexpected answer from the exchange ({type(exc).__name__}: {_short(exc)})") from None
        if isinstance(answer, dict) and str(answer.get("error", "")).startswith("Could not parse JSON"):
            raise kind(f"{what}: unreadable answer {_short(answer['error'])}")
        self.budget.relieve()
        return answer

    def _info_api(self) -> Any:
        if self.exchange is not None:
            return self.exchange.info
        from hyperliquid.api import API

        return API(self.settings.base_url, self.settings.timeout_s)

    def info(self, body: dict, share: float = MARKET_SHARE, wait_s: Optional[float] = None) -> Any:
        """POST /info within the weight budget (waiting up to ``wait_s``, default the HTTP timeout)."""
        kind = body["type"]
        self.budget.acquire(info_weight(kind), share, self.settings.timeout_s if wait_s is None else wait_s)
        api = self._info_api()
        answer = self._call(kind, lambda: api.post("/info", body), action=False)
        if kind in ITEMS_PER_WEIGHT and isinstance(answer, list):
            extra = info_weight(kind, len(answer)) - info_weight(kind)
            if extra:
                self.budget.spend(extra)
        return answer

    def act(self, action: dict, batch: int = 1, urgent: bool = False) -> Any:
        """Sign ``action`` with a fresh nonce and POST it to /exchange; the ``response`` of an ``ok`` answer.

        ``urgent`` (cancels, disarming the dead man's switch) goes out even when either budget is spent or a 429
        cooldown runs (it waits that out, up to the HTTP timeout).
        """
        weight = action_weight(batch)
        if urgent:
            self.budget.wait_cooldown(self.settings.timeout_s)
            self.budget.spend(weight)
        else:
            self.budget.acquire(weight, 1.0, 0.0)
        self.rate.address.admit(batch, cancel=urgent)
        nonce = self.nonces.next()
        signature = self.signer.sign(action, nonce)
        payload = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None,
                   "expiresAfter": None}
        self._written.ns = time.time_ns()
        try:
            answer = self._call(action["type"], lambda: self.exchange.post("/exchange", payload), action=True)
        finally:
            if self.rate.address.due():
                self.read_rate_limit(wait_s=0.0)
        if isinstance(answer, dict) and answer.get("status") == "err":
            if ADDRESS_LIMITED in str(answer.get("response")):
                self.rate.address.limited += 1
                raise RateLimited(f"{action['type']}: address request limit: {_short(answer.get('response'))}")
            raise Refused(f"{action['type']} refused: {_short(answer.get('response'))}")
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            raise Uncertain(f"{action['type']}: unexpected answer {_short(answer)}")
        return answer.get("response")

    def written_ns(self) -> int:
        """When the calling thread's last action was signed and handed to HTTP (``time.time_ns()``; 0: never)."""
        return getattr(self._written, "ns", 0)

    def read_rate_limit(self, wait_s: Optional[float] = None) -> None:
        """Read the address's request figures (``userRateLimit``, weight 20) into the address budget. A failure is
        logged and the budget keeps counting from its last figures: the read is a correction, not a gate."""
        sent = time.monotonic()
        self.rate.address.read_at = sent  # one attempt per refresh period, even when it fails
        try:
            self.rate.address.update(self.info({"type": "userRateLimit", "user": self.account}, OPTIONAL_SHARE,
                                               wait_s), sent)
        except (VenueError, ValueError) as exc:
            log.warning("address rate limit not read (%s); counting from the last figures", exc)

    # -- metadata ----------------------------------------------------------------------------------------------
    def load_meta(self) -> dict[str, int]:
        """Load ``meta`` (szDecimals of every perp), hand it to the SDK, and return {coin: szDecimals}."""
        with self._locks["meta"]:
            meta = self.info({"type": "meta"})
            if not isinstance(meta, dict) or not isinstance(meta.get("universe"), list):
                raise VenueError(f"meta: unexpected answer {_short(meta)}")
            decimals = {entry["name"]: int(entry["szDecimals"]) for entry in meta["universe"]}
            if self.exchange is None:
                s = self.settings
                self.exchange = Exchange(self.wallet, s.base_url, meta=meta, account_address=self.account,
                                         spot_meta=EMPTY_SPOT_META, timeout=s.timeout_s)
                for session in (self.exchange.session, self.exchange.info.session):
                    settle_environment(session, s.base_url)
            else:
                self.exchange.info.set_perp_meta(meta, 0)
            self.sz_decimals = decimals
            return dict(decimals)

    # -- account reads -----------------------------------------------------------------------------------------
    def account_state(self, max_age: float, share: float = MARKET_SHARE) -> dict:
        """clearinghouseState of the account, at most ``max_age`` seconds old."""
        with self._locks["account"]:
            now = time.monotonic()
            if self._account is None or now - self._account.sent > max_age:
                data = self.info({"type": "clearinghouseState", "user": self.account}, share)
                self._account = Snapshot(now, data)
            return self._account.data

    def positions(self, max_age: float, share: float = MARKET_SHARE) -> dict[str, tuple[float, float]]:
        """{coin: (signed size, entry price)} of the account's open positions. An answer that cannot be read is a
        VenueError (and is not cached), never "no position"."""
        state = self.account_state(max_age, share)
        try:
            return positions_of(state)
        except VenueError:
            self._account = None
            raise

    def account_reads(self, since_ms: int, sent_after: float) -> AccountReads:
        """Position, fills and funding from ``since_ms`` (see :class:`AccountReads`), from requests sent after
        ``sent_after``. These reads are per account, not per coin, and the heaviest of a reconciliation (62
        weight): the account's venues share one, e.g. three assets reconciling at start or after a reconnection.
        An unreadable answer is a VenueError and nothing is kept."""
        with self._locks["reads"]:
            reads = self._reads
            if reads is None or reads.sent < sent_after or reads.since_ms > since_ms:
                since = min(since_ms, self.started_ms)
                sent, asked_ms = time.monotonic(), int(time.time() * 1000)
                with self._locks["account"]:
                    state = self.info({"type": "clearinghouseState", "user": self.account})
                    positions_of(state)
                    self._account = Snapshot(sent, state)
                fills = self.fills_from(since, sent)
                reads = self._reads = AccountReads(sent, asked_ms, since, state, fills, self.funding(since))
            return AccountReads(reads.sent, reads.asked_ms, since_ms, reads.state,
                                [f for f in reads.fills if int(f["time"]) >= since_ms],
                                [f for f in reads.funding if int(f["time"]) >= since_ms])

    def open_orders(self, sent_after: float, share: float = MARKET_SHARE,
                    wait_s: Optional[float] = None) -> list[dict]:
        """The account's resting orders (``frontendOpenOrders``: with ``cloid``), from a request sent after
        ``sent_after`` (monotonic seconds)."""
        with self._locks["orders"]:
            if self._orders is None or self._orders.sent < sent_after:
                now = time.monotonic()
                data = self.info({"type": "frontendOpenOrders", "user": self.account}, share, wait_s)
                if not isinstance(data, list) or not all(isinstance(o, dict) and "oid" in o for o in data):
                    raise VenueError(f"frontendOpenOrders: unexpected answer {_short(data)}")
                self._orders = Snapshot(now, data)
            return self._orders.data

    @property
    def orders_sent(self) -> float:
        """When (monotonic seconds) the request behind the last open-orders answer was sent (0 before any)."""
        snapshot = self._orders
        return snapshot.sent if snapshot is not None else 0.0

    def order_status(self, cloid: str) -> tuple[str, Optional[dict]]:
        """The fate of the account's order ``cloid``: ("open" | "filled" | "canceled" | ..., the order) or
        ("unknownOid", None) when the exchange never took it."""
        answer = self.info({"type": "orderStatus", "user": self.account, "oid": cloid})
        try:
            if answer["status"] == "unknownOid":
                return "unknownOid", None
            return str(answer["order"]["status"]), dict(answer["order"]["order"])
        except (KeyError, TypeError):
            raise VenueError(f"orderStatus: unexpected answer {_short(answer)}") from None

    def funding(self, since_ms: int) -> list[dict]:
        """The account's funding payments from ``since_ms`` (``userFunding``)."""
        answer = self.info({"type": "userFunding", "user": self.account, "startTime": since_ms})
        if not isinstance(answer, list) or not all(isinstance(f, dict) and "delta" in f for f in answer):
            raise VenueError(f"userFunding: unexpected answer {_short(answer)}")
        return answer

    # -- fills -------------------------------------------------------------------------------------------------
    def start_fills(self) -> None:
        """Mark every fill the account already has as seen, so only fills from now on are delivered."""
        with self._locks["fills"]:
            if self._watermark:
                return
            since = int(time.time() * 1000) - 60_000
            for fill in self.fetch_fills(since - FILL_OVERLAP_MS):  # as far back as any later poll reads
                self._seen[fill_key(fill)] = int(fill["time"])
            self._watermark = max([since, *self._seen.values()])
            self._fills_sent = time.monotonic()

    def fetch_fills(self, since: int, share: float = MARKET_SHARE) -> list[dict]:
        """Every fill of the account from ``since`` (ms), page by page."""
        fills: list[dict] = []
        while True:
            page = self.info({"type": "userFillsByTime", "user": self.account, "startTime": since,
                              "aggregateByTime": False}, share)
            if not isinstance(page, list) or not all(isinstance(f, dict) and "time" in f for f in page):
                raise VenueError(f"userFillsByTime: unexpected answer {_short(page)}")
            fills.extend(page)
            latest = max((int(f["time"]) for f in page), default=since)
            if len(page) < FILLS_PAGE or latest <= since:
                return fills
            since = latest

    def fills_from(self, since_ms: int, sent_after: float, share: float = MARKET_SHARE) -> list[dict]:
        """Every fill of the account from ``since_ms``, from a request sent after ``sent_after`` (monotonic seconds):
        the account's venues share one read (a reconciliation's or a stop's, 20 weight or more each)."""
        with self._locks["run_fills"]:
            read = self._run_fills
            if read is None or read.sent < sent_after or read.data[0] > since_ms:
                since, sent = min(since_ms, self.started_ms), time.monotonic()
                read = self._run_fills = Snapshot(sent, (since, self.fetch_fills(since, share)))
            return [f for f in read.data[1] if int(f["time"]) >= since_ms]

    def poll_fills(self, force: bool) -> int:
        """Fetch new fills into :attr:`fill_log` when ``force`` or ``fills_poll_s`` has passed; returns the log's
        length. A backstop poll (not forced) is skipped when the budget is tight."""
        with self._locks["fills"]:
            now = time.monotonic()
            if not force and now - self._fills_sent < self.settings.fills_poll_s:
                return len(self.fill_log)
            since = self._watermark - FILL_OVERLAP_MS
            try:
                page = self.fetch_fills(since, MARKET_SHARE if force else OPTIONAL_SHARE)
            except RateLimited:
                if force:
                    raise
                return len(self.fill_log)
            self._fills_sent = now
            for fill in sorted(page, key=lambda f: int(f["time"])):
                key = fill_key(fill)
                if key in self._seen:
                    continue
                self._seen[key] = int(fill["time"])
                self.fill_log.append(fill)
                self._watermark = max(self._watermark, int(fill["time"]))
            floor = self._watermark - 2 * FILL_OVERLAP_MS
            self._seen = {k: t for k, t in self._seen.items() if t >= floor}
            return len(self.fill_log)

    # -- actions -----------------------------------------------------------------------------------------------
    def _wire(self, order: OrderSpec) -> dict:
        request = {"coin": order.coin, "is_buy": order.is_buy, "sz": order.size, "limit_px": order.price,
                   "order_type": ALO, "reduce_only": order.reduce_only, "cloid": Cloid(order.cloid)}
        return order_request_to_order_wire(request, self.exchange.info.name_to_asset(order.coin))

    def place(self, orders: list[OrderSpec]) -> list[dict]:
        """One bulk action of ALO orders; one status per order."""
        wires = [self._wire(order) for order in orders]
        response = self.act(order_wires_to_order_action(wires), batch=len(wires))
        return _statuses(response, len(wires), "order")

    def modify(self, changes: list[tuple[int, OrderSpec]]) -> list[dict]:
        """batchModify each ``(oid, replacement)`` into an ALO order; one status per change."""
        modifies = [{"oid": oid, "order": self._wire(order)} for oid, order in changes]
        response = self.act({"type": "batchModify", "modifies": modifies}, batch=len(modifies))
        return _statuses(response, len(modifies), "batchModify")

    def cancel(self, orders: list[tuple[str, int]]) -> list[Any]:
        """Bulk cancel ``(coin, oid)``; always sent (urgent). One status per order: "success" or {"error": ...}."""
        cancels = [{"a": self.exchange.info.name_to_asset(coin), "o": oid} for coin, oid in orders]
        response = self.act({"type": "cancel", "cancels": cancels}, batch=len(cancels), urgent=True)
        return _statuses(response, len(cancels), "cancel")

    def schedule_cancel(self, at_ms: Optional[int]) -> None:
        """Arm the exchange's dead man's switch for ``at_ms`` (None disarms it). VenueError when refused."""
        action: dict = {"type": "scheduleCancel"}
        if at_ms is not None:
            action["time"] = at_ms
        self.act(action, urgent=at_ms is None)
        self.armed_until = at_ms

    def disarm(self) -> None:
        """One venue's verified stop: clear the dead man's switch once every venue that opened this client asked."""
        with self._locks["arm"]:
            self._disarms += 1
            if self._disarms >= self.opened and self.armed_until is not None:
                self.schedule_cancel(None)

    def arm(self, at_ms: int, min_interval_s: float) -> None:
        """:meth:`schedule_cancel` unless another venue of this account armed it within ``min_interval_s``."""
        with self._locks["arm"]:
            if self.armed_until is not None and time.monotonic() - self._armed_sent < min_interval_s:
                return
            self.schedule_cancel(at_ms)
            self._armed_sent = time.monotonic()


@dataclass(frozen=True)
class OrderSpec:
    """One order to send: its coin, side, size, price, client order id and reduce-only flag."""

    coin: str
    is_buy: bool
    size: float
    price: float
    cloid: str
    reduce_only: bool = False


def positions_of(state: Any) -> dict[str, tuple[float, float]]:
    """{coin: (signed size, entry price)} of a ``clearinghouseState`` answer; VenueError when it cannot be read."""
    try:
        out = {}
        for entry in state["assetPositions"]:
            pos = entry["position"]
            size = float(pos["szi"])
            if size:
                out[pos["coin"]] = (size, float(pos.get("entryPx") or 0.0))
        return out
    except (KeyError, TypeError, ValueError):
        raise VenueError(f"clearinghouseState: unexpected answer {_short(state)}") from None


def _short(value: Any, limit: int = 120) -> str:
    """``value`` as one line of at most ``limit`` characters, for error messages."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _statuses(response: Any, expected: int, what: str) -> list[Any]:
    try:
        statuses = response["data"]["statuses"]
    except (KeyError, TypeError):
        raise Uncertain(f"{what}: unexpected answer {_short(response)}") from None
    if not isinstance(statuses, list) or len(statuses) != expected:
        raise Uncertain(f"{what}: {len(statuses) if isinstance(statuses, list) else '?'} statuses for "
                        f"{expected} orders")
    return statuses


@dataclass
class _Shared:
    budgets: dict[str, WeightBudget] = field(default_factory=dict)
    nonces: dict[str, NonceSource] = field(default_factory=dict)
    clients: dict[tuple[str, str], HyperliquidClient] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_SHARED = _Shared()


def settle_environment(session: requests.Session, url: str) -> None:
    """Read once what ``requests`` reads from the environment before every request (the proxy for ``url``, a CA
    bundle) and stop it reading again: the environment scan, the no-proxy check and the netrc lookup took 0.2 to
    1 ms of every action before its first byte was written."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def open_client(settings: ClientSettings, wallet: Any, account: str) -> HyperliquidClient:
    """The process's client for ``account`` on ``settings.base_url`` (created on first use, then shared; each call
    must be matched by :func:`close_client`). The first opener loads meta and the fill baseline."""
    key = (settings.base_url, account.lower())
    with _SHARED.lock:
        client = _SHARED.clients.get(key)
        if client is None:
            budget = _SHARED.budgets.setdefault(settings.base_url, WeightBudget(settings.weight_budget))
            nonces = _SHARED.nonces.setdefault(wallet.address.lower(), NonceSource())
            client = HyperliquidClient(settings, wallet, account, budget, nonces)
            _SHARED.clients[key] = client
        client.users += 1
    try:
        with client._locks["meta"]:
            if client.exchange is None:
                client.load_meta()
        client.start_fills()
        if client.rate.address.read_at is None:
            client.read_rate_limit()
    except BaseException:
        close_client(client)
        raise
    with _SHARED.lock:
        client.opened += 1
    return client


def close_client(client: HyperliquidClient) -> bool:
    """Release one use of ``client``; True when it was the last. The dead man's switch stays as it is."""
    key = (client.settings.base_url, client.account.lower())
    with _SHARED.lock:
        client.users -= 1
        if client.users > 0:
            return False
        _SHARED.clients.pop(key, None)
    return True
