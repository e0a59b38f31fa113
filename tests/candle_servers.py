"""Loopback candle servers for the data tests, each answering in its venue's real format from one deterministic
history, and :func:`run_botmm`, which runs ``botmm`` command lines in parallel subprocesses.

* :class:`HLCandleServer`: Hyperliquid ``POST /info`` with ``{"type": "meta"}`` (the universe, as in
  ``hl_info/info_test/test_get_info.yaml``) and ``{"type": "candleSnapshot", "req": {coin, interval, startTime,
  endTime}}``, answered like ``test_get_candles_snapshot.yaml``: a JSON list, oldest first, of
  ``{"T", "c", "h", "i", "l", "n", "o", "s", "t", "v"}`` with prices and volume as strings, covering the bars from
  the one that contains ``startTime`` up to ``endTime`` (inclusive), at most 5000. A 429 or 500 has a ``null`` body.
* :class:`BybitCandleServer`: ``GET /v5/market/kline?category&symbol&interval&start&end&limit`` answered
  ``{"retCode": 0, "retMsg": "OK", "result": {"category", "symbol", "list": [[start ms, open, high, low, close,
  volume, turnover] as strings, newest first]}, "retExtInfo": {}, "time"}``: the newest ``limit`` (at most 1000)
  bars opening in [start, end]. An unknown symbol is ``retCode`` 10001 "Not supported symbols", an unknown interval
  10001 "Invalid period!", and fault 10006 is Bybit's "Too many visits!".

History: every listed symbol has a bar at each multiple of the bar length from ``listed_ms`` up to now, except the
opens in ``holes`` (bars the venue never had). :func:`bar` gives a bar's values as the strings both servers send.
Counters: ``candle_requests`` holds the parameters of every candle request (failed ones too); ``meta_requests``
counts Hyperliquid meta calls. :meth:`CandleServer.fail` injects faults into candle requests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BAR_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
          "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
          "1d": 86_400_000}
HL_COINS = {"BTC": (60_000.0, 5), "ETH": (3_000.0, 4), "kPEPE": (0.012, 0)}  # coin: (base price, szDecimals)
BYBIT_SYMBOLS = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0}
BYBIT_PERIODS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h", "240": "4h",
                 "360": "6h", "720": "12h", "D": "1d"}


def bar(base: float, bar_ms: int, t: int) -> tuple[str, str, str, str, str, int]:
    """The bar opening at ``t``: (open, high, low, close, volume, trades), prices and volume as the venues' strings.

    A slow and a fast sine wave around ``base``, prices on a grid of base / 600,000 (0.1 for BTC)."""
    k = t // bar_ms
    tick = base / 600_000

    def price(i: int) -> float:
        return round(base * (1 + 0.02 * math.sin(i / 500) + 0.002 * math.sin(i * 0.37)) / tick) * tick

    o, c = price(k), price(k + 1)
    h, low = max(o, c) + tick * (k % 5 + 1), min(o, c) - tick * (k % 3 + 1)
    digits = max(0, -math.floor(math.log10(tick)))
    volume = 0.5 + (k * 7919 % 1000) / 100
    return (f"{o:.{digits}f}", f"{h:.{digits}f}", f"{low:.{digits}f}", f"{c:.{digits}f}", f"{volume:.5f}",
            int(k * 31 % 400 + 1))


@dataclass
class Fault:
    """Candle requests number ``after`` + 1 on (counted from when it was set) answer ``status``; ``times`` of them
    (None: every later one)."""

    status: int
    after: int = 0
    times: Optional[int] = 1
    seen: int = 0

    def fires(self) -> bool:
        self.seen += 1
        return self.seen > self.after and (self.times is None or self.seen <= self.after + self.times)


class CandleServer(ABC):
    """A loopback HTTP server on 127.0.0.1 (port chosen by the OS); use as a context manager."""

    def __init__(self, listed_ms: int = T0_MS, holes: frozenset[int] = frozenset()):
        self.listed_ms, self.holes = listed_ms, set(holes)
        self.candle_requests: list[dict[str, Any]] = []
        self.meta_requests = 0
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                owner._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> CandleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, status: int, after: int = 0, times: Optional[int] = 1) -> None:
        """Inject a fault into later candle requests (see :class:`Fault`)."""
        with self._lock:
            self._faults.append(Fault(status, after, times))

    def heal(self) -> None:
        """Drop every fault."""
        with self._lock:
            self._faults.clear()

    def history(self, bar_ms: int, first: int, last: int) -> list[int]:
        """The bar opens the venue has in [first, last]: on the grid, listed, closed or open now, not a hole."""
        now = int(time.time() * 1000)
        lo = max(-(-first // bar_ms) * bar_ms, -(-self.listed_ms // bar_ms) * bar_ms)
        return [t for t in range(lo, min(last, now) + 1, bar_ms) if t not in self.holes]

    def _fault(self) -> Optional[int]:
        with self._lock:
            fired = [f.status for f in self._faults if f.fires()]
        return fired[0] if fired else None

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        status, body = self.answer(handler, method)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @abstractmethod
    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> tuple[int, Any]:
        """The (HTTP status, JSON body) for one request."""


class HLCandleServer(CandleServer):
    """Hyperliquid's ``/info`` for meta and candleSnapshot (see the module docstring)."""

    cap = 5000

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> tuple[int, Any]:
        if method != "POST" or urlparse(handler.path).path != "/info":
            return 404, None
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null")
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "meta":
            self.meta_requests += 1
            return 200, {"universe": [{"maxLeverage": 50, "name": name, "szDecimals": sz}
                                      for name, (_, sz) in HL_COINS.items()]}
        if kind != "candleSnapshot":
            return 422, None
        req = body.get("req") or {}
        self.candle_requests.append(dict(req))
        fault = self._fault()
        if fault is not None:
            return fault, None
        coin, interval = req.get("coin"), req.get("interval")
        if coin not in HL_COINS or interval not in BAR_MS:
            return 500, None
        bar_ms, base = BAR_MS[interval], HL_COINS[coin][0]
        start, end = int(req["startTime"]), int(req["endTime"])
        rows = []
        for t in self.history(bar_ms, start // bar_ms * bar_ms, end)[: self.cap]:
            o, h, low, c, v, n = bar(base, bar_ms, t)
            rows.append({"T": t + bar_ms - 1, "c": c, "h": h, "i": interval, "l": low, "n": n, "o": o, "s": coin,
                         "t": t, "v": v})
        return 200, rows


class BybitCandleServer(CandleServer):
    """Bybit's ``/v5/market/kline`` (see the module docstring)."""

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> tuple[int, Any]:
        url = urlparse(handler.path)
        if method != "GET" or url.path != "/v5/market/kline":
            return 404, {"retCode": 10001, "retMsg": "Not found"}
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.candle_requests.append(query)
        now = int(time.time() * 1000)
        fault = self._fault()
        if fault == 10006:
            return 200, {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": now}
        if fault is not None:
            return fault, None
        symbol, period = query.get("symbol"), query.get("interval")
        if symbol not in BYBIT_SYMBOLS:
            return 200, {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}, "retExtInfo": {},
                         "time": now}
        if period not in BYBIT_PERIODS:
            return 200, {"retCode": 10001, "retMsg": "Invalid period!", "result": {}, "retExtInfo": {}, "time": now}
        bar_ms, base = BAR_MS[BYBIT_PERIODS[period]], BYBIT_SYMBOLS[symbol]
        limit = min(int(query.get("limit", 200)), 1000)
        opens = self.history(bar_ms, int(query.get("start", 0)), int(query.get("end", now)))[-limit:]
        listed = []
        for t in reversed(opens):
            o, h, low, c, v, _ = bar(base, bar_ms, t)
            listed.append([str(t), o, h, low, c, v, f"{float(v) * float(c):.4f}"])
        result = {"category": query.get("category", "linear"), "symbol": symbol, "list": listed}
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}


def run_botmm(
    cwd: Path, commands: dict[str, list[str]], timeout: float = 120
) -> dict[str, subprocess.CompletedProcess]:
    """Run each named ``botmm`` argument list as its own process from ``cwd``, all at once; results by name."""
    env = {**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    procs = {name: subprocess.Popen([sys.executable, "-m", "botmm", *args], cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in commands.items()}
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=timeout)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done
