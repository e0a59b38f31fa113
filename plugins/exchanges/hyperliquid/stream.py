"""One websocket connection to Hyperliquid: subscriptions, liveness and reconnection, for every user of the
exchange's push data in a process (the L2 recorder; the live venue's and the paper feed's books and the account's
events, through :mod:`.live_data`).

* **Subscriptions**: :meth:`Stream.subscribe` registers ``{"type": ..., "coin"/"user": ...}`` with a handler; the
  connection sends every subscription when it opens and again after each reconnect. A message is routed by its
  channel and coin (market data) or user (account data) to the handlers of the matching subscriptions, as
  ``handler(data, recv_ns)``, in the connection's event loop.
* **Liveness**: ``{"method": "ping"}`` every ``ping_s`` (the exchange closes a connection idle for 60 s); no message
  for ``stale_s`` counts as a dead connection (a half-open TCP connection never raises by itself).
* **Reconnection** with exponential backoff and jitter (``reconnect_min_s`` doubling up to ``reconnect_max_s``, back
  to the minimum once a connection has delivered data). ``on_state("connected" | "disconnected", **data)`` tells the
  owner, who treats the gap as stale data.
* A handler that cannot read its message (``ValueError``, ``KeyError``, ...) loses that message only; it is counted in
  ``bad_messages`` and logged (the first ten, then every thousandth).

Built on the ``websockets`` library rather than the SDK's ``WebsocketManager``: the SDK's never reconnects, and its
threads keep the process alive after the bot stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

log = logging.getLogger("botmm.hyperliquid.stream")

Handler = Callable[[Any, int], None]
StateListener = Callable[..., None]
USER_CHANNELS = {"orderUpdates", "userFills", "userFundings", "userEvents", "userNonFundingLedgerUpdates"}
CONTROL_CHANNELS = {"pong", "subscriptionResponse"}
READ_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError)


@dataclass
class StreamSettings:
    ws_url: str
    ping_s: float = 20.0
    stale_s: float = 45.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 10.0


def route(subscription: dict[str, Any]) -> tuple[str, Optional[str]]:
    """The key messages of ``subscription`` are routed by: its channel, and its coin or user (lower case)."""
    kind = subscription["type"]
    if kind in USER_CHANNELS:
        return kind, str(subscription.get("user", "")).lower() or None
    return kind, subscription.get("coin")


def message_route(channel: str, data: Any) -> tuple[str, Optional[str]]:
    """The key of one message (see :func:`route`); ``orderUpdates`` carries no user, so it goes to every
    ``orderUpdates`` subscription (one per connection: the exchange allows one account's)."""
    if channel == "trades":
        return channel, data[0]["coin"] if data else None
    if channel == "orderUpdates":
        return channel, None
    if channel in USER_CHANNELS:
        return channel, str(data.get("user", "")).lower() or None
    return channel, data.get("coin") if isinstance(data, dict) else None


class Stream:
    """See the module docstring. :meth:`run` is a coroutine that keeps the connection until ``stop`` is set."""

    def __init__(self, settings: StreamSettings, on_state: Optional[StateListener] = None):
        self.settings = settings
        self.on_state = on_state or (lambda event, **data: None)
        self.subscriptions: list[dict[str, Any]] = []
        self.handlers: dict[tuple[str, Optional[str]], list[Handler]] = {}
        self.reconnects = 0
        self.messages = 0
        self.bad_messages = 0
        self._live = False  # the current connection has delivered data
        self._ws: Any = None  # the open connection, if any
        self._sent: set[str] = set()  # the subscriptions sent on it

    def subscribe(self, subscription: dict[str, Any], handler: Handler) -> None:
        """Route ``subscription``'s messages to ``handler``; sent at the next (re)connection."""
        key = route(subscription)
        if subscription not in self.subscriptions:
            self.subscriptions.append(subscription)
        self.handlers.setdefault(key if key[0] != "orderUpdates" else (key[0], None), []).append(handler)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and dispatch until ``stop``; reconnect whenever the connection ends."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        s = self.settings
        failures = 0
        while not stop.is_set():
            self._live = False
            reason = "connection ended"
            try:
                async with connect(s.ws_url, open_timeout=s.open_timeout_s, ping_interval=None, close_timeout=1.0,
                                   max_size=1 << 24) as ws:
                    self._ws, self._sent = ws, set()
                    for subscription in list(self.subscriptions):
                        await self.send_subscription(subscription)
                    self.on_state("connected", url=s.ws_url, attempt=self.reconnects)
                    await self._receive(ws, stop)
            except (OSError, WebSocketException) as exc:  # refused, reset, timeouts (TimeoutError is an OSError)
                reason = describe(exc)
            finally:
                self._ws = None
            if stop.is_set():
                return
            if self._live:
                failures = 0
            delay = min(s.reconnect_max_s, s.reconnect_min_s * 2 ** failures) * random.uniform(0.5, 1.0)
            failures += 1
            self.reconnects += 1
            self.on_state("disconnected", reason=reason, retry_in=round(delay, 3))
            await pause(stop, delay)

    async def send_subscription(self, subscription: dict[str, Any]) -> None:
        """Send ``subscription`` on the open connection unless it was sent there already (run in the stream's event
        loop; without a connection it waits for the next one)."""
        key = json.dumps(subscription, sort_keys=True)
        if self._ws is None or key in self._sent:
            return
        self._sent.add(key)
        await self._ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))

    async def _receive(self, ws: Any, stop: asyncio.Event) -> None:
        """Dispatch messages until the connection ends: ``recv`` raises when the server drops it, when nothing came
        for ``stale_s``, or when ``stop`` closes it."""
        closer = asyncio.create_task(_close_on(stop, ws))
        pinger = asyncio.create_task(self._ping(ws))
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.settings.stale_s)
                except TimeoutError:
                    raise TimeoutError(f"no message for {self.settings.stale_s:g}s") from None
                if self.dispatch(raw, time.time_ns()):
                    self._live = True
        finally:
            closer.cancel()
            pinger.cancel()

    async def _ping(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_s)
            await ws.send('{"method":"ping"}')

    def dispatch(self, raw: str | bytes, recv_ns: int) -> bool:
        """Hand one message to its handlers; True when it carried data (not a pong or an acknowledgement)."""
        self.messages += 1
        try:
            message = json.loads(raw)
            channel, data = message.get("channel"), message.get("data")
            if channel in CONTROL_CHANNELS:
                return False
            if channel == "error":
                log.error("the exchange refused a request: %s", data)
                return False
            for handler in self.handlers.get(message_route(channel, data), ()):
                handler(data, recv_ns)
            return True
        except READ_ERRORS as exc:
            self.bad_messages += 1
            if self.bad_messages <= 10 or self.bad_messages % 1000 == 0:
                log.warning("unreadable message #%d skipped (%s): %.200s", self.bad_messages, describe(exc), raw)
            return False


def describe(exc: BaseException) -> str:
    """One line for a connection error: its type and message, without the traceback."""
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop``, whichever comes first."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _close_on(stop: asyncio.Event, ws: Any) -> None:
    await stop.wait()
    await ws.close()
