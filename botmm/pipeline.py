"""The one tick every mode runs: market data -> signals -> strategy policy -> quoter -> sizer -> risk -> order
manager -> venue, then fills -> inventory, metrics and notifiers.

A live run, a paper run and a backtest differ only in the venue they build and the clock that calls
:meth:`Pipeline.step`. The risk check runs on every tick, also one whose market data could not be read: in a
wall-clock run, data older than ``risk.max_data_age`` is a circuit break (every order cancelled, retried each tick
until the venue confirms, nothing quoted until fresh data returns).

Components are resolved from the plugin registry once per job and then called directly: no hook call happens per
tick, only on rare lifecycle events (start, end, errors) and on fills when a plugin or notifier listens to them.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from omegaconf import DictConfig

from botmm.config import (AssetConfig, BacktestConfig, OrderManagerConfig, RiskLimits, parse_duration, parse_split,
                          to_params)
from botmm.core.durations import Durations
from botmm.core.inventory import InventoryTracker
from botmm.core.metrics import MetricsRecorder
from botmm.core.order_manager import NORMAL, REDUCE_ONLY, WIDENED, OrderManager, batched
from botmm.core.risk import LimitsFile, RiskManager, day_number, day_name
from botmm.errors import ConfigError, VenueError
from botmm.model import Market, QuoteLevel, RiskState
from botmm.notify import RunScoped
from botmm.registry import BuildContext, build, load_plugins
from botmm.protocols import (PushVenue, QuoteInputs, Reconciliation, Signal, SimulatedVenue, SizeContext,
                             TickState)

log = logging.getLogger("botmm.pipeline")

_NAN = float("nan")
_MODE_LINES = {NORMAL: "quoting normally again", WIDENED: "refresh tolerance widened (orders near the quote kept)",
               REDUCE_ONLY: "only cancels and reduce-only orders go out"}
_CIRCUIT_BREAK = RiskState.CIRCUIT_BREAK
_HOUR_MS = 3_600_000
_WARM_MS = 40 * _HOUR_MS  # exp(-40) < 2**-53: past this the fill rate's warm-up correction is exactly 1

SIGNAL_SLOTS = ("volatility", "signal", "imbalance", "toxicity")
"""Config keys under ``signals``. Each names the :class:`QuoteInputs` field its signal feeds; the ``volatility``
signal returns ``vol`` and also exposes ``atr``."""


@dataclass
class Run:
    """One job, as lifecycle hooks see it."""

    cfg: DictConfig
    mode: str
    symbol: str
    output_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)


def check_config(cfg: DictConfig) -> tuple[AssetConfig, RiskLimits, OrderManagerConfig]:
    """Check the framework's own nodes; component nodes are checked when they are built."""
    asset = to_params(AssetConfig, cfg.asset, "asset")
    risk = to_params(RiskLimits, cfg.risk, "risk")
    order_manager = to_params(OrderManagerConfig, cfg.order_manager, "order_manager")
    to_params(BacktestConfig, cfg.backtest, "backtest")
    if cfg.capital <= 0:
        raise ConfigError(f"capital={cfg.capital}: must be > 0")
    unknown = set(cfg.signals) - set(SIGNAL_SLOTS)
    if unknown:
        raise ConfigError(f"signals.{sorted(unknown)[0]}: unknown signal slot; slots: {', '.join(SIGNAL_SLOTS)}")
    if "volatility" not in cfg.signals:
        raise ConfigError("signals.volatility: missing; the quoter needs a volatility signal")
    return asset, risk, order_manager


@dataclass
class Components:
    """A job's components, built from its config by :func:`build_components`."""

    asset: AssetConfig
    limits: RiskLimits
    order_manager: OrderManagerConfig
    feed: Any
    venue: Any
    quoter: Any
    sizer: Any
    policy: Any
    notifier: Any
    signals: dict[str, Signal]


def build_components(cfg: DictConfig) -> Components:
    """Check the config and build every component. Factories do no I/O (venues connect in ``connect()``), so the
    CLI calls this before a job starts to report a bad value in one line, before any order could be sent."""
    asset, limits, order_manager = check_config(cfg)
    ctx = BuildContext(cfg=cfg, asset=asset)
    ctx.feed = build("feed", cfg.feed, ctx)
    return Components(
        asset=asset,
        limits=limits,
        order_manager=order_manager,
        feed=ctx.feed,
        venue=build("exchange", cfg.exchange, ctx),
        quoter=build("quoter", cfg.quoter, ctx),
        sizer=build("sizer", cfg.sizer, ctx),
        policy=build("strategy", cfg.strategy, ctx),
        notifier=build("notifier", cfg.notifier, ctx),
        signals={slot: build("signal", node, ctx, path=f"signals.{slot}") for slot, node in cfg.signals.items()},
    )


class Pipeline:
    """Holds a job's components and runs one tick at a time (``step``), the same in every mode. Named for what it is,
    not ``Strategy``, which is the ``strategy=`` config group's policy (:class:`~botmm.protocols.StrategyPolicy`)."""

    def __init__(self, cfg: DictConfig, run: Run):
        self.run, self.hook = run, load_plugins().hook
        parts = build_components(cfg)
        self.asset, self.venue, self.notifier = parts.asset, parts.venue, parts.notifier
        self.quoter, self.sizer, self.policy = parts.quoter, parts.sizer, parts.policy
        self._sizer_context = getattr(self.sizer, "reads_context", True)  # False: pass None, build no SizeContext
        self.signals = dict(parts.signals)
        self.volatility: Any = self.signals.pop("volatility")  # a Signal with an ``atr``
        self.fill_listeners = [s for s in parts.signals.values() if hasattr(s, "on_fill")]
        self.capital = float(cfg.capital)
        self.max_position_usd = parts.limits.max_position_usd
        self.simulated = isinstance(self.venue, SimulatedVenue)
        # only a wall-clock run can go stale: a backtest's clock is its data
        self.max_data_age_s: Optional[float] = (
            parts.limits.data_age_limit(parse_duration(cfg.interval, "interval")) if run.mode == "run" else None)
        self._max_age_ms = None if self.max_data_age_s is None else self.max_data_age_s * 1000
        self.risk = RiskManager(parts.limits, self.capital, parts.asset.lot_size, self._max_age_ms)
        self.order_manager = OrderManager(parts.order_manager, parts.asset.tick_size, parts.asset.lot_size)
        self.max_batch = self.venue.max_batch
        self.inventory = InventoryTracker()
        self.metrics = MetricsRecorder(self.capital, parts.limits.max_position_usd)
        self.split = parse_split(cfg.backtest.split)
        self.walk_forward = to_params(BacktestConfig, cfg.backtest, "backtest").walk_forward
        self.compound = bool(cfg.compound)
        self.state = TickState(equity=self.capital, peak_equity=self.capital)
        self.calls = {"placed": 0, "modified": 0, "cancelled": 0, "venue_errors": 0}
        self.outcome: dict[str, Any] = {}
        self.market: Market | None = None  # the last tick's market view (the status server reads it)
        self.inputs: QuoteInputs | None = None  # the quoter's inputs at the last tick that quoted (training reads them)
        self._cursor = 0
        self._fill_hook: Any = None  # botmm_fill, when something listens (set at start)
        self._funding = self.venue.funding
        self._funding_cursor = 0
        self.data_ms: Optional[int] = None  # the time of the latest market data the venue delivered
        self.fresh_ms = 0  # the last tick that saw fresh market data (0: none yet)
        self.tick_ms = 0  # the last tick
        self._checked_ms = -1  # the last tick the risk check ran in
        self._blind_since: Optional[int] = None  # the first tick, while no market data has arrived at all
        self._mid = _NAN  # the last mid seen, for the risk check of a tick without market data
        self._cancel_pending = False  # a circuit break's cancel-all not yet confirmed by the venue
        self._limits: Optional[LimitsFile] = None  # where a wall-clock run keeps its limits across restarts
        self._limits_day, self._net_at_day = -1, 0.0
        self._fill_count = 0.0  # exponentially decayed, for the fill rate
        self._decay_dt, self._decay = 0, 1.0  # the last tick spacing and its decay factor
        self._first_ms: int | None = None
        self._last_position = 0.0
        self._budget: Any = None  # a live venue's rate budget (``pressure()``, ``report()``), set at start
        self.step_cpu = Durations()  # CPU time of each step that sent an order or modify, as the live runner times it
        self._budget_mode = NORMAL  # the order manager's mode for its pressure at this tick
        self.policy.bind(self)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Start the job, run the body (the clock's loop) and always stop: orders cancelled, outputs written, end
        hooks called, even on Ctrl-C or an error. The result is in ``self.outcome`` afterwards."""
        self.start()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.outcome = self.stop(error)

    def start(self) -> None:
        """Connect the venue and tell every plugin and notifier the job has started."""
        load_plugins().register(RunScoped(self.notifier, self.run), name=f"notifier:{id(self)}")
        listeners = [impl.plugin for impl in self.hook.botmm_fill.get_hookimpls()]
        if any(p.hears_fills(self.run) if isinstance(p, RunScoped) else True for p in listeners):
            self._fill_hook = self.hook.botmm_fill  # else a backtest's thousands of fills cost no hook calls
        self.venue.connect()
        self._budget = getattr(self.venue, "budget", None)
        self.hook.botmm_run_start(run=self.run)

    def _quoting_mode(self) -> str:
        """The order manager's mode for the venue's rate-budget pressure, read at the start of each tick; a change
        is logged and sent as a ``rate_budget`` event."""
        pressure = self._budget.pressure()
        mode = self.order_manager.mode(pressure, self._budget_mode)
        if mode != self._budget_mode:
            log.log(logging.INFO if mode == NORMAL else logging.WARNING, "[%s] rate budget pressure %.2f: %s",
                    self.asset.symbol, pressure, _MODE_LINES[mode])
            self.event("rate_budget", mode=mode, previous=self._budget_mode, pressure=round(pressure, 3))
        return mode

    def adopt(self, found: Reconciliation) -> None:
        """Take the exchange's position as the truth (a live venue's :meth:`~botmm.protocols.LiveVenue.reconcile`).
        Fills the venue already delivered are booked first, so none is counted on top of the adopted position."""
        self._take_fills()
        self.inventory.position, self.inventory.avg_entry = found.position, found.avg_entry

    def keep_limits(self, limits: LimitsFile) -> None:
        """Keep the daily loss and the circuit breaker's pause in ``limits`` (read now, written as they change), so
        they survive a restart."""
        saved = limits.read()
        if saved is not None:
            self.risk.restore(day_number(saved["day"]), saved["realized"], saved["paused_until_ms"],
                              saved["pause_reason"])
        self._limits = limits

    @property
    def fresh(self) -> bool:
        """Whether the last tick saw fresh market data."""
        return self.fresh_ms > 0 and self.fresh_ms == self.tick_ms

    def event(self, name: str, **data: Any) -> None:
        """Tell notifiers about a rare event (circuit break, regime change, params reloaded, ...)."""
        self.hook.botmm_event(run=self.run, event=name, data=data)

    def step(self, now_ms: int) -> None:
        """One tick: see the module docstring. A venue error skips the rest of the tick and is counted by risk; the
        risk check still runs."""
        self.tick_ms, market = now_ms, None
        if self._budget is not None:
            self._budget_mode = self._quoting_mode()
        try:
            market = self.venue.poll(now_ms)
            if market is not None and (self._max_age_ms is None or now_ms - market.ts <= self._max_age_ms):
                self.data_ms, self.fresh_ms = market.ts, now_ms
                self._step(now_ms, market)
        except VenueError as exc:
            self.venue_error(now_ms, exc)
        if self._checked_ms != now_ms:  # no fresh market data, or an error before the risk check
            try:
                self._blind(now_ms, market)
            except VenueError as exc:
                self.venue_error(now_ms, exc)
        if self._limits is not None:
            self._save_limits(self._limits)

    def venue_error(self, now_ms: int, exc: VenueError) -> None:
        """Count a failed venue call (too many trip the circuit breaker) and report it."""
        self.calls["venue_errors"] += 1
        self.risk.record_error(now_ms)
        self.event("venue_error", error=str(exc))

    def _blind(self, now_ms: int, market: Optional[Market]) -> None:
        """The risk check of a tick without fresh market data: the position and equity as last known."""
        if market is not None:
            self.data_ms = market.ts
        elif self.data_ms is None and self._blind_since is None:
            self._blind_since = now_ms
        data_ms = self.data_ms if self.data_ms is not None else self._blind_since
        assert data_ms is not None  # one of the two is set above
        self._guard(now_ms, self._mid, self.inventory.position, self.state.equity, data_ms)

    def _guard(self, now_ms: int, mid: float, position: float, equity: float, data_ms: int) -> None:
        """Run the risk check; on a circuit break cancel every order, again each tick until the venue confirms."""
        before = self.risk.state
        risk = self.risk.check(now_ms, mid, position, equity, data_ms)
        self._checked_ms = now_ms
        if risk is not before:
            self.event("risk_state", state=risk.value, previous=before.value, reason=self.risk.reason)
            if risk is _CIRCUIT_BREAK:
                self._cancel_pending = True
                self.event("circuit_break", reason=self.risk.reason)
        if self._cancel_pending:
            self.calls["cancelled"] += self.venue.cancel_all_orders()
            self._cancel_pending = False

    def _save_limits(self, limits: LimitsFile) -> None:
        risk, inv = self.risk, self.inventory
        if risk.day < 0:
            return
        net = inv.realized_pnl - inv.total_fees - inv.funding
        if risk.day != self._limits_day:
            self._limits_day, self._net_at_day = risk.day, net
        until, reason = risk.pause
        limits.write({"day": day_name(risk.day), "realized": round(risk.carried + net - self._net_at_day, 6),
                       "paused_until_ms": until, "pause_reason": reason})

    def _step(self, now_ms: int, market: Market) -> None:
        venue, inventory = self.venue, self.inventory
        self.market = market
        new_fills = self._take_fills()
        payments, self._funding_cursor = self._funding.since(self._funding_cursor)
        for payment in payments:
            inventory.record_funding(payment.amount)
        self._mid = mid = market.mid
        position = inventory.position
        state = self._update_state(now_ms, mid, position, new_fills)
        equity = state.equity
        inputs = self.policy.adjust(self._inputs(market, mid, position), state)
        if self.compound:
            inputs.size_mult *= equity / self.capital
        self.inputs = inputs
        vol, toxicity = inputs.vol, inputs.toxicity
        context = SizeContext(mid, position, equity, vol, toxicity, inputs.inventory, state.fill_rate,
                              state.drawdown) if self._sizer_context else None
        quote = self.sizer.size(self.quoter.quote(inputs), context)
        self._guard(now_ms, mid, position, equity, market.ts)
        allowed = self.risk.apply(quote, position)
        bids, asks = allowed.bids, allowed.asks
        actions = self.order_manager.reconcile(allowed, venue.get_open_orders(), self._budget_mode)
        cancel, modify, place = actions.cancel, actions.modify, actions.place
        if cancel or modify or place:
            self._send(now_ms, cancel, modify, place)
        self.metrics.record(now_ms, mid, position, equity, bids[0].price if bids else _NAN,
                            asks[0].price if asks else _NAN, vol, inputs.signal, inputs.imbalance, toxicity)

    def _send(self, now_ms: int, cancel: list[int], modify: list[tuple[int, QuoteLevel]],
              place: list[QuoteLevel]) -> None:
        """Send the order manager's actions: cancels, then modifies (in batches of the venue's size), then new
        orders."""
        venue, calls = self.venue, self.calls
        if cancel:
            venue.cancel_orders(cancel)
            calls["cancelled"] += len(cancel)
        if modify:
            for batch in batched(modify, self.max_batch):
                venue.modify_orders(batch, now_ms)
                calls["modified"] += len(batch)
        if place:
            venue.place_orders(place, now_ms)
            calls["placed"] += len(place)

    def _update_state(self, now_ms: int, mid: float, position: float, new_fills: int) -> TickState:
        state = self.state
        if self._first_ms is None:
            self._first_ms = now_ms
        dt = now_ms - state.now_ms if state.now_ms else 0
        if dt != self._decay_dt:  # ticks are evenly spaced in backtests: one exp per run, not per tick
            self._decay_dt, self._decay = dt, math.exp(-dt / _HOUR_MS)
        self._fill_count = self._fill_count * self._decay + new_fills
        elapsed = now_ms - self._first_ms
        if elapsed > _WARM_MS:  # 1 - exp(-elapsed / hour) rounds to 1.0 by now
            state.fill_rate = self._fill_count
        else:
            state.fill_rate = self._fill_count / (1.0 - math.exp(-elapsed / _HOUR_MS)) if elapsed > 0 else 0.0
        state.now_ms = now_ms
        state.equity = equity = self.capital + self.inventory.total_pnl(mid)
        if equity > state.peak_equity:
            state.peak_equity = equity
        state.drawdown = 1.0 - equity / state.peak_equity if state.peak_equity > 0 else 0.0
        if position == 0.0:
            state.position_since_ms = None
        elif state.position_since_ms is None or position * self._last_position < 0:
            state.position_since_ms = now_ms
        self._last_position = position
        return state

    def _inputs(self, market: Market, mid: float, position: float) -> QuoteInputs:
        volatility = self.volatility
        vol = volatility.update(market)
        inventory = position * mid / self.max_position_usd
        inventory = inventory if inventory < 1.0 else 1.0  # min(1.0, x), NaN included
        inventory = inventory if inventory > -1.0 else -1.0  # max(-1.0, x)
        inputs = QuoteInputs(mid, vol, volatility.atr, position, inventory, market=market)
        if self.signals:
            for slot, signal in self.signals.items():
                setattr(inputs, slot, signal.update(market))
        return inputs

    def _take_fills(self) -> int:
        fills, self._cursor = self.venue.fills_since(self._cursor)
        if not fills:
            return 0
        self.metrics.fills.extend(fills)
        record, hook, listeners = self.inventory.record_fill, self._fill_hook, self.fill_listeners
        for fill in fills:
            record(fill.side, fill.price, fill.size, fill.fee)
            for listener in listeners:
                listener.on_fill(fill)
            if hook is not None:
                hook(run=self.run, fill=fill)
        return len(fills)

    def stop(self, error: BaseException | None = None,
             after_cancel: Optional[Callable[[Optional[VenueError]], None]] = None) -> dict[str, Any]:
        """Cancel every order, collect the last fills, write the outputs and tell plugins the job ended. A venue
        that cannot confirm its orders are gone still gets its fills read and its outputs written, then the
        error is raised. ``after_cancel`` hears how the cancel went (None: verified), before the venue
        disconnects (the live runner disarms the dead man's switch only after a verified cancel)."""
        cancel_error: VenueError | None = None
        try:
            self.calls["cancelled"] += self.venue.cancel_all_orders()
        except VenueError as exc:
            cancel_error = exc
        if after_cancel is not None:
            after_cancel(cancel_error)
        try:
            self._take_fills()
        finally:
            self.venue.disconnect()
        if error is not None or cancel_error is not None:
            self.hook.botmm_error(run=self.run, error=error or cancel_error)
        result = self.result()
        result.update(complete=error is None, status=stop_status(error))
        self.metrics.write(self.run.output_dir, result)
        self.hook.botmm_run_end(run=self.run, result=result)
        load_plugins().unregister(name=f"notifier:{id(self)}")
        if cancel_error is not None:
            raise cancel_error
        return result

    def result(self) -> dict[str, Any]:
        inv = self.inventory
        result = self.metrics.result(self.split, self.walk_forward)
        result.update(
            symbol=self.asset.symbol,
            mode=self.run.mode,
            realized_pnl=round(inv.realized_pnl, 6),
            funding=round(inv.funding, 6),  # paid; negative: received
            final_position=inv.position,  # includes fills read after the last tick, while stopping
            orders_placed=self.calls["placed"],
            orders_modified=self.calls["modified"],
            orders_cancelled=self.calls["cancelled"],
            venue_errors=self.calls["venue_errors"],
            calls_saved=self.order_manager.calls_saved,
        )
        if self.simulated:
            result["venue"] = self.venue.fill_stats()
        if self._budget is not None:
            result["budget"] = self._budget.report()
        if self.step_cpu.count:  # a live run: how fast it reacted
            result["reaction"] = {**(self.venue.reaction_report() if isinstance(self.venue, PushVenue) else {}),
                                  "step_cpu_median_ms": self.step_cpu.rounded(0.5),
                                  "step_cpu_p99_ms": self.step_cpu.rounded(0.99)}
        if self.risk.stopped:
            result["stopped"] = self.risk.stopped
        return result


def stop_status(error: BaseException | None) -> str:
    """How a job ended, as ``result.json``'s ``status`` and a sweep summary say it: ``ok``, ``interrupted`` (Ctrl-C)
    or ``failed: <the error's first line>``."""
    if error is None:
        return "ok"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    lines = str(error).strip().splitlines()
    return f"failed: {type(error).__name__}: {lines[0]}" if lines else f"failed: {type(error).__name__}"
