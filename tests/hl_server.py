"""A loopback Hyperliquid server for tests: the real SDK talks to it over HTTP on 127.0.0.1.

``POST /info`` answers meta, l2Book, allMids, openOrders, frontendOpenOrders (with ``cloid``), orderStatus (by oid
or cloid), clearinghouseState, userFills, userFillsByTime (fills carry the order's ``cloid``), userFunding and
candleSnapshot in the shapes the real exchange uses (see the recorded answers in ``../shared/data/hl_info/``).
``POST /exchange`` takes order (with a client order id ``c``), cancel, cancelByCloid, batchModify and
scheduleCancel actions. It

* recovers each action's signer with the SDK's own ``recover_agent_or_user_from_l1_action`` (testnet rules: the
  URL is not mainnet's) and maps an agent wallet to its account; checks nonces by the exchange's rule (unseen, and
  above the least of the signer's 100 highest: concurrent actions may arrive out of order), each breach recorded in
  :attr:`HLServer.violations`;
* checks every order on the wire against Hyperliquid's rules with its own Decimal digit counting (independent of
  the adapter's rounding): at most 5 significant figures or an integer, at most ``6 - szDecimals`` price decimals,
  at most ``szDecimals`` size decimals, at least $10, post-only (ALO, reduce-only allowed); a failure is answered
  with the exchange's per-order error and recorded in :attr:`HLServer.rule_failures`; a reduce-only order that
  would grow the position is refused ("Reduce only order would increase position");
* replays a seeded book (one snapshot every ``step_s``: the mid moves by whole ticks or stays), rejects crossing ALO
  orders like the exchange ("Post only order would have immediately matched"), fills resting orders at their price
  when the book trades through them, and keeps positions and fills per account;
* fires a scheduled cancel (dead man's switch) when its time passes; :attr:`HLServer.latency_s` delays every answer
  by a network round trip;
* enforces Hyperliquid's documented limits with its own table: ``weight_limit`` (1200) IP weight a minute, per
  request type, plus the per-item weight of fill, funding and candle answers (429 with a ``null`` body beyond,
  counted in :attr:`HLServer.rate_limited`), and the address limit on actions (``address_buffer`` requests plus
  1 per USDC traded, a batch counting per order; beyond it one action per 10 s, cancels up to
  ``min(cap + 100000, 2 * cap)``; refused with the exchange's "Too many cumulative requests" error, counted in
  :attr:`HLServer.address_limited`), reported by ``userRateLimit``; each request's record carries the weight it
  was charged;
* records the most orders of one account, coin and side that ever rested at once (:meth:`HLServer.peak_resting`),
  so a test can assert that no duplicate order was ever placed;
* injects faults on demand (:meth:`HLServer.inject`): ``5xx``, ``timeout`` and ``truncated`` (an HTTP 200 whose
  JSON body is cut short; on /exchange all three execute the action all the same, the worst case for the client),
  ``429``, ``bad_400`` (a 400 whose JSON body has no ``code``; not executed), ``unreadable`` (an /info answer of
  the wrong shape), ``alo_reject``, ``partial_batch``; :attr:`HLServer.refuse_schedule` refuses ``scheduleCancel``;
* test controls: :meth:`HLServer.set_sz_decimals`, :meth:`HLServer.shift` (move the book), :meth:`HLServer.add_fill`
  (also a late fill, ``time_ms`` in the past), :meth:`HLServer.place_foreign` (an order placed by hand, no cloid),
  :meth:`HLServer.set_position` and :meth:`HLServer.add_funding`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action

TEST_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
AGENT_KEY = "0x" + "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
# name: (szDecimals, first mid, tick of the replayed book)
COINS = {"BTC": (5, "60000.5", "1"), "ETH": (4, "3000.05", "0.1"), "SOL": (2, "150.005", "0.01"),
         "kPEPE": (0, "0.0120005", "0.000001")}
ALO_ERROR = "Post only order would have immediately matched, bbo was {bid}@{ask}. asset={asset}"
GONE_ERROR = "Order was never placed, already canceled, or filled. asset={asset}"
MODIFY_GONE = "Cannot modify canceled or filled order"
MARGIN_ERROR = "Insufficient margin to place order. asset={asset}"
REDUCE_ONLY_ERROR = "Reduce only order would increase position. asset={asset}"
INFO_WEIGHTS = {"l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2, "spotClearinghouseState": 2,
                "exchangeStatus": 2, "userRole": 60}
ITEM_WEIGHTS = {"userFills": 20, "userFillsByTime": 20, "userFunding": 20, "candleSnapshot": 60}  # items per weight
ADDRESS_ERROR = ("Too many cumulative requests sent ({used} > {cap}) for cumulative volume traded ${volume}. Place "
                 "taker orders to free up 1 request per USDC traded.")
BODY_FAULTS = ("5xx", "timeout", "429", "truncated", "bad_400", "unreadable")
MAKER_FEE = Decimal("0.00015")
NONCE_SET = 100  # the exchange keeps each signer's 100 highest nonces: a new one must be unseen and above the least


def price_ok(text: str, sz_decimals: int) -> bool:
    """Hyperliquid's perp price rule, by counting digits: an integer, or at most 5 significant figures and at most
    6 - szDecimals decimals."""
    value = Decimal(text)
    if value <= 0:
        return False
    if value == value.to_integral_value():
        return True
    _, digits, exponent = value.normalize().as_tuple()
    return -exponent <= 6 - sz_decimals and len(digits) <= 5


def size_ok(text: str, sz_decimals: int) -> bool:
    value = Decimal(text)
    return value > 0 and -min(0, value.normalize().as_tuple().exponent) <= sz_decimals


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass
class Fault:
    kind: str
    path: Optional[str] = None
    types: tuple[str, ...] = ()
    after: int = 0
    times: int = 1
    delay_s: float = 0.0
    until: Optional[float] = None  # a window fault: every matching request until this monotonic time
    seen: int = 0
    fired: int = 0

    def matches(self, path: str, kind: str) -> bool:
        return (self.path is None or self.path == path) and (not self.types or kind in self.types)

    def active(self) -> bool:
        if self.until is not None:
            return time.monotonic() < self.until
        return self.fired < self.times


@dataclass
class Resting:
    oid: int
    user: str
    coin: str
    is_buy: bool
    px: str
    sz: str
    orig: str
    timestamp: int
    cloid: Optional[str] = None
    reduce_only: bool = False


@dataclass
class Account:
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # coin -> (szi, entry)
    fills: list[dict] = field(default_factory=list)
    funding: list[dict] = field(default_factory=list)
    schedule: Optional[int] = None
    requests_used: int = 0  # address-limited action requests (a batch counts per order)
    throttled_ms: int = -10_000  # when the last action beyond the address cap went through


class HLServer:
    """See the module docstring. Start with :meth:`start` (port 0: any free port); state is read under ``lock``."""

    def __init__(self, step_s: float = 0.5, seed: int = 1, move_prob: float = 0.5, weight_limit: int = 1200,
                 agents: Optional[dict[str, str]] = None, address_buffer: int = 10_000, jump_prob: float = 0.0,
                 jump_ticks: int = 0):
        self.step_s, self.move_prob, self.weight_limit = step_s, move_prob, weight_limit
        self.jump_prob, self.jump_ticks = jump_prob, jump_ticks  # a jump of the book per step: trades through quotes
        self.address_buffer = address_buffer
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.sz_decimals = {coin: spec[0] for coin, spec in COINS.items()}
        self.names = list(COINS)
        self.ticks = {coin: Decimal(spec[2]) for coin, spec in COINS.items()}
        self.bid_ticks = {coin: int((Decimal(spec[1]) - self.ticks[coin] / 2) / self.ticks[coin])
                          for coin, spec in COINS.items()}
        self.agents = {k.lower(): v.lower() for k, v in (agents or {}).items()}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Resting] = {}
        self.finished: dict[int, tuple[Resting, str, int]] = {}  # oid -> (order, final status, ms)
        self.cloids: dict[tuple[str, str], int] = {}  # (user, cloid) -> oid
        self.peaks: dict[tuple[str, str, bool], int] = {}  # (user, coin, is_buy) -> most resting at once
        self.history: list[tuple[int, dict[str, int]]] = []  # (ms, bid ticks per coin) per step
        self.requests: list[dict] = []
        self.order_log: list[dict] = []  # one entry per order or modify on the wire
        self.rule_failures: list[dict] = []
        self.violations: list[str] = []
        self.signers: list[str] = []
        self.nonces: dict[str, list[int]] = {}
        self.faults: list[Fault] = []
        self.refuse_schedule = False
        self.latency_s = 0.0  # the round trip every request takes (the benchmark's injected delay)
        self.rate_limited = 0  # 429s sent because the IP weight limit was reached (not injected ones)
        self.address_limited = 0  # actions refused for the address limit
        self.triggers = 0
        self._weights: list[tuple[float, int]] = []
        self._oid = 1_000_000
        self._tid = 5_000_000
        self._step = 0
        self._t0 = time.monotonic()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self.history.append((self._now_ms(), dict(self.bid_ticks)))

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "HLServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # the answer's headers and body are two writes: no 40 ms delayed-ACK wait

            def log_message(self, *args: Any) -> None:
                return

            def do_CONNECT(self) -> None:  # a proxied HTTPS request: recorded, refused
                with server.lock:
                    server.requests.append({"path": self.path, "type": "CONNECT", "time": server._now_ms(),
                                            "status": 502})
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def parse_request(self) -> bool:  # the request line was just read: it arrived now
                self.arrived = time.time_ns()
                return super().parse_request()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, payload = server.handle(self.path, body, self.arrived)
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout fault)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="hl-server", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- test controls -----------------------------------------------------------------------------------------
    def inject(self, kind: str, path: Optional[str] = None, types: tuple[str, ...] = (), after: int = 0,
               times: int = 1, delay_s: float = 0.0, for_s: Optional[float] = None) -> Fault:
        """Make the next ``times`` requests matching ``path``/``types`` (after skipping ``after`` of them) fail
        with ``kind``: 5xx, timeout (answer after ``delay_s``), truncated, 429, bad_400, unreadable, alo_reject,
        partial_batch. With ``for_s``, every matching request fails for that many seconds from now instead."""
        fault = Fault(kind, path, types, after, times, delay_s, None if for_s is None else time.monotonic() + for_s)
        with self.lock:
            self.faults.append(fault)
        return fault

    def fault_over(self, kind: str) -> bool:
        """Whether every fault of ``kind`` has run its course."""
        with self.lock:
            return not any(f.active() for f in self.faults if f.kind == kind)

    def now_ms(self) -> int:
        """The exchange's clock (epoch ms), as it stamps requests, orders and fills."""
        return self._now_ms()

    def position(self, user: str, coin: str) -> float:
        with self.lock:
            self._advance()
            return float(self._account(user).positions.get(coin, (Decimal(0), Decimal(0)))[0])

    def lifetimes(self, user: str) -> list[tuple[int, Optional[int], Optional[str]]]:
        """(rested from ms, until ms or None while resting, cloid) of every order of ``user`` so far."""
        with self.lock:
            self._advance()
            user = user.lower()
            ended = [(o.timestamp, end, o.cloid) for o, _, end in self.finished.values() if o.user == user]
            return ended + [(o.timestamp, None, o.cloid) for o in self.orders.values() if o.user == user]

    def cancelled_by_request(self) -> set[int]:
        """The oids that a cancel (or a modify's cancel-and-replace) took off the book."""
        with self.lock:
            return {oid for oid, (_, status, _) in self.finished.items() if status == "canceled"}

    def fill_now(self, oid: int, time_shift_ms: int = 0) -> dict:
        """Fill the resting order ``oid`` whole now; its fill is stamped ``time_shift_ms`` from now (negative: a fill
        the exchange reports late)."""
        with self.lock:
            order = self.orders[oid]
            self._finish(oid, "filled")
            return self.add_fill(order.user, order.coin, order.is_buy, order.px, order.sz, oid,
                                 time_ms=self._now_ms() + time_shift_ms, cloid=order.cloid)

    def place_foreign(self, user: str, coin: str, is_buy: bool, px: str, sz: str) -> int:
        """An order placed by hand (no cloid), resting as given; its oid."""
        with self.lock:
            self._advance()
            self._oid += 1
            self.orders[self._oid] = Resting(self._oid, user.lower(), coin, is_buy, px, sz, sz, self._now_ms())
            return self._oid

    def set_position(self, user: str, coin: str, szi: str, entry: str) -> None:
        """Give ``user`` a position (as if held from before the bot started)."""
        with self.lock:
            self._account(user).positions[coin] = (Decimal(szi), Decimal(entry))

    def add_funding(self, user: str, coin: str, usdc: str, rate: str = "0.0000125") -> dict:
        """Book a funding payment of ``usdc`` (negative: the user paid) now."""
        with self.lock:
            szi = self._account(user).positions.get(coin, (Decimal(0), Decimal(0)))[0]
            self._tid += 1
            entry = {"delta": {"coin": coin, "fundingRate": rate, "szi": _fmt(szi), "type": "funding", "usdc": usdc},
                     "hash": f"0x{self._tid:064x}", "time": self._now_ms()}
            self._account(user).funding.append(entry)
            return entry

    def peak_resting(self, user: str, coin: str) -> tuple[int, int]:
        """The most (bids, asks) of ``user`` in ``coin`` that ever rested at the same time."""
        with self.lock:
            user = user.lower()
            return self.peaks.get((user, coin, True), 0), self.peaks.get((user, coin, False), 0)

    def set_sz_decimals(self, coin: str, value: int) -> None:
        with self.lock:
            self.sz_decimals[coin] = value

    def shift(self, coin: str, ticks: int) -> None:
        """Move ``coin``'s book by ``ticks`` now, filling the resting orders it trades through."""
        with self.lock:
            self._advance()
            self.bid_ticks[coin] += ticks
            self.history.append((self._now_ms(), dict(self.bid_ticks)))
            self._match()

    def book(self, coin: str) -> tuple[float, float]:
        """The best bid and ask of ``coin`` now."""
        with self.lock:
            self._advance()
            bid, ask = self._book(coin)
            return float(bid), float(ask)

    def resting(self, user: str) -> list[Resting]:
        with self.lock:
            self._advance()
            return [o for o in self.orders.values() if o.user == user.lower()]

    def fills(self, user: str) -> list[dict]:
        with self.lock:
            self._advance()
            return list(self._account(user).fills)

    def exchange_requests(self, *types: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == "/exchange" and (not types or r["type"] in types)]


    # -- clock, book and matching ------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    def _account(self, user: str) -> Account:
        return self.accounts.setdefault(user.lower(), Account())

    def _book(self, coin: str) -> tuple[Decimal, Decimal]:
        tick = self.ticks[coin]
        bid = self.bid_ticks[coin] * tick
        return bid, bid + tick

    def _advance(self) -> None:
        """Replay the book up to now, matching resting orders at every step; fire due scheduled cancels."""
        target = int((time.monotonic() - self._t0) / self.step_s)
        while self._step < target:
            self._step += 1
            for coin in self.names:
                if self.rng.random() < self.move_prob:
                    self.bid_ticks[coin] += self.rng.choice((-3, -2, -1, 1, 2, 3))
                if self.jump_prob and self.rng.random() < self.jump_prob:
                    self.bid_ticks[coin] += self.rng.choice((-1, 1)) * self.jump_ticks
            self.history.append((self._now_ms(), dict(self.bid_ticks)))
            self._match()
        now = self._now_ms()
        for user, account in self.accounts.items():
            if account.schedule is not None and now >= account.schedule:
                account.schedule = None
                self.triggers += 1
                for oid in [o.oid for o in self.orders.values() if o.user == user]:
                    self._finish(oid, "scheduledCancel")

    def _match(self) -> None:
        for order in list(self.orders.values()):
            bid, ask = self._book(order.coin)
            px = Decimal(order.px)
            if (order.is_buy and px >= ask) or (not order.is_buy and px <= bid):
                self._fill(order)

    def _finish(self, oid: int, status: str) -> None:
        """Take a resting order off the book, remembering its final status for orderStatus."""
        self.finished[oid] = (self.orders.pop(oid), status, self._now_ms())

    def _fill(self, order: Resting) -> None:
        self._finish(order.oid, "filled")
        self.add_fill(order.user, order.coin, order.is_buy, order.px, order.sz, order.oid, cloid=order.cloid)

    def add_fill(self, user: str, coin: str, is_buy: bool, px: str, sz: str, oid: int,
                 time_ms: Optional[int] = None, cloid: Optional[str] = None) -> dict:
        """Record a maker fill of ``user`` (at ``time_ms``, default now) and update the position."""
        with self.lock:
            account = self._account(user)
            size, price = Decimal(sz), Decimal(px)
            szi, entry = account.positions.get(coin, (Decimal(0), Decimal(0)))
            signed = size if is_buy else -size
            new = szi + signed
            closed_pnl = Decimal(0)
            opening = szi == 0 or (szi > 0) == is_buy
            if opening:
                entry = (entry * abs(szi) + price * size) / abs(new)
            else:
                closed_pnl = min(size, abs(szi)) * (price - entry) * (1 if szi > 0 else -1)
                entry = Decimal(0) if new == 0 else (price if (new > 0) != (szi > 0) else entry)
            account.positions[coin] = (new, entry)
            self._tid += 1
            fill = {
                "closedPnl": _fmt(closed_pnl), "coin": coin, "crossed": False,
                "dir": ("Open Long" if is_buy else "Open Short") if opening else (
                    "Close Short" if is_buy else "Close Long"),
                "fee": _fmt((price * size * MAKER_FEE).quantize(Decimal("0.000001"))), "feeToken": "USDC",
                "hash": f"0x{self._tid:064x}", "oid": oid, "px": px, "side": "B" if is_buy else "A",
                "startPosition": _fmt(szi), "sz": sz, "tid": self._tid,
                "time": self._now_ms() if time_ms is None else time_ms,
            }
            if cloid is not None:
                fill["cloid"] = cloid
            account.fills.append(fill)
            account.fills.sort(key=lambda f: f["time"])
            return fill

    # -- HTTP --------------------------------------------------------------------------------------------------
    def _fault(self, path: str, kind: str, kinds: tuple[str, ...]) -> Optional[Fault]:
        for fault in self.faults:
            if fault.kind in kinds and fault.active() and fault.matches(path, kind):
                fault.seen += 1
                if fault.seen > fault.after:
                    fault.fired += 1
                    return fault
        return None

    def _weight(self, path: str, body: dict) -> int:
        if path == "/exchange":
            action = body.get("action", {})
            items = action.get("orders") or action.get("cancels") or action.get("modifies") or [None]
            return 1 + len(items) // 40
        return INFO_WEIGHTS.get(body.get("type"), 20)

    def handle(self, path: str, raw: bytes, arrived: Optional[int] = None) -> tuple[int, str]:
        """Answer one request: (HTTP status, body text), :attr:`latency_s` after it arrived (half of it before it
        is executed, half after: a round trip of the network). Its record's ``ns`` is when it arrived: ``arrived``
        (epoch ns; over HTTP when its request line was read), else now."""
        arrived = arrived or time.time_ns()
        if self.latency_s:
            time.sleep(self.latency_s / 2)
        answer = self._answer(path, raw, arrived)
        if self.latency_s:
            time.sleep(self.latency_s / 2)
        return answer

    def _answer(self, path: str, raw: bytes, arrived: int) -> tuple[int, str]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 422, "Failed to deserialize the JSON body"
        kind = body.get("type") if path == "/info" else body.get("action", {}).get("type")
        with self.lock:
            now = time.monotonic()
            self._weights = [(t, w) for t, w in self._weights if t > now - 60]
            weight = self._weight(path, body)
            record = {"path": path, "type": kind, "time": self._now_ms(), "status": 200, "ns": arrived,
                      "coins": self._coins(body) if path == "/exchange" else []}
            self.requests.append(record)
            fault = self._fault(path, kind, BODY_FAULTS)
            over = sum(w for _, w in self._weights) + weight > self.weight_limit
            if over or (fault is not None and fault.kind == "429"):
                record["status"] = 429
                self.rate_limited += int(over)
                return 429, "null"
            self._weights.append((now, weight))
            record["weight"] = weight
            self._advance()
            if fault is not None and fault.kind == "5xx" and path == "/info":
                record["status"] = 502
                return 502, "<html><body>502 Bad Gateway</body></html>"
            if fault is not None and fault.kind == "bad_400":
                record["status"] = 400
                return 400, json.dumps({"error": "odd", "detail": "no code here"})
            if fault is not None and fault.kind == "unreadable" and path == "/info":
                record["status"] = "unreadable"
                return 200, json.dumps({"unexpected": "shape"})
            if path == "/info":
                status, answer = self._info(body)
                per = ITEM_WEIGHTS.get(kind)
                if per and isinstance(answer, list) and len(answer) >= per:
                    self._weights.append((now, len(answer) // per))
                    record["weight"] += len(answer) // per
            elif path == "/exchange":
                status, answer = self._exchange(body)  # executed even when the answer is then lost
            else:
                status, answer = 404, None
            if fault is not None and fault.kind == "5xx":
                record["status"] = 502
                return 502, "<html><body>502 Bad Gateway</body></html>"
        if fault is not None and fault.kind == "timeout":
            record["status"] = "timeout"
            time.sleep(fault.delay_s)
        text = json.dumps(answer)
        if fault is not None and fault.kind == "truncated":
            record["status"] = "truncated"
            return status, text[:len(text) // 2]
        return status, text

    # -- /info -------------------------------------------------------------------------------------------------
    def _info(self, body: dict) -> tuple[int, Any]:
        kind = body.get("type")
        user = str(body.get("user", "")).lower()
        if kind == "meta":
            return 200, {"universe": [{"maxLeverage": 50, "name": c, "szDecimals": self.sz_decimals[c]}
                                      for c in self.names]}
        if kind == "l2Book":
            coin = body.get("coin")
            if coin not in self.ticks:
                return 500, None
            bid, ask = self._book(coin)
            tick, unit = self.ticks[coin], Decimal(1).scaleb(-self.sz_decimals[coin])
            levels = [[{"px": _fmt(bid - i * tick), "sz": _fmt(unit * 1000 * (i + 1)), "n": i + 1}
                       for i in range(10)],
                      [{"px": _fmt(ask + i * tick), "sz": _fmt(unit * 1000 * (i + 1)), "n": i + 1}
                       for i in range(10)]]
            return 200, {"coin": coin, "levels": levels, "time": self._now_ms()}
        if kind == "allMids":
            return 200, {c: _fmt(sum(self._book(c)) / 2) for c in self.names}
        if kind in ("openOrders", "frontendOpenOrders"):
            mine = [o for o in sorted(self.orders.values(), key=lambda o: -o.oid) if o.user == user]
            if kind == "frontendOpenOrders":
                return 200, [self._frontend(o) for o in mine]
            return 200, [{"coin": o.coin, "limitPx": o.px, "oid": o.oid, "side": "B" if o.is_buy else "A",
                          "sz": o.sz, "timestamp": o.timestamp, "origSz": o.orig} for o in mine]
        if kind == "orderStatus":
            return 200, self._order_status(user, body.get("oid"))
        if kind == "userFunding":
            start, end = int(body.get("startTime") or 0), body.get("endTime")
            return 200, [f for f in self._account(user).funding
                         if f["time"] >= start and (end is None or f["time"] <= end)][:500]
        if kind == "clearinghouseState":
            return 200, self._clearinghouse(user)
        if kind == "userRateLimit":
            account = self._account(user)
            return 200, {"cumVlm": _fmt(self._volume(user)), "nRequestsUsed": account.requests_used,
                         "nRequestsCap": self._address_cap(user), "nRequestsSurplus": 0}
        if kind == "userFills":
            return 200, list(reversed(self._account(user).fills))[:2000]
        if kind == "userFillsByTime":
            start, end = int(body.get("startTime") or 0), body.get("endTime")
            fills = [f for f in self._account(user).fills if f["time"] >= start and (end is None or f["time"] <= end)]
            return 200, fills[:2000]
        if kind == "candleSnapshot":
            return 200, self._candles(body.get("req", {}))
        return 422, None

    @staticmethod
    def _frontend(o: Resting) -> dict:
        """An order as frontendOpenOrders and orderStatus show it."""
        return {"children": [], "cloid": o.cloid, "coin": o.coin, "isPositionTpsl": False, "isTrigger": False,
                "limitPx": o.px, "oid": o.oid, "orderType": "Limit", "origSz": o.orig, "reduceOnly": o.reduce_only,
                "side": "B" if o.is_buy else "A", "sz": o.sz, "tif": "Alo", "timestamp": o.timestamp,
                "triggerCondition": "N/A", "triggerPx": "0.0"}

    def _order_status(self, user: str, ref: Any) -> dict:
        oid = self.cloids.get((user, ref)) if isinstance(ref, str) else ref
        if oid in self.orders and self.orders[oid].user == user:
            order, status, ts = self.orders[oid], "open", self.orders[oid].timestamp
        elif oid in self.finished and self.finished[oid][0].user == user:
            order, status, ts = self.finished[oid]
        else:
            return {"status": "unknownOid"}
        return {"status": "order", "order": {"order": self._frontend(order), "status": status, "statusTimestamp": ts}}

    def _clearinghouse(self, user: str) -> dict:
        positions = []
        for coin, (szi, entry) in self._account(user).positions.items():
            if szi == 0:
                continue
            mid = sum(self._book(coin)) / 2
            positions.append({"position": {
                "coin": coin, "entryPx": _fmt(entry), "leverage": {"type": "cross", "value": 20},
                "liquidationPx": None, "marginUsed": _fmt(abs(szi) * mid / 20), "maxTradeSzs": ["0.0", "0.0"],
                "positionValue": _fmt(abs(szi) * mid), "returnOnEquity": "0.0", "szi": _fmt(szi),
                "unrealizedPnl": _fmt(szi * (mid - entry))}, "type": "oneWay"})
        summary = {"accountValue": "100000.0", "totalMarginUsed": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0"}
        return {"assetPositions": positions, "crossMaintenanceMarginUsed": "0.0", "crossMarginSummary": summary,
                "marginSummary": summary, "time": self._now_ms(), "withdrawable": "100000.0"}

    def _candles(self, req: dict) -> list[dict]:
        coin, start, end = req.get("coin"), int(req.get("startTime", 0)), int(req.get("endTime", 0))
        buckets: dict[int, list[Decimal]] = {}
        for ms, bids in self.history:
            if start <= ms <= end and coin in bids:
                mid = (bids[coin] * self.ticks[coin] * 2 + self.ticks[coin]) / 2
                buckets.setdefault(ms // 60_000 * 60_000, []).append(mid)
        return [{"T": t + 59_999, "c": _fmt(m[-1]), "h": _fmt(max(m)), "i": "1m", "l": _fmt(min(m)), "n": len(m),
                 "o": _fmt(m[0]), "s": coin, "t": t, "v": "0.0"} for t, m in sorted(buckets.items())]

    # -- /exchange ---------------------------------------------------------------------------------------------
    def _coins(self, body: dict) -> list[str]:
        """The coins an order or batchModify action's orders are for."""
        action = body.get("action") or {}
        wires = action.get("orders") or [m.get("order", {}) for m in action.get("modifies") or []]
        return sorted({self.names[w["a"]] for w in wires if isinstance(w.get("a"), int) and w["a"] < len(self.names)})

    def _exchange(self, body: dict) -> tuple[int, Any]:
        action, nonce, signature = body.get("action"), body.get("nonce"), body.get("signature")
        try:
            signer = recover_agent_or_user_from_l1_action(action, signature, body.get("vaultAddress"), nonce,
                                                          body.get("expiresAfter"), False).lower()
        except Exception as exc:
            self.violations.append(f"unrecoverable signature: {exc}")
            return 200, {"status": "err", "response": "Invalid signature"}
        self.signers.append(signer)
        seen = self.nonces.setdefault(signer, [])
        highest = sorted(seen)[-NONCE_SET:]
        if nonce in seen or (len(highest) == NONCE_SET and nonce <= highest[0]):
            self.violations.append(f"nonce {nonce}: duplicate or not above the {NONCE_SET} highest")
            return 200, {"status": "err", "response": "Invalid nonce: duplicate nonce or too low"}
        seen.append(nonce)
        if abs(nonce - self._now_ms()) > 86_400_000:
            return 200, {"status": "err", "response": "Invalid nonce: too far from now"}
        user = self.agents.get(signer, signer)
        kind = action.get("type")
        refusal = self._address_limit(user, action)
        if refusal is not None:
            return 200, {"status": "err", "response": refusal}
        if kind == "order":
            return 200, self._ok("order", self._place(user, action.get("orders", [])))
        if kind == "cancel":
            return 200, self._ok("cancel", [self._cancel(user, c) for c in action.get("cancels", [])])
        if kind == "cancelByCloid":
            return 200, self._ok("cancel", [self._cancel(user, {"a": c.get("asset"),
                                                                "o": self.cloids.get((user, c.get("cloid")))})
                                            for c in action.get("cancels", [])])
        if kind == "batchModify":
            return 200, self._ok("order", [self._modify(user, m) for m in action.get("modifies", [])])
        if kind == "scheduleCancel":
            return 200, self._schedule(user, action.get("time"))
        self.violations.append(f"unexpected action {kind}")
        return 200, {"status": "err", "response": f"Unknown action {kind}"}

    def _volume(self, user: str) -> Decimal:
        return sum((Decimal(f["px"]) * Decimal(f["sz"]) for f in self._account(user).fills), Decimal(0))

    def _address_cap(self, user: str) -> int:
        return self.address_buffer + int(self._volume(user))

    def _address_limit(self, user: str, action: dict) -> Optional[str]:
        """Count an action against the address limit; the exchange's error when it is over (not counted then)."""
        account = self._account(user)
        items = action.get("orders") or action.get("cancels") or action.get("modifies") or [None]
        cap = self._address_cap(user)
        limit = min(cap + 100_000, 2 * cap) if action.get("type") in ("cancel", "cancelByCloid") else cap
        if account.requests_used + len(items) > limit:
            now = self._now_ms()
            if now - account.throttled_ms < 10_000:
                self.address_limited += 1
                return ADDRESS_ERROR.format(used=account.requests_used + len(items), cap=cap,
                                            volume=_fmt(self._volume(user)))
            account.throttled_ms = now
        account.requests_used += len(items)
        return None

    @staticmethod
    def _ok(kind: str, statuses: list) -> dict:
        return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}

    def _check(self, user: str, wire: dict, what: str) -> Optional[str]:
        """The exchange's error for an order wire that breaks the rules (recorded), or None."""
        asset = wire.get("a")
        if not isinstance(asset, int) or not 0 <= asset < len(self.names):
            return f"Invalid asset {asset}"
        coin = self.names[asset]
        szd = self.sz_decimals[coin]
        entry = {"user": user, "what": what, "coin": coin, "is_buy": wire.get("b"), "px": wire.get("p"),
                 "sz": wire.get("s"), "tif": wire.get("t", {}).get("limit", {}).get("tif"), "szDecimals": szd,
                 "cloid": wire.get("c"), "reduce_only": bool(wire.get("r"))}
        self.order_log.append(entry)
        problem = None
        if entry["tif"] != "Alo":
            self.violations.append(f"not an ALO order: {wire}")
        if not price_ok(str(wire.get("p")), szd):
            problem = "Order has invalid price."
        elif not size_ok(str(wire.get("s")), szd):
            problem = "Order has invalid size."
        elif Decimal(wire["p"]) * Decimal(wire["s"]) < 10:
            problem = f"Order must have minimum value of $10. asset={asset}"
        if problem:
            entry["error"] = problem
            self.rule_failures.append(entry)
        return problem

    def _rest(self, user: str, wire: dict) -> dict:
        coin = self.names[wire["a"]]
        bid, ask = self._book(coin)
        px = Decimal(wire["p"])
        if (wire["b"] and px >= ask) or (not wire["b"] and px <= bid):
            return {"error": ALO_ERROR.format(bid=_fmt(bid), ask=_fmt(ask), asset=wire["a"])}
        if wire.get("r"):
            szi = self._account(user).positions.get(coin, (Decimal(0), Decimal(0)))[0]
            if szi == 0 or (szi > 0) == bool(wire["b"]):
                return {"error": REDUCE_ONLY_ERROR.format(asset=wire["a"])}
        cloid = wire.get("c")
        if cloid is not None and (user, cloid) in self.cloids:
            self.violations.append(f"cloid {cloid} used twice")
            return {"error": "Duplicate cloid."}
        self._oid += 1
        order = Resting(self._oid, user, coin, bool(wire["b"]), wire["p"], wire["s"], wire["s"], self._now_ms(),
                        cloid, bool(wire.get("r")))
        self.orders[self._oid] = order
        if cloid is not None:
            self.cloids[(user, cloid)] = self._oid
        side = (user, coin, order.is_buy)
        count = sum(1 for o in self.orders.values() if (o.user, o.coin, o.is_buy) == side and o.cloid is not None)
        self.peaks[side] = max(self.peaks.get(side, 0), count)
        out: dict = {"oid": self._oid}
        if cloid is not None:
            out["cloid"] = cloid
        return {"resting": out}

    def _place(self, user: str, wires: list[dict]) -> list[dict]:
        partial = self._fault("/exchange", "order", ("partial_batch",)) if len(wires) > 1 else None
        statuses = []
        for i, wire in enumerate(wires):
            problem = self._check(user, wire, "order")
            if problem:
                statuses.append({"error": problem})
            elif partial is not None and i % 2 == 1:
                statuses.append({"error": MARGIN_ERROR.format(asset=wire["a"])})
            elif self._fault("/exchange", "order", ("alo_reject",)):
                bid, ask = self._book(self.names[wire["a"]])
                statuses.append({"error": ALO_ERROR.format(bid=_fmt(bid), ask=_fmt(ask), asset=wire["a"])})
            else:
                statuses.append(self._rest(user, wire))
        return statuses

    def _cancel(self, user: str, cancel: dict) -> Any:
        order = self.orders.get(cancel.get("o"))
        if order is None or order.user != user or self.names.index(order.coin) != cancel.get("a"):
            return {"error": GONE_ERROR.format(asset=cancel.get("a"))}
        self._finish(order.oid, "canceled")
        return "success"

    def _modify(self, user: str, modify: dict) -> dict:
        wire = modify.get("order", {})
        ref = modify.get("oid")
        old = self.orders.get(self.cloids.get((user, ref)) if isinstance(ref, str) else ref)
        problem = self._check(user, wire, "modify")
        if old is not None and old.user == user:
            self.order_log[-1].update(old_px=old.px, old_sz=old.orig, old_is_buy=old.is_buy)
        if old is None or old.user != user:
            return {"error": MODIFY_GONE}
        if problem:
            return {"error": problem}
        self._finish(old.oid, "canceled")  # cancel-and-replace: the replacement gets a new oid
        return self._rest(user, wire)

    def _schedule(self, user: str, at: Optional[int]) -> dict:
        if self.refuse_schedule:
            return {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded. "
                                                 "Required: $1000000. Traded: $0."}
        if at is not None and at < self._now_ms() + 5000:
            return {"status": "err", "response": "Scheduled cancel time too early, must be at least 5 seconds "
                                                 "from now"}
        self._account(user).schedule = at
        return {"status": "ok", "response": {"type": "default"}}


def make_venue(url: str, symbol: str = "ETH", key: str = TEST_KEY, **params: Any) -> Any:
    """A Hyperliquid venue for ``symbol`` on the server at ``url``, built without Hydra (not yet connected)."""
    from botmm.config import AssetConfig
    from botmm.plugins.exchanges.hyperliquid.config import HyperliquidParams
    from botmm.plugins.exchanges.hyperliquid.execution import HyperliquidVenue
    from botmm.secrets import Secret

    settings = {"name": "hyperliquid", "base_url": url, "timeout_s": 1.0, **params}
    return HyperliquidVenue(HyperliquidParams(**settings), AssetConfig(symbol=symbol, tick_size=0.1, lot_size=0.0001),
                            Secret(key))


def connected_venue(url: str, **params: Any) -> Any:
    """:func:`make_venue`, connected, with the events it reports collected in its ``events`` list."""
    venue = make_venue(url, **params)
    venue.connect()
    events: list[tuple[str, dict]] = []
    venue.notify = lambda event, **data: events.append((event, data))
    venue.events = events
    return venue
