"""Wall-clock runs (``botmm run``): the same :meth:`Strategy.step` as backtests, ticked by an asyncio loop.

* **One task per symbol** ticks every ``interval`` (1 s by default). Each step runs in a worker thread, so one slow
  HTTP call delays only its own symbol and never the signal handling. A venue error is counted by the pipeline's
  risk manager (repeated errors trip its circuit breaker: cancel all, cool down, resume).
* **Several assets in one process**: ``botmm run 'asset=[eth,btc]'``. The runner composes one config per asset with
  Hydra's compose API (the other overrides unchanged, then ``asset=<name>``) and runs them side by side; ``capital``
  is the whole account's and is split evenly between them. Each asset writes its outputs into
  ``<output_dir>/<asset>/``; ``<output_dir>/result.json`` sums them (``sharpe`` is the worst asset's,
  ``max_drawdown_pct`` the deepest). Log records name their asset (each task binds its symbol, see
  :mod:`botmm.logs`) and each asset's notifier hears only its own run's events.
* **Start**: each venue connects; a venue that can ``reconcile()`` (a real exchange) reports the account's resting
  orders of its coin (adopted into its mirror, so the first tick modifies or cancels them) and position (seeded into
  the inventory) before the first quote; then the dead man's switch is armed.
* **Heartbeat**: every ``heartbeat_s`` (15 s) ``set_dead_mans_switch`` re-arms the exchange's scheduled cancel,
  but only for symbols that ticked recently, so a stuck loop lets it fire. When the exchange refuses it, the venue's
  client-side watchdog takes over (event ``dead_mans_switch``).
* **Metadata monitor**: every ``metadata_refresh_s`` (hourly) ``refresh_metadata()``; a change is reported as event
  ``metadata_changed`` and the venue re-rounds.
* **Stop**: after ``duration``, on SIGINT or SIGTERM: the tick tasks finish their step (at most 1 s is waited),
  venues refuse new orders, then every venue cancels its orders and verifies none rests (in parallel), the last
  fills are read and the results written; the process exits within 5 s with the summary. Further signals during
  the stop are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig

from botmm.config import parse_duration
from botmm.core.daily import daily_reports
from botmm.errors import VenueError
from botmm.logs import bind_symbol, set_default_symbol, symbol_context, with_symbol
from botmm.pipeline import Run, Strategy

log = logging.getLogger("botmm.live")

STEP_GRACE_S = 1.0  # how long a stop waits for a step in progress
SUMMED = ("pnl", "realized_pnl", "fills", "volume", "fees", "orders_placed", "orders_modified", "orders_cancelled",
          "calls_saved", "venue_errors", "ticks")


def run(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run the job's asset(s) on the wall clock until ``duration`` or a signal; the result (also in
    ``output_dir/result.json``)."""
    interval = parse_duration(cfg.interval, "interval")
    duration = parse_duration(cfg.duration, "duration") if cfg.duration is not None else None
    jobs = _jobs(cfg, output_dir)
    strategies = [Strategy(job_cfg, Run(job_cfg, "run", job_cfg.asset.symbol, job_dir)) for job_cfg, job_dir in jobs]
    if len(strategies) > 1:
        set_default_symbol("+".join(s.run.symbol for s in strategies))
    results = LiveRunner(strategies, interval, duration).run()
    if len(results) == 1:
        return results[0]
    combined = combine(results, float(cfg.capital))
    (output_dir / "result.json").write_text(json.dumps(combined, indent=2) + "\n")
    return combined


def asset_list() -> list[str]:
    """The assets of an ``asset=[a,b,...]`` override of the running Hydra job ([] when there is none)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return []
    for override in OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task)):
        if override.get_key_element() == "asset" and isinstance(override.value(), list):
            return [str(v) for v in override.value()]
    return []


def _jobs(cfg: DictConfig, output_dir: Path) -> list[tuple[DictConfig, Path]]:
    """One (config, output dir) per asset: the job's own config, or one composed per asset of ``asset=[...]``."""
    assets = asset_list()
    if len(assets) <= 1:
        return [(cfg, output_dir)]
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig

    overrides = HydraConfig.get().overrides
    others = [o for o in overrides.task if not o.split("=", 1)[0].lstrip("+~") == "asset"]
    others += [o for o in overrides.hydra if o.startswith("hydra.searchpath=")]  # plugins' YAML presets
    capital = float(cfg.capital) / len(assets)
    return [(compose(config_name=HydraConfig.get().job.config_name,
                     overrides=[*others, f"asset={asset}", f"capital={capital}"]), output_dir / asset)
            for asset in assets]


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
    return combined


class LiveRunner:
    """Runs strategies side by side on the wall clock; see the module docstring."""

    def __init__(self, strategies: list[Strategy], interval: float, duration: Optional[float]):
        self.strategies, self.interval, self.duration = strategies, interval, duration
        self.last_step = {id(s): time.monotonic() for s in strategies}
        self.error: Optional[BaseException] = None
        self._stop: Optional[asyncio.Event] = None
        self._stop_early = False  # a signal arrived while starting
        self._started: list[Strategy] = []

    def run(self) -> list[dict[str, Any]]:
        """Start every strategy, tick until stopped, then stop them all; their results, in order."""
        saved = _signal_handlers()
        _on_signals(self._signal_while_starting)
        try:
            try:
                for strategy in self.strategies:
                    with symbol_context(strategy.run.symbol):
                        self._start(strategy)
                asyncio.run(self._main())
            except BaseException as exc:
                self.error = self.error or exc
            return self._shutdown()
        finally:
            _restore_signals(saved)

    def _start(self, strategy: Strategy) -> None:
        venue = strategy.venue
        if hasattr(venue, "notify"):
            venue.notify = strategy.event
        strategy.start()
        self._started.append(strategy)
        if hasattr(venue, "reconcile"):
            found = venue.reconcile()
            strategy.seed_position(found["position"], found["avg_entry"])
        if hasattr(venue, "set_dead_mans_switch"):
            try:
                if venue.set_dead_mans_switch():
                    strategy.event("dead_mans_switch", armed=True, seconds=venue.params.dead_mans_switch_s)
            except VenueError as exc:
                log.warning("dead man's switch not armed yet (the heartbeat retries): %s", exc)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(len(self.strategies) + 2, thread_name_prefix="botmm-tick"))
        self._stop = asyncio.Event()
        if self._stop_early:
            self._stop.set()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        tasks = [asyncio.create_task(self._ticker(s)) for s in self.strategies]
        tasks += [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._metadata_monitor()),
                  asyncio.create_task(daily_reports(self.strategies, self._stop))]
        try:
            try:
                await asyncio.wait_for(self._stop.wait(), self.duration)
            except TimeoutError:
                log.info("duration of %gs reached; stopping", self.duration)
            self._stop.set()
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
        if seconds > 0:
            try:
                await asyncio.wait_for(self._stop.wait(), seconds)
            except TimeoutError:
                pass

    async def _ticker(self, strategy: Strategy) -> None:
        loop = asyncio.get_running_loop()
        bind_symbol(strategy.run.symbol)  # this task's records, and its steps' threads, name the symbol
        try:
            while not self._stop.is_set():
                started = loop.time()
                await asyncio.to_thread(strategy.step, int(time.time() * 1000))
                self.last_step[id(strategy)] = time.monotonic()
                await self._pause(self.interval - (loop.time() - started))
        except Exception as exc:
            log.error("stopping: %s", exc)
            self.error = self.error or exc
            self._stop.set()

    async def _heartbeat(self) -> None:
        venues = [s for s in self.strategies if hasattr(s.venue, "set_dead_mans_switch")]
        if not venues:
            return
        period = min(s.venue.heartbeat_s for s in venues)
        while not self._stop.is_set():
            await self._pause(period)
            for strategy in venues if not self._stop.is_set() else []:
                with symbol_context(strategy.run.symbol):
                    venue = strategy.venue
                    idle = time.monotonic() - self.last_step[id(strategy)]
                    if idle > venue.params.dead_mans_switch_s / 2:
                        log.warning("no tick for %.0fs: not re-arming the dead man's switch", idle)
                        continue
                    try:
                        await asyncio.to_thread(venue.set_dead_mans_switch)
                    except Exception as exc:
                        log.warning("dead man's switch not re-armed: %s", exc)

    async def _metadata_monitor(self) -> None:
        venues = [s for s in self.strategies if hasattr(s.venue, "refresh_metadata")]
        if not venues:
            return
        period = min(s.venue.metadata_refresh_s for s in venues)
        while not self._stop.is_set():
            await self._pause(period)
            for strategy in venues if not self._stop.is_set() else []:
                with symbol_context(strategy.run.symbol):
                    try:
                        changes = await asyncio.to_thread(strategy.venue.refresh_metadata)
                    except Exception as exc:
                        log.warning("metadata not refreshed: %s", exc)
                        continue
                    if changes:
                        strategy.event("metadata_changed", **changes)

    def _shutdown(self) -> list[dict[str, Any]]:
        """Halt every venue, then stop the started strategies in parallel (cancel, verify, last fills, outputs)."""
        _on_signals(_ignored)
        began = time.monotonic()
        for strategy in self._started:
            halt = getattr(strategy.venue, "halt", None)
            if halt is not None:
                halt()
        results: list[dict[str, Any]] = []
        failure: Optional[BaseException] = None
        started = [s for s in self.strategies if any(s is t for t in self._started)]
        if started:
            with ThreadPoolExecutor(len(started), thread_name_prefix="botmm-stop") as pool:
                futures = [pool.submit(with_symbol, s.run.symbol, s.stop, self.error) for s in started]
                for strategy, future in zip(started, futures):
                    with symbol_context(strategy.run.symbol):
                        try:
                            strategy.outcome = future.result()
                        except BaseException as exc:
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
