"""Wall-clock runs (``botmm run``): the same :meth:`Pipeline.step` as backtests, ticked by an asyncio loop.

* **One task per symbol** ticks every ``interval`` (1 s by default). Each step runs in a worker thread, so one slow
  HTTP call delays only its own symbol and never the signal handling. A venue error is counted by the pipeline's
  risk manager (repeated errors trip its circuit breaker: cancel all, cool down, resume).
* **Event-driven ticks** with a :class:`~botmm.protocols.PushVenue` whose data is pushed (Hyperliquid's
  websocket): a change of the symbol's book, orders or fills triggers its step (the same step) in the symbol's own
  worker thread, which the venue's callback wakes directly (no hand-off through the event loop), coalesced (at most
  one step in flight; changes during a step cause exactly one more step after it) and at most one per
  ``min_interval`` (100 ms); a silent book is still stepped every ``interval``, for the risk and data-age check. A
  gap in the pushed data (a reconnection) triggers a reconciliation at the next tick. Polling venues (paper, the
  HTTP path) tick every ``interval``.
* **Several assets in one process**: ``botmm run 'asset=[eth,btc]'``. The runner composes one config per asset with
  Hydra's compose API (the other overrides unchanged, then ``asset=<name>``) and runs them side by side; ``capital``
  is the whole account's and is split evenly between them. Each asset writes its outputs into
  ``<output_dir>/<asset>/``; ``<output_dir>/result.json`` sums them (``sharpe`` is the worst asset's,
  ``max_drawdown_pct`` the deepest). Log records name their asset (each task binds its symbol, see
  :mod:`botmm.logs`) and each asset's notifier hears only its own run's events.
* **Start**: every venue (a :class:`~botmm.protocols.LiveVenue`) connects, then each reconciles (after all
  connected, so the venues of one account can share its reads): the exchange's position is adopted into the
  inventory and every difference from what the venue believed is reported (event ``reconcile_difference``).
  Nothing is quoted until a reconciliation succeeded (it is retried each tick). Then the dead man's switch is
  armed; when the exchange refuses it, a guardian process is started instead (:mod:`botmm.runners.guardian`),
  which cancels the bot's orders when the bot stops beating.
* **Limits that survive a restart**: the day's realised loss and the circuit breaker's pause are kept in
  ``risk.state_dir/<venue.state_key>.json`` (:class:`~botmm.core.risk.LimitsFile`), read at start.
* **Reconciliation**: every ``reconcile_s`` and after any venue error (an error-prompted one at most every
  ``ERROR_RECONCILE_GAP_S``, and a failed one retried after ``RECONCILE_RETRY_S`` doubling per failure up to
  ``reconcile_s``: a reconciliation reads the run's fills and funding, the heaviest requests in the weight budget,
  and a fault storm must not spend the budget the market data needs), in the strategy's own worker thread between
  its steps, so a reconciliation never races a step.
* **Heartbeat**: every ``heartbeat_s`` the dead man's switch is re-armed, only for a strategy whose last tick saw
  fresh market data and that has had a fresh tick since the last re-arm: a blind or stuck bot lets it fire. The
  guardian, when there is one, hears a beat after every tick that saw fresh data.
* **Metadata monitor**: every ``metadata_refresh_s`` (hourly) ``refresh_metadata()``; a change is reported as event
  ``metadata_changed`` and the venue re-rounds.
* **Stop**: after ``duration``, on SIGINT or SIGTERM: the tick tasks finish their step (at most 1 s is waited),
  venues refuse new orders (``halt``), then every venue cancels its orders and verifies none rests (in parallel),
  the last fills are read and the results written; the process exits within 5 s with the summary. Only after a
  verified cancel is the dead man's switch disarmed (and the guardian stopped): a failed stop leaves both watching,
  says so in one log line and a ``stop_failed`` event, and exits non-zero. Further signals during the stop are
  ignored.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig

from botmm.config import parse_duration
from botmm.runners.daily_report import daily_reports
from botmm.core.metrics import prepare_write
from botmm.core.risk import LimitsFile
from botmm.errors import ConfigError, VenueError
from botmm.logs import bind_symbol, set_default_symbol, symbol_context, with_symbol
from botmm.pipeline import Run, Pipeline
from botmm.status import StatusServer, open_server, serve_run
from botmm.protocols import LiveVenue, PushVenue
from botmm.runners.per_asset import asset_list, compose_for_asset

log = logging.getLogger("botmm.live")

STEP_GRACE_S = 1.0  # how long a stop waits for a step in progress
RECONCILE_RETRY_S = 1.0  # the first retry of a failed reconciliation (doubling per failure)
ERROR_RECONCILE_GAP_S = 2.5  # the least time from a reconciliation to one prompted by a venue error
GUARDIAN_AGES = 2  # the guardian cancels after this many times risk.max_data_age without a fresh tick
SUMMED = ("pnl", "realized_pnl", "fills", "volume", "fees", "orders_placed", "orders_modified", "orders_cancelled",
          "calls_saved", "venue_errors", "ticks")


def run(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run the job's asset(s) on the wall clock until ``duration`` or a signal; the result (also in
    ``output_dir/result.json``)."""
    interval = parse_duration(cfg.interval, "interval")
    min_interval = parse_duration(cfg.min_interval, "min_interval")
    duration = parse_duration(cfg.duration, "duration") if cfg.duration is not None else None
    prepare_write()
    jobs = _jobs(cfg, output_dir)
    strategies = [Pipeline(job_cfg, Run(job_cfg, "run", job_cfg.asset.symbol, job_dir)) for job_cfg, job_dir in jobs]
    if len(strategies) > 1:
        set_default_symbol("+".join(s.run.symbol for s in strategies))
    status = open_server(cfg, "botmm run " + "+".join(s.run.symbol for s in strategies))
    results = LiveRunner(strategies, interval, duration, status, min_interval).run()
    if len(results) == 1:
        return results[0]
    combined = combine(results, float(cfg.capital))
    (output_dir / "result.json").write_text(json.dumps(combined, indent=2) + "\n")
    return combined


def _jobs(cfg: DictConfig, output_dir: Path) -> list[tuple[DictConfig, Path]]:
    """One (config, output dir) per asset: the job's own config, or one composed per asset of ``asset=[...]``."""
    assets = asset_list()
    if len(assets) <= 1:
        return [(cfg, output_dir)]
    capital = float(cfg.capital) / len(assets)
    return [(compose_for_asset(asset, extra=[f"capital={capital}"]), output_dir / asset) for asset in assets]


def combine(results: list[dict[str, Any]], capital: float) -> dict[str, Any]:
    """One summary of several assets' results: sums, return on the whole capital, the worst Sharpe and drawdown."""
    combined: dict[str, Any] = {key: sum(r.get(key, 0) for r in results) for key in SUMMED}
    combined.update(
        mode="run",
        symbol="+".join(r["symbol"] for r in results),
        return_pct=round(100.0 * combined["pnl"] / capital, 6),
        sharpe=min((r["sharpe"] for r in results if r["sharpe"] is not None), default=None),
        max_drawdown=max(r["max_drawdown"] for r in results),
        max_drawdown_pct=max(r["max_drawdown_pct"] for r in results),
        final_position={r["symbol"]: r["final_position"] for r in results},
        start_ms=min(r["start_ms"] for r in results),
        end_ms=max(r["end_ms"] for r in results),
        assets={r["symbol"]: r for r in results},
    )
    budgets = [r["budget"] for r in results if "budget" in r]  # one shared budget: the latest report (peak only rises)
    if budgets:
        combined["budget"] = max(budgets, key=lambda b: (b["ip_peak_pct"], b["address_requests"]))
    return combined


@dataclass(eq=False)
class LiveJob:
    """One strategy of a live run and the runner's bookkeeping for it."""

    strategy: Pipeline
    reconciled: bool = False  # a reconciliation succeeded: the position is the exchange's
    reconcile_at: float = 0.0  # monotonic time of the next periodic reconciliation
    retry_at: float = 0.0  # no reconciliation after an error before this
    errors_seen: int = 0  # venue errors counted at the last reconciliation
    failures: int = 0  # reconciliations failed in a row
    stagger: float = 0.0  # share of reconcile_s its periodic reconciliations run after the others' (see _reconcile)
    armed_fresh_ms: int = 0  # the fresh tick after which the dead man's switch was last re-armed
    guardian: Any = None  # the guardian process's handle, when the exchange refused the dead man's switch
    stop_error: Optional[VenueError] = None  # the stop's cancel could not be verified
    pushed: bool = False  # the venue pushes its changes: stepped on each, not on a timer
    changed: threading.Event = field(default_factory=threading.Event)  # set by the venue on each pushed change

    @property
    def venue(self) -> LiveVenue:
        return self.strategy.venue


class LiveRunner:
    """Runs strategies side by side on the wall clock; see the module docstring."""

    def __init__(self, strategies: list[Pipeline], interval: float, duration: Optional[float],
                 status: Optional[StatusServer] = None, min_interval: float = 0.1):
        for strategy in strategies:
            if not isinstance(strategy.venue, LiveVenue):
                raise ConfigError(f"exchange={strategy.run.cfg.exchange.name}: not a live venue; botmm run needs "
                                  "an exchange or exchange=paper")
        self.jobs = [LiveJob(s, stagger=i / len(strategies)) for i, s in enumerate(strategies)]
        self.strategies, self.interval, self.duration, self.status = strategies, interval, duration, status
        self.min_interval = min(min_interval, interval)
        self.last_step: dict[int, float] = {}  # id(strategy) -> monotonic time its last tick ended (status page)
        self.error: Optional[BaseException] = None
        self._stop: Optional[asyncio.Event] = None
        self._halting = threading.Event()  # set with _stop: wakes and ends the steppers' threads
        self._stop_early = False  # a signal arrived while starting
        self._started: list[LiveJob] = []

    def run(self) -> list[dict[str, Any]]:
        """Start every strategy, tick until stopped, then stop them all; their results, in order."""
        saved = _signal_handlers()
        _on_signals(self._signal_while_starting)
        try:
            try:
                for job in self.jobs:
                    with symbol_context(job.strategy.run.symbol):
                        self._start(job)
                for job in self.jobs:  # every venue connected first: they share the account's reads
                    with symbol_context(job.strategy.run.symbol):
                        self._reconcile(job)
                        self._arm(job)
                if self.status is not None:
                    serve_run(self.status, self.strategies, self.last_step)
                asyncio.run(self._main())
            except BaseException as exc:
                self.error = self.error or exc
            return self._shutdown()
        finally:
            _restore_signals(saved)
            if self.status is not None:
                self.status.close()

    def _start(self, job: LiveJob) -> None:
        strategy, venue = job.strategy, job.venue
        venue.notify = strategy.event
        strategy.keep_limits(LimitsFile(strategy.risk.limits.state_path(venue.state_key)))
        strategy.start()
        self._started.append(job)

    def _reconcile(self, job: LiveJob) -> None:
        """Adopt the exchange's truth; a failure is a venue error and is retried."""
        strategy, now = job.strategy, time.monotonic()
        try:
            found = job.venue.reconcile()
            strategy.adopt(found)
        except VenueError as exc:
            log.warning("reconciliation failed%s: %s", "" if job.reconciled else " (nothing is quoted until one "
                        "succeeds)", exc)
            strategy.venue_error(int(time.time() * 1000), exc)
            job.errors_seen = strategy.calls["venue_errors"]
            job.retry_at = job.reconcile_at = now + min(job.venue.reconcile_s, RECONCILE_RETRY_S * 2 ** job.failures)
            job.failures += 1
            return
        for difference in found.differences:
            log.warning("reconciliation: %s", difference)
            strategy.event("reconcile_difference", difference=difference)
        # the assets' periodic reconciliations take turns (the first one's delay is staggered): reconciling together,
        # their account reads would queue behind each other, and each asset's quotes wait for its own reads
        job.reconcile_at = now + job.venue.reconcile_s * (1 + (0 if job.reconciled else job.stagger))
        job.reconciled = True
        job.errors_seen, job.failures = strategy.calls["venue_errors"], 0
        job.retry_at = now + min(job.venue.reconcile_s, ERROR_RECONCILE_GAP_S)

    def _arm(self, job: LiveJob) -> None:
        """Arm the dead man's switch; when the exchange refuses it, start the guardian (once)."""
        venue = job.venue
        try:
            armed = venue.arm_dead_mans_switch()
        except VenueError as exc:
            log.warning("dead man's switch not armed (the heartbeat retries): %s", exc)
            return
        if armed or job.guardian is not None:
            return
        spec = venue.guardian()
        if spec is None:
            return
        from botmm.runners.guardian import start_guardian

        strategy = job.strategy
        job.guardian = start_guardian(spec, GUARDIAN_AGES * strategy.max_data_age_s,
                                      strategy.run.output_dir)
        strategy.event("dead_mans_switch", armed=False, fallback="guardian")

    def _tick(self, job: LiveJob) -> None:
        """One tick of one strategy, in its worker thread: reconcile when due, step, beat the guardian."""
        strategy, now = job.strategy, time.monotonic()
        errors = strategy.calls["venue_errors"] > job.errors_seen and now >= job.retry_at
        gap = job.pushed and job.venue.reconcile_due and now >= job.retry_at  # a failing one backs off as any
        if not job.reconciled or now >= job.reconcile_at or errors or gap:
            self._reconcile(job)
        if not job.reconciled:
            return
        calls, sent = strategy.calls, strategy.calls["placed"] + strategy.calls["modified"]
        began = time.thread_time()
        strategy.step(int(time.time() * 1000))
        if calls["placed"] + calls["modified"] != sent:  # a quoting step: what a book change costs before its order
            strategy.step_cpu.add((time.thread_time() - began) * 1000)
        if job.guardian is not None and strategy.fresh:
            job.guardian.beat()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(len(self.jobs) + 2, thread_name_prefix="botmm-tick"))
        self._stop = asyncio.Event()
        if self._stop_early:
            self._stop.set()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        tasks = [asyncio.create_task(self._ticker(job)) for job in self.jobs]
        tasks += [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._metadata_monitor()),
                  asyncio.create_task(daily_reports(self.strategies, self._stop))]
        try:
            try:
                await asyncio.wait_for(self._stop.wait(), self.duration)
            except TimeoutError:
                log.info("duration of %gs reached; stopping", self.duration)
            self._stop.set()
            self._halting.set()
            for job in self.jobs:
                job.changed.set()
            _, pending = await asyncio.wait(tasks, timeout=STEP_GRACE_S)
            for task in pending:
                task.cancel()
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
            _on_signals(_ignored)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received; cancelling every order and stopping", sig.name)
        self._stop.set()

    def _signal_while_starting(self, sig: signal.Signals) -> None:
        log.info("%s received while starting; stopping once started", sig.name)
        self._stop_early = True

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the stop, whichever comes first."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _ticker(self, job: LiveJob) -> None:
        bind_symbol(job.strategy.run.symbol)  # this task's records, and its steps' threads, name the symbol
        job.pushed = isinstance(job.venue, PushVenue) and job.venue.watch(job.changed.set)
        try:
            if job.pushed:
                await asyncio.to_thread(self._stepper, job)
            while not job.pushed and not self._stop.is_set():
                started = time.monotonic()
                await asyncio.to_thread(self._tick, job)
                self._stepped(job, started)
                await self._pause(self.interval - (time.monotonic() - started))
        except Exception as exc:
            log.error("stopping: %s", exc)
            self.error = self.error or exc
            self._stop.set()

    def _stepper(self, job: LiveJob) -> None:
        """The ticks of a venue that pushes its changes, in one worker thread that the venue's callback wakes
        directly (no hand-off through the event loop): a change during a step causes exactly one more step after
        it, steps are at least ``min_interval`` apart, and a silent venue is still stepped every ``interval``."""
        while not (self._halting.is_set() or self._stop.is_set()):
            started = time.monotonic()
            job.changed.clear()  # a change from here on, during the step too, causes one more step
            self._tick(job)
            self._stepped(job, started)
            self._halting.wait(max(0.0, self.min_interval - (time.monotonic() - started)))
            job.changed.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _stepped(self, job: LiveJob, started: float) -> None:
        """Record a tick that began at ``started`` (monotonic) for the status page."""
        self.last_step[id(job.strategy)] = now = time.monotonic()
        if self.status is not None:
            self.status.metrics.observe_step(job.strategy.run.symbol, now - started)

    async def _heartbeat(self) -> None:
        period = min(job.venue.heartbeat_s for job in self.jobs)
        while not self._stop.is_set():
            await self._pause(period)
            for job in self.jobs if not self._stop.is_set() else []:
                strategy = job.strategy
                with symbol_context(strategy.run.symbol):
                    if not strategy.fresh or strategy.fresh_ms <= job.armed_fresh_ms:
                        log.warning("no fresh market data since the last heartbeat: not re-arming the dead man's "
                                    "switch")
                        continue
                    job.armed_fresh_ms = strategy.fresh_ms
                    await asyncio.to_thread(self._arm, job)

    async def _metadata_monitor(self) -> None:
        period = min(job.venue.metadata_refresh_s for job in self.jobs)
        while not self._stop.is_set():
            await self._pause(period)
            for job in self.jobs if not self._stop.is_set() else []:
                with symbol_context(job.strategy.run.symbol):
                    try:
                        changes = await asyncio.to_thread(job.venue.refresh_metadata)
                    except Exception as exc:
                        log.warning("metadata not refreshed: %s", exc)
                        continue
                    if changes:
                        job.strategy.event("metadata_changed", **changes)

    def _shutdown(self) -> list[dict[str, Any]]:
        """Halt every venue, then stop the started strategies in parallel (cancel, verify, last fills, outputs)."""
        _on_signals(_ignored)
        began = time.monotonic()
        for job in self._started:
            job.venue.halt()
        results: list[dict[str, Any]] = []
        failure: Optional[BaseException] = None
        started = [job for job in self.jobs if job in self._started]
        if started:
            with ThreadPoolExecutor(len(started), thread_name_prefix="botmm-stop") as pool:
                futures = [pool.submit(with_symbol, job.strategy.run.symbol, job.strategy.stop, self.error,
                                       functools.partial(self._after_cancel, job)) for job in started]
                for job, future in zip(started, futures):
                    strategy = job.strategy
                    with symbol_context(strategy.run.symbol):
                        try:
                            strategy.outcome = future.result()
                        except BaseException as exc:
                            if exc is not job.stop_error:
                                log.error("stop failed: %s", exc)
                            failure = failure or exc
                            continue
                        results.append(strategy.outcome)
                        log.info("stopped in %.1fs: %d orders cancelled, none resting; %d fills, pnl %.4f",
                                 time.monotonic() - began, strategy.outcome["orders_cancelled"],
                                 strategy.outcome["fills"], strategy.outcome["pnl"])
        if self.error is not None:
            raise self.error
        if failure is not None:
            raise failure
        return results

    def _after_cancel(self, job: LiveJob, error: Optional[VenueError]) -> None:
        """The stop's cancel verified: disarm the dead man's switch and stop the guardian. Not verified: leave both
        watching and say so."""
        if error is not None:
            job.stop_error = error
            log.error("stop failed, orders may still rest: %s; the dead man's switch stays armed%s", error,
                      " and the guardian keeps watching" if job.guardian is not None else "")
            job.strategy.event("stop_failed", error=str(error), dead_mans_switch="armed")
            return
        try:
            job.venue.disarm_dead_mans_switch()
        except VenueError as exc:
            log.warning("dead man's switch not disarmed (it fires with no order resting): %s", exc)
        if job.guardian is not None:
            job.guardian.stop()
            job.guardian = None


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _signal_handlers() -> dict[int, Any]:
    return {sig: signal.getsignal(sig) for sig in _SIGNALS} if _main_thread() else {}


def _restore_signals(saved: dict[int, Any]) -> None:
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _ignored(sig: signal.Signals) -> None:
    """During the stop SIGINT and SIGTERM only log: cancelling orders must not be cut short."""
    log.warning("%s ignored: already stopping", sig.name)


def _on_signals(handler: Callable[[signal.Signals], None]) -> None:
    """Route SIGINT and SIGTERM to ``handler`` (outside the asyncio loop: while starting and while stopping)."""
    if _main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, lambda signum, frame: handler(signal.Signals(signum)))
