"""The notification catalogue: every event a notifier may report, with its level and a formatter to a short message.

Notifiers subscribe to botmm's lifecycle hooks (``botmm_run_start``, ``botmm_run_end``, ``botmm_fill``,
``botmm_error`` and ``botmm_event``); :class:`HookNotifier` turns each call into a :class:`Notification` through
:data:`CATALOGUE`, so ``notifier=console`` and ``notifier=discord`` say the same thing. An event missing from the
catalogue (a third-party plugin's own) still goes out, as ``<event>: key=value ...``.

======================= ====================================================== =====================================
event                   emitted by                                             data
======================= ====================================================== =====================================
start                   ``botmm_run_start``                                    mode, output_dir (+ run.extra)
stop                    ``botmm_run_end``                                      the result (pnl, fills / rows, files)
error                   ``botmm_error``                                        error
fill                    ``botmm_fill``                                         side, size, price, fee, maker
daily_report            :mod:`botmm.runners.daily_report`: 00:00 UTC, live     date, pnl, return_pct, fills, ...
risk_state              pipeline: the risk state changed                       state, previous, reason
circuit_break           pipeline: orders cancelled, quoting paused             reason
venue_error             pipeline: a venue call failed (counted by risk)        error
dead_mans_switch        live runner / Hyperliquid venue: armed or refused      armed, seconds, fallback, reason
stop_failed             live runner: the stop could not verify no order rests  error, dead_mans_switch
metadata_changed        live runner / Hyperliquid venue: exchange metadata     sz_decimals, listed, delisted, ...
reconciled              Hyperliquid venue: orders and position found at start  coin, open_orders, position, ...
reconcile_difference    live runner: the exchange's truth differed, adopted    difference
foreign_order           Hyperliquid venue: an order not the bot's, untouched   coin, oid, side, price, size
params_reloaded         strategies: a params file was reloaded                 file, changed
params_rejected         strategies: a params file was refused                  file, error
regime                  adaptive strategy: the volatility regime changed       regime, previous, ratio
auto_tune               strategies: the auto-tuner changed a multiplier        changed, reason, pnl, sharpe, ...
recorder_connected      recorder: (re)subscribed                               url, coins, attempt
recorder_disconnected   recorder: the websocket dropped                        reason, retry_in
recorder_gap            recorder: a gap marked in the data                     symbol, seconds, reason
recorder_rotated        recorder: an hour file finished                        symbol, file, rows
======================= ====================================================== =====================================
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from botmm.registry import hookimpl

if TYPE_CHECKING:
    from botmm.pipeline import Run

Formatter = Callable[[dict[str, Any]], str]


def _num(value: Any, digits: int = 10) -> str:
    """A number shown compactly with up to ``digits`` significant figures (``3001.9``, ``0.0333``); else text."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _pairs(data: dict[str, Any], skip: Iterable[str] = ()) -> str:
    return ", ".join(f"{k}={_num(v)}" for k, v in data.items() if k not in set(skip))


def _start(d: dict[str, Any]) -> str:
    if d.get("mode") == "record":
        return f"record started: {', '.join(d.get('coins', []))} from {d.get('url')} into {d.get('root')}"
    return f"{d.get('mode')} started (output: {d.get('output_dir')})"


def _stop(d: dict[str, Any]) -> str:
    if d.get("mode") == "record":
        return (f"record ended: {sum(d.get('rows', {}).values()):,} rows in {len(d.get('files', []))} files, "
                f"{d.get('gaps', 0)} gaps, {d.get('reconnects', 0)} reconnects")
    return f"{d.get('mode')} ended: pnl {d.get('pnl', 0.0):+.4f}, {d.get('fills', 0)} fills"


def _fill(d: dict[str, Any]) -> str:
    side = "BUY" if d["side"] > 0 else "SELL"
    role = "maker" if d.get("maker", True) else "taker"
    return f"fill {side} {_num(d['size'])} @ {_num(d['price'])} ({role}, fee {d.get('fee', 0.0):.6f})"


def _daily(d: dict[str, Any]) -> str:
    sharpe = d.get("sharpe")
    return (f"daily report {d['date']}: pnl {d['pnl']:+.4f} ({d['return_pct']:+.3f}%), {d['fills']} fills, "
            f"volume {d['volume']:,.2f}, max drawdown {d['max_drawdown_pct']:.3f}%, "
            f"sharpe {'n/a' if sharpe is None else f'{sharpe:.2f}'}")


def _dead_mans_switch(d: dict[str, Any]) -> str:
    if d.get("armed"):
        return f"dead man's switch armed ({_num(d.get('seconds'))}s)"
    fallback = d.get("fallback")
    return (f"dead man's switch refused: {d.get('reason', 'no reason given')}"
            + (f"; {fallback} takes over" if fallback else ""))


def _metadata(d: dict[str, Any]) -> str:
    parts = []
    if "sz_decimals" in d:
        old, new = d["sz_decimals"]
        parts.append(f"szDecimals {old} -> {new}")
    for key in ("listed", "delisted"):
        if d.get(key):
            parts.append(f"{key} {', '.join(map(str, d[key]))}")
    if "recancelled" in d:
        parts.append(f"{d['recancelled']} orders cancelled for re-rounding")
    rest = _pairs(d, ("sz_decimals", "listed", "delisted", "recancelled"))
    return "metadata changed: " + "; ".join(parts + ([rest] if rest else []))


def _changed(d: dict[str, Any]) -> str:
    changed = d.get("changed") or {}
    shown = ", ".join(f"{k}={_num(v)}" for k, v in changed.items()) or "nothing changed"
    return f"params reloaded from {d.get('file')}: {shown}"


@dataclass(frozen=True)
class EventType:
    """One kind of notification: its name, its log level (possibly depending on the data) and its formatter."""

    name: str
    level: int
    format: Formatter
    level_of: Optional[Callable[[dict[str, Any]], int]] = None

    def level_for(self, data: dict[str, Any]) -> int:
        return self.level_of(data) if self.level_of is not None else self.level


_EVENTS = [
    EventType("start", logging.INFO, _start),
    EventType("stop", logging.INFO, _stop),
    EventType("error", logging.ERROR, lambda d: f"stopped on error: {d['error']}"),
    EventType("fill", logging.INFO, _fill),
    EventType("daily_report", logging.INFO, _daily),
    EventType("risk_state", logging.WARNING,
              lambda d: f"risk {d.get('previous')} -> {d.get('state')}"
                        + (f": {d['reason']}" if d.get("reason") else ""),
              lambda d: logging.INFO if str(d.get("state", "")).lower() == "safe" else logging.WARNING),
    EventType("circuit_break", logging.ERROR,
              lambda d: f"circuit break: every order cancelled, quoting paused ({d.get('reason')})"),
    EventType("venue_error", logging.WARNING, lambda d: f"venue error: {d.get('error')}"),
    EventType("dead_mans_switch", logging.WARNING, _dead_mans_switch,
              lambda d: logging.INFO if d.get("armed") else logging.WARNING),
    EventType("stop_failed", logging.ERROR,
              lambda d: f"the stop could not verify that no order rests ({d.get('error')}); dead man's switch "
                        f"{d.get('dead_mans_switch', 'armed')}"),
    EventType("metadata_changed", logging.WARNING, _metadata),
    EventType("reconcile_difference", logging.WARNING,
              lambda d: f"reconciliation: {d.get('difference')} (the exchange's truth adopted)"),
    EventType("foreign_order", logging.INFO,
              lambda d: f"{d.get('coin')} order {d.get('oid')} is not the bot's: left untouched"),
    EventType("reconciled", logging.INFO,
              lambda d: f"reconciled {d.get('coin')}: {d.get('open_orders')} resting orders adopted, position "
                        f"{_num(d.get('position', 0.0))} @ {_num(d.get('avg_entry', 0.0))}"),
    EventType("params_reloaded", logging.INFO, _changed),
    EventType("params_rejected", logging.WARNING,
              lambda d: f"params file {d.get('file')} refused, previous params kept: {d.get('error')}"),
    EventType("regime", logging.INFO,
              lambda d: f"regime {d.get('previous')} -> {d.get('regime')} (vol ratio {_num(d.get('ratio'))})"),
    EventType("auto_tune", logging.INFO,
              lambda d: "auto-tune: "
              + ", ".join(f"{k} {a:.4g} -> {b:.4g}" for k, (a, b) in d.get("changed", {}).items())
              + f" ({d.get('reason')})"),
    EventType("recorder_connected", logging.INFO,
              lambda d: f"recorder subscribed to {', '.join(d.get('coins', []))} at {d.get('url')}"
                        + (f" (reconnect #{d['attempt']})" if d.get("attempt") else "")),
    EventType("recorder_disconnected", logging.WARNING,
              lambda d: f"recorder disconnected ({d.get('reason')}); reconnecting in {d.get('retry_in', 0):.1f}s"),
    EventType("recorder_gap", logging.WARNING,
              lambda d: f"gap of {d.get('seconds', 0.0):.1f}s marked in the {d.get('symbol')} data "
                        f"({d.get('reason')})"),
    EventType("recorder_rotated", logging.INFO,
              lambda d: f"file finished: {d.get('file')} ({d.get('rows', 0):,} rows)"),
]
CATALOGUE: dict[str, EventType] = {e.name: e for e in _EVENTS}
"""Every known event type by name (see the module docstring)."""


def _generic(event: str) -> EventType:
    return EventType(event, logging.INFO, lambda d: f"{event}: {_pairs(d)}" if d else event)


@dataclass(frozen=True)
class Notification:
    """One thing to tell the owner: ``text`` is the short message, ``symbol`` the asset it concerns."""

    event: str
    symbol: str
    mode: str
    level: int
    text: str
    time: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)


def notification(event: str, symbol: str, mode: str, data: dict[str, Any]) -> Notification:
    """The notification of ``event`` with ``data``, formatted by its catalogue entry. A formatter that fails on
    unexpected data falls back to ``event: key=value ...`` rather than losing the notification."""
    kind = CATALOGUE.get(event) or _generic(event)
    try:
        text, level = kind.format(data), kind.level_for(data)
    except (KeyError, TypeError, ValueError):
        text, level = _generic(event).format(data), kind.level
    return Notification(event, str(data.get("symbol") or symbol), mode, level, text, data=data)


class HookNotifier(ABC):
    """Base of notifiers: hears the lifecycle hooks (it is registered with the plugin manager for a job), turns each
    into a :class:`Notification` and hands it to :meth:`deliver`.

    ``fills``: report every fill (None: in wall-clock runs only, as a backtest makes thousands). ``events``: report
    only these event names (None: all). ``min_level``: drop notifications below this level.
    """

    def __init__(self, fills: Optional[bool] = None, events: Optional[Iterable[str]] = None,
                 min_level: int = logging.DEBUG):
        self.fills = fills
        self.events = None if events is None else frozenset(events)
        self.min_level = min_level

    @abstractmethod
    def deliver(self, note: Notification) -> None:
        """Send one notification; must return at once and never raise."""

    def emit(self, run: Any, event: str, data: dict[str, Any]) -> None:
        """Format and deliver ``event`` if this notifier reports it."""
        if self.events is not None and event not in self.events:
            return
        note = notification(event, run.symbol, run.mode, data)
        if note.level >= self.min_level:
            self.deliver(note)

    @hookimpl
    def botmm_run_start(self, run: Any) -> None:
        self.emit(run, "start", {"mode": run.mode, "output_dir": str(run.output_dir), **run.extra})

    def wants_fills(self, run: Any) -> bool:
        """Whether fills of ``run`` are reported (the pipeline skips the fill hook when nobody wants them)."""
        return bool(self.fills) or (self.fills is None and run.mode == "run")

    @hookimpl
    def botmm_fill(self, run: Any, fill: Any) -> None:
        if self.wants_fills(run):
            self.emit(run, "fill", {"side": int(fill.side), "size": fill.size, "price": fill.price, "fee": fill.fee,
                                    "maker": fill.maker, "ts": fill.ts})

    @hookimpl
    def botmm_event(self, run: Any, event: str, data: dict[str, Any]) -> None:
        self.emit(run, event, dict(data))

    @hookimpl
    def botmm_error(self, run: Any, error: BaseException) -> None:
        self.emit(run, "error", {"error": str(error) or type(error).__name__})

    @hookimpl
    def botmm_run_end(self, run: Any, result: dict[str, Any]) -> None:
        self.emit(run, "stop", {**result, "mode": run.mode})


class RunScoped:
    """A job's notifier as registered with the plugin manager: it forwards lifecycle hooks only for its own run.
    Every registered plugin hears every hook call, so with several strategies in one process (a multi-asset live
    run) each event would otherwise be reported once per strategy."""

    def __init__(self, notifier: Any, run: Run):
        self.notifier, self.run = notifier, run

    def hears_fills(self, run: Run) -> bool:
        """Whether this wrapper passes on the fills of ``run``: its own run's, to a notifier that reports them."""
        wants = getattr(self.notifier, "wants_fills", None)
        return run is self.run and hasattr(self.notifier, "botmm_fill") and (wants is None or wants(run))

    def _forward(self, hook: str, run: Run, **kwargs: Any) -> None:
        method = getattr(self.notifier, hook, None)
        if run is self.run and method is not None:
            method(run=run, **kwargs)

    @hookimpl
    def botmm_run_start(self, run: Run) -> None:
        self._forward("botmm_run_start", run)

    @hookimpl
    def botmm_run_end(self, run: Run, result: dict[str, Any]) -> None:
        self._forward("botmm_run_end", run, result=result)

    @hookimpl
    def botmm_fill(self, run: Run, fill: Any) -> None:
        self._forward("botmm_fill", run, fill=fill)

    @hookimpl
    def botmm_event(self, run: Run, event: str, data: dict[str, Any]) -> None:
        self._forward("botmm_event", run, event=event, data=data)

    @hookimpl
    def botmm_error(self, run: Run, error: BaseException) -> None:
        self._forward("botmm_error", run, error=error)
