"""``notifier=discord``: notifications posted to a Discord webhook, without ever slowing or stopping the trading loop.

* The webhook URL is a secret: it comes from the environment variable named by ``webhook_env``
  (``BOTMM_DISCORD_WEBHOOK``), never from the config, and is masked in every log line. Unset, the notifier logs an
  error once and only logs its notifications.
* ``deliver`` only puts the notification on a bounded queue (the oldest is dropped when it is full); one background
  thread posts. A dead or slow webhook therefore costs the trading loop nothing: failures are logged, retried with
  backoff, then dropped.
* Bursts are batched: everything that arrives within ``batch_seconds`` of the first goes out as one message (split
  at Discord's 2,000 characters). More than ``max_fill_lines`` fills of one symbol in a batch are summed up in one
  line (count, buys and sells with size and average price, fees).
* Rate limits: at most ``max_per_minute`` messages in any 60 s to one webhook, counted across the process's
  notifiers (Discord allows 30 a minute per channel); when
  Discord says a bucket is empty (``X-RateLimit-Remaining: 0``) the next post waits ``X-RateLimit-Reset-After``;
  a 429 is retried after its ``retry_after`` (JSON body, or the ``Retry-After`` header).
* At the end of a job the queue is drained for at most ``flush_timeout_s`` (not at all while the webhook is
  failing), so a stop never waits long on Discord.
* ``log_events`` (default on) also logs each notification like ``notifier=console``, so the log file keeps them.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from botmm import (REDACTOR, BuildContext, ComponentParams, HookNotifier, Notification, hookimpl, install_redaction,
                   require)

if TYPE_CHECKING:
    from urllib.error import HTTPError

log = logging.getLogger("botmm.notify.discord")
notes_log = logging.getLogger("botmm.notify")

MAX_CONTENT = 2000  # Discord's limit on a message's content
WINDOW_S = 60.0
_STOP = object()


@dataclass
class DiscordParams(ComponentParams):
    webhook_env: str = "BOTMM_DISCORD_WEBHOOK"  # environment variable holding the webhook URL (a secret)
    username: str = "botmm"
    fills: Optional[bool] = None  # post every fill; None: in wall-clock runs only
    events: Optional[List[str]] = None  # only these events (None: all; names in botmm.notify.CATALOGUE)
    min_level: str = "INFO"  # drop notifications below this level
    batch_seconds: float = 2.0  # notifications within this long of the first of a burst go out as one message
    max_fill_lines: int = 5  # more fills of one symbol in a batch than this are summed up in one line
    max_per_minute: int = 25  # messages in any 60 s (Discord: 30 a minute per channel)
    timeout_s: float = 5.0  # HTTP timeout of one post
    max_retries: int = 3  # failed posts (not 429s) retried this often with backoff, then dropped
    queue_size: int = 10_000  # notifications waiting; the oldest is dropped beyond
    flush_timeout_s: float = 2.0  # at job end, wait at most this long for the queue to drain
    log_events: bool = True  # also log each notification (console and log file) like notifier=console

    def __post_init__(self) -> None:
        require(bool(self.webhook_env), self, "webhook_env", "must name an environment variable")
        require(isinstance(logging.getLevelName(self.min_level.upper()), int), self, "min_level",
                "must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        require(self.batch_seconds >= 0, self, "batch_seconds", "must be >= 0")
        require(self.max_fill_lines >= 0, self, "max_fill_lines", "must be >= 0")
        require(self.max_per_minute >= 1, self, "max_per_minute", "must be >= 1")
        require(self.timeout_s > 0, self, "timeout_s", "must be > 0")
        require(self.max_retries >= 0, self, "max_retries", "must be >= 0")
        require(self.queue_size >= 1, self, "queue_size", "must be >= 1")
        require(self.flush_timeout_s >= 0, self, "flush_timeout_s", "must be >= 0")


def _line(note: Notification) -> str:
    return f"`{note.symbol}` {note.text}"


def _fill_summary(symbol: str, fills: list[Notification]) -> str:
    parts = []
    for side, name in ((1, "buys"), (-1, "sells")):
        chosen = [f.data for f in fills if f.data["side"] == side]
        if chosen:
            size = sum(d["size"] for d in chosen)
            avg = sum(d["size"] * d["price"] for d in chosen) / size if size else 0.0
            parts.append(f"{len(chosen)} {name} {size:g} @ avg {avg:.6g}")
    fees = sum(f.data.get("fee", 0.0) for f in fills)
    return f"`{symbol}` {len(fills)} fills: {', '.join(parts)}; fees {fees:.6f}"


def pack(notes: list[Notification], max_fill_lines: int) -> list[str]:
    """The messages for one batch: one line per notification in order, a symbol's fills beyond ``max_fill_lines``
    summed up in one line where its first fill was, split into messages of at most 2,000 characters."""
    fills: dict[str, list[Notification]] = collections.defaultdict(list)
    for note in notes:
        if note.event == "fill":
            fills[note.symbol].append(note)
    lines: list[str] = []
    summarised: set[str] = set()
    for note in notes:
        if note.event == "fill" and len(fills[note.symbol]) > max_fill_lines:
            if note.symbol not in summarised:
                summarised.add(note.symbol)
                lines.append(_fill_summary(note.symbol, fills[note.symbol]))
            continue
        lines.append(_line(note))
    messages: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= MAX_CONTENT else line[:MAX_CONTENT - 1] + "…"
        if current and len(current) + 1 + len(line) > MAX_CONTENT:
            messages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        messages.append(current)
    return messages


class RateLimiter:
    """At most ``per_minute`` posts in any 60 s, plus the waits Discord asks for (bucket reset, 429 ``retry_after``).
    Shared by every notifier of a process posting to the same webhook (one per asset in a multi-asset run), so
    together they stay within the channel's limit; thread-safe."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute, self.clock = per_minute, clock
        self.sent: collections.deque[float] = collections.deque()
        self.not_before = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Reserve a post now and return 0, or return the seconds to wait before asking again."""
        with self._lock:
            now = self.clock()
            while self.sent and self.sent[0] <= now - WINDOW_S:
                self.sent.popleft()
            window = self.sent[0] + WINDOW_S - now if len(self.sent) >= self.per_minute else 0.0
            wait = max(window, self.not_before - now, 0.0)
            if wait == 0.0:
                self.sent.append(now)
            return wait

    def hold(self, seconds: float) -> None:
        """No post for ``seconds`` from now."""
        with self._lock:
            self.not_before = max(self.not_before, self.clock() + seconds)


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(url: str, per_minute: int) -> RateLimiter:
    """The process's rate limiter of webhook ``url``."""
    with _LIMITERS_LOCK:
        if url not in _LIMITERS:
            _LIMITERS[url] = RateLimiter(per_minute)
        return _LIMITERS[url]


class _RateLimited(Exception):
    def __init__(self, retry_after: float):
        super().__init__(f"429, retry after {retry_after:g}s")
        self.retry_after = retry_after


class DiscordNotifier(HookNotifier):
    """Queues notifications; a daemon thread batches them and posts them to the webhook (see the module docs)."""

    def __init__(self, params: DiscordParams):
        super().__init__(params.fills, params.events, logging.getLevelName(params.min_level.upper()))
        self.params = params
        self.queue: queue.Queue[Any] = queue.Queue(params.queue_size)
        self.limiter: Optional[RateLimiter] = None
        self.stats = {"queued": 0, "posted": 0, "messages": 0, "dropped": 0, "failed_posts": 0, "rate_limited": 0}
        self.failing = False
        self._url: Optional[str] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- the trading side: never blocks, never raises --------------------------------------------------------------
    def deliver(self, note: Notification) -> None:
        if self.params.log_events:
            notes_log.log(note.level, "%s", note.text, extra={"symbol": note.symbol, "event": note.event})
        if not self._started():
            return
        while True:
            try:
                self.queue.put_nowait(note)
                self.stats["queued"] += 1
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.stats["dropped"] += 1
                except queue.Empty:
                    pass

    def _started(self) -> bool:
        """Start the sender on first use; False when there is no webhook to post to."""
        if self._thread is not None:
            return self._url is not None
        with self._lock:
            if self._thread is None:
                self._url = self._webhook()
                self._thread = threading.Thread(target=self._run, name="botmm-discord", daemon=True)
                if self._url is not None:
                    self._thread.start()
        return self._url is not None

    def _webhook(self) -> Optional[str]:
        name = self.params.webhook_env
        url = os.environ.get(name, "").strip()
        if not url.startswith(("http://", "https://")):
            problem = "is not set" if not url else "does not hold an http(s) URL"
            log.error("notifier=discord: environment variable %s %s; notifications are only logged", name, problem)
            return None
        REDACTOR.add(url)
        install_redaction()
        self.limiter = limiter_for(url, self.params.max_per_minute)
        return url

    @hookimpl
    def botmm_run_end(self, run: Any, result: dict[str, Any]) -> None:
        super().botmm_run_end(run, result)
        self.close(self.params.flush_timeout_s)

    def close(self, timeout: float) -> None:
        """Stop the sender after it has sent what is queued, waiting at most ``timeout`` seconds (not at all while
        the webhook is failing); what is still queued then is dropped."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stopping.set()
        try:
            self.queue.put_nowait(_STOP)
        except queue.Full:
            pass
        thread.join(0.0 if self.failing else timeout)

    # -- the sender thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            batch, stop = self._collect(item)
            for message in pack(batch, self.params.max_fill_lines):
                self._send(message)
            if stop:
                return

    def _collect(self, first: Notification) -> tuple[list[Notification], bool]:
        """The burst that ``first`` opens: everything queued within ``batch_seconds`` (less at a stop)."""
        batch = [first]
        deadline = time.monotonic() + self.params.batch_seconds
        while True:
            remaining = 0.0 if self._stopping.is_set() else deadline - time.monotonic()
            try:
                item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is _STOP:
                return batch, True
            batch.append(item)

    def _send(self, content: str) -> None:
        attempt = 0
        while True:
            while (wait := self.limiter.acquire()) > 0:
                time.sleep(wait)
            try:
                self._post(content)
            except _RateLimited as exc:
                self.stats["rate_limited"] += 1
                log.info("discord rate limit: waiting %.2fs", exc.retry_after)
                self.limiter.hold(exc.retry_after)
                continue
            except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, refused connections
                self.stats["failed_posts"] += 1
                if not self.failing:
                    log.warning("discord webhook failed (%s); retrying, trading is not affected", _reason(exc))
                self.failing = True
                if attempt >= self.params.max_retries or self._stopping.is_set():
                    self.stats["dropped"] += 1
                    return
                self.limiter.hold(min(2.0 ** attempt, 30.0))
                attempt += 1
                continue
            if self.failing:
                log.info("discord webhook reachable again")
            self.failing = False
            self.stats["posted"] += 1
            return

    def _post(self, content: str) -> None:
        import urllib.error  # here: urllib.request costs every botmm command 50 ms to import
        import urllib.request

        body = json.dumps({"content": content, "username": self.params.username,
                           "allowed_mentions": {"parse": []}}).encode()
        request = urllib.request.Request(self._url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "botmm"})
        try:
            with urllib.request.urlopen(request, timeout=self.params.timeout_s) as response:
                headers = response.headers
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise _RateLimited(_retry_after(exc)) from None
            raise
        self.stats["messages"] += 1
        if headers.get("X-RateLimit-Remaining") == "0":
            self.limiter.hold(_float(headers.get("X-RateLimit-Reset-After"), 1.0))


def _float(text: Optional[str], default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def _retry_after(exc: HTTPError) -> float:
    """Seconds a 429 asks to wait: ``retry_after`` of the JSON body, else the ``Retry-After`` header, else 1."""
    try:
        return float(json.loads(exc.read() or b"{}")["retry_after"])
    except (ValueError, KeyError, TypeError):
        return _float(exc.headers.get("Retry-After") if exc.headers else None, 1.0)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


def make_discord(params: DiscordParams, ctx: BuildContext) -> DiscordNotifier:
    return DiscordNotifier(params)


@hookimpl
def botmm_register_notifiers(register):
    register("discord", make_discord, DiscordParams)
