"""``botmm data fetch``: download candles from Hyperliquid or Bybit into the candles dataset
(:mod:`botmm.data.dataset`).

* **Hyperliquid**: ``candleSnapshot`` through the SDK (``Info.candles_snapshot``). One ``meta`` call checks the coin
  first; the SDK's ``Info`` is then built with ``skip_ws=True`` and that meta, so it makes no call of its own. A call
  answers at most 5000 bars, and Hyperliquid keeps only the most recent 5000 bars of each interval: older ranges
  come back empty.
* **Bybit**: the public ``GET /v5/market/kline`` with ``category=linear`` (USDT/USDC perpetuals, whose volume is in
  coins), at most 1000 bars a call, listed newest first.

What is fetched: the bars of the interval's grid that open in [start, end) and have closed by now, less those the
dataset already holds. The missing bars are grouped into windows spanning at most one page (5000 or 1000 bars) and
each window is one request, so no answer is cut short, whichever end of a longer range a venue would keep. Every
answer is merged into the dataset as it arrives, so an interrupted run keeps what it got and the next run asks only
for the rest, and a run over a complete range makes no request at all. Bars a venue does
not have (before a listing, beyond Hyperliquid's 5000, a quiet market) stay missing: the run reports how many, and
the next run asks for them again.

A host name that does not resolve (offline, a wrong ``--base-url``) or an address where nothing listens (connection
refused) is one line at once: no retry would fix it.
Retries: connection errors, timeouts, HTTP 429 and 5xx, and Bybit's ``retCode`` 10006 ("Too many visits") are
retried up to ``retries`` times after ``backoff * 2**attempt`` seconds (at most 60 s a wait). Anything else (an
unknown coin or symbol, an interval the venue lacks, Bybit's HTTP 403 IP ban) is one ``DataError`` line.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import click
import numpy as np

from botmm.data.dataset import dataset_dir, interval_ms, iso, parse_time, stored_ts, write_bars
from botmm.errors import BotmmError, ConfigError, DataError

log = logging.getLogger("botmm.data.fetch")

BASE_URLS = {"hyperliquid": "https://api.hyperliquid.xyz", "bybit": "https://api.bybit.com"}
HL_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d")
BYBIT_INTERVALS = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120", "4h": "240",
                   "6h": "360", "12h": "720", "1d": "D"}
MAX_WAIT_S = 60.0

Row = tuple[int, float, float, float, float, float]  # ts (bar open, ms), open, high, low, close, volume


class _Transient(Exception):
    """A failure worth retrying (rate limit, server error, network)."""


def _unanswered(exc: Exception, url: str) -> Exception:
    """What a request that got no answer raises: a DataError when the host name does not resolve or nothing listens
    at the address (no retry would fix either; an interrupted fetch resumes where it stopped when run again), a
    retryable failure otherwise (reset, timed out)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return DataError(f"{url}: cannot resolve the host name (no network, or a wrong --base-url)")
        if isinstance(cause, ConnectionRefusedError):
            return DataError(f"{url}: connection refused (nothing listens there: a wrong --base-url?)")
        cause = cause.__cause__ or cause.__context__
    return _Transient(type(exc).__name__)


@dataclass(frozen=True)
class Retry:
    """Retry policy: ``retries`` more attempts after the first, waiting ``backoff_s * 2**attempt`` (capped)."""

    retries: int = 6
    backoff_s: float = 1.0

    def call(self, fn: Callable[[], Any], what: str) -> Any:
        """``fn()``, retried on a transient failure; a DataError naming ``what`` once the retries are spent."""
        attempt = 0
        while True:
            try:
                return fn()
            except _Transient as exc:
                if attempt == self.retries:
                    raise DataError(f"{what}: {exc}; gave up after {attempt + 1} attempt(s)") from None
                wait = min(MAX_WAIT_S, self.backoff_s * 2**attempt)
                attempt += 1
                log.warning("%s: %s; retry %d of %d in %.2f s", what, exc, attempt, self.retries, wait)
                time.sleep(wait)


class Source(Protocol):
    """One venue's candle endpoint: ``bars(first, last)`` asks once for the bars opening in [first, last] (ms)."""

    venue: str
    page: int

    def bars(self, first: int, last: int) -> list[Row]: ...


class HyperliquidSource:
    """``candleSnapshot`` through the hyperliquid SDK."""

    venue = "hyperliquid"
    page = 5000

    def __init__(self, symbol: str, interval: str, base_url: str, timeout_s: float, retry: Retry):
        if interval not in HL_INTERVALS:
            raise ConfigError(f"hyperliquid has no {interval!r} candles; choose one of {', '.join(HL_INTERVALS)}")
        self.symbol, self.interval, self.base_url, self.timeout_s, self.retry = (
            symbol, interval, base_url, timeout_s, retry)
        self._info: Any = None

    def _client(self) -> Any:
        """The SDK's Info, after one ``meta`` call that checks the coin exists."""
        if self._info is None:
            from hyperliquid.api import API
            from hyperliquid.info import Info

            api = API(self.base_url, self.timeout_s)
            meta = self.retry.call(lambda: self._sdk(lambda: api.post("/info", {"type": "meta"})), "hyperliquid meta")
            names = [asset.get("name") for asset in (meta or {}).get("universe", []) if isinstance(asset, dict)]
            if self.symbol not in names:
                near = [n for n in names if str(n).lower() == self.symbol.lower()]
                hint = f"; did you mean {near[0]!r}?" if near else f"; listed: {', '.join(map(str, names[:8]))}, ..."
                raise DataError(f"hyperliquid: no perpetual named {self.symbol!r}{hint}")
            self._info = Info(self.base_url, skip_ws=True, meta=meta, spot_meta={"universe": [], "tokens": []},
                              timeout=self.timeout_s)
        return self._info

    def bars(self, first: int, last: int) -> list[Row]:
        info = self._client()
        what = f"hyperliquid {self.symbol} {self.interval} {iso(first)}..{iso(last)}"
        answer = self.retry.call(lambda: self._sdk(
            lambda: info.candles_snapshot(self.symbol, self.interval, first, last)), what)
        if not isinstance(answer, list):
            raise DataError(f"{what}: unexpected answer {str(answer)[:120]}")
        try:
            return [(int(c["t"]), float(c["o"]), float(c["h"]), float(c["l"]), float(c["c"]), float(c["v"]))
                    for c in answer]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{what}: malformed candle ({type(exc).__name__}: {exc})") from None

    def _sdk(self, fn: Callable[[], Any]) -> Any:
        """Call the SDK, turning rate limits, server errors and network failures into retryable errors."""
        import requests
        from hyperliquid.utils.error import ClientError, ServerError

        try:
            return fn()
        except ClientError as exc:
            if exc.status_code == 429:
                raise _Transient("HTTP 429 (rate limited)") from None
            raise DataError(f"hyperliquid: HTTP {exc.status_code}: {str(exc.error_message)[:120]}") from None
        except ServerError as exc:
            raise _Transient(f"HTTP {exc.status_code}") from None
        except requests.RequestException as exc:
            raise _unanswered(exc, self.base_url) from None


class BybitSource:
    """Bybit's public kline endpoint (linear perpetuals)."""

    venue = "bybit"
    page = 1000

    def __init__(self, symbol: str, interval: str, base_url: str, timeout_s: float, retry: Retry):
        import requests

        if interval not in BYBIT_INTERVALS:
            raise ConfigError(f"bybit has no {interval!r} candles; choose one of {', '.join(BYBIT_INTERVALS)}")
        self.symbol, self.interval, self.timeout_s, self.retry = symbol, interval, timeout_s, retry
        self.url = base_url.rstrip("/") + "/v5/market/kline"
        self.session = requests.Session()

    def bars(self, first: int, last: int) -> list[Row]:
        what = f"bybit {self.symbol} {self.interval} {iso(first)}..{iso(last)}"
        params = {"category": "linear", "symbol": self.symbol, "interval": BYBIT_INTERVALS[self.interval],
                  "start": first, "end": last, "limit": self.page}
        listed = self.retry.call(lambda: self._get(params, what), what)
        try:
            return [(int(k[0]), float(k[1]), float(k[2]), float(k[3]), float(k[4]), float(k[5]))
                    for k in reversed(listed)]
        except (IndexError, TypeError, ValueError) as exc:
            raise DataError(f"{what}: malformed kline ({type(exc).__name__}: {exc})") from None

    def _get(self, params: dict[str, Any], what: str) -> list[Any]:
        import requests

        try:
            response = self.session.get(self.url, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise _unanswered(exc, self.url) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}")
        if status == 403:
            raise DataError(f"{what}: HTTP 403: Bybit bans an IP that asks too often; wait at least 10 minutes")
        if status >= 400:
            raise DataError(f"{what}: HTTP {status}: {response.text[:120]}")
        try:
            body = response.json()
            code, message = body.get("retCode"), body.get("retMsg")
        except (ValueError, AttributeError):
            raise DataError(f"{what}: not a JSON object: {response.text[:120]}") from None
        if code == 10006:
            raise _Transient(f"retCode 10006 ({message})")
        if code != 0:
            raise DataError(f"bybit {self.symbol} {self.interval}: {message} (retCode {code})")
        listed = (body.get("result") or {}).get("list")
        if not isinstance(listed, list):
            raise DataError(f"{what}: answer without result.list: {response.text[:120]}")
        return listed


SOURCES: dict[str, type] = {"hyperliquid": HyperliquidSource, "bybit": BybitSource}


@dataclass(frozen=True)
class FetchResult:
    """One run: the bars the range wants, those stored before, requests made, what changed and what is missing."""

    directory: Path
    wanted: int
    stored_before: int
    requests: int
    added: int
    replaced: int
    missing: int
    files: list[Path]

    def summary(self, label: str) -> str:
        text = (f"{label}: {self.added} new bar(s) from {self.requests} request(s); "
                f"{self.wanted - self.missing} of {self.wanted} bars stored in {self.directory}")
        return text + (f"; {self.missing} not available from the venue" if self.missing else "")


def fetch_candles(
    venue: str,
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    root: str | Path = "data",
    *,
    base_url: str | None = None,
    retries: int = 6,
    backoff_s: float = 1.0,
    timeout_s: float = 5.0,
    now_ms: int | None = None,
) -> FetchResult:
    """Fetch the closed bars opening in [start_ms, end_ms) that the dataset lacks (see the module docstring)."""
    if venue not in SOURCES:
        raise ConfigError(f"venue {venue!r} is not supported; choose one of {', '.join(SOURCES)}")
    directory = dataset_dir(root, venue, symbol, interval)
    bar = interval_ms(interval)
    retry = Retry(retries, backoff_s)
    source: Source = SOURCES[venue](symbol, interval, base_url or BASE_URLS[venue], timeout_s, retry)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    first, stop = -(-start_ms // bar) * bar, min(end_ms, now // bar * bar)
    grid = np.arange(first, stop, bar, dtype=np.int64) if stop > first else np.zeros(0, dtype=np.int64)
    missing = np.setdiff1d(grid, stored_ts(directory, first, stop), assume_unique=True)
    requests = added = replaced = 0
    files: set[Path] = set()
    label = f"{venue} {symbol} {interval}"
    for lo, hi in _windows(missing, bar, source.page):
        rows = [row for row in source.bars(lo, hi) if lo <= row[0] <= hi]
        requests += 1
        if not rows:
            continue
        columns = np.array(rows, dtype=np.float64).T
        bars = {"ts": np.array([row[0] for row in rows], dtype=np.int64),
                **dict(zip(("open", "high", "low", "close", "volume"), columns[1:]))}
        written = write_bars(directory, bars, bar, f"{label} answer for {iso(lo)}..{iso(hi)}")
        added, replaced = added + written.added, replaced + written.replaced
        files.update(written.files)
    left = len(np.setdiff1d(grid, stored_ts(directory, first, stop), assume_unique=True))
    if left:
        note = " (Hyperliquid keeps only the latest 5000 bars of an interval)" if venue == "hyperliquid" else ""
        log.warning("%s: %d bar(s) between %s and %s are not available%s", label, left, iso(first), iso(stop), note)
    return FetchResult(directory, len(grid), len(grid) - len(missing), requests, added, replaced, left,
                       sorted(files))


def _windows(missing: np.ndarray, bar: int, page: int) -> list[tuple[int, int]]:
    """Group sorted bar opens into request windows [lo, hi] spanning at most ``page`` bars."""
    windows = []
    i = 0
    while i < len(missing):
        lo = int(missing[i])
        j = int(np.searchsorted(missing, lo + (page - 1) * bar, side="right"))
        windows.append((lo, int(missing[j - 1])))
        i = j
    return windows


@click.command("fetch")
@click.option("--venue", type=click.Choice(sorted(SOURCES)), required=True)
@click.option("--symbol", required=True, help="The venue's name: BTC on Hyperliquid, BTCUSDT on Bybit.")
@click.option("--interval", default="1m", show_default=True, help="Bar length: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d.")
@click.option("--start", required=True, help="First bar: ISO date or time, UTC unless zoned (2024-01-01).")
@click.option("--end", default=None, help="End, exclusive: ISO date or time [default: now].")
@click.option("--root", default="data", show_default=True,
              help="Dataset root; bars go to <root>/candles/<venue>/<symbol>/<interval>/YYYY-MM.parquet.")
@click.option("--base-url", default=None, help="API server [default: the venue's mainnet].")
@click.option("--retries", default=6, show_default=True, type=click.IntRange(min=0),
              help="Retries of a rate-limited or failed request.")
@click.option("--backoff", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds before the first retry; doubles each retry.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="HTTP timeout, seconds.")
def fetch(venue: str, symbol: str, interval: str, start: str, end: str | None, root: str, base_url: str | None,
          retries: int, backoff: float, timeout: float) -> None:
    """Download candles into the dataset; a re-run fetches only the bars still missing."""
    try:
        start_ms = parse_time(start, "--start")
        end_ms = parse_time(end, "--end") if end else int(time.time() * 1000)
        if end_ms <= start_ms:
            raise ConfigError(f"--end={end} must be after --start={start}")
        result = fetch_candles(venue, symbol, interval, start_ms, end_ms, root, base_url=base_url, retries=retries,
                               backoff_s=backoff, timeout_s=timeout)
    except BotmmError as exc:
        click.echo(f"botmm: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(result.summary(f"{venue} {symbol} {interval}"))
