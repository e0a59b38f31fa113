"""The one tick every mode runs: market data -> signals -> strategy policy -> quoter -> sizer -> risk -> order
manager -> venue, then fills -> inventory, metrics and notifiers.

A live run, a paper run and a backtest differ only in the venue they build and the clock that calls
:meth:`Strategy.step`. Components are resolved from the plugin registry once per job and then called directly: no
hook call happens per tick, only on rare lifecycle events (start, end, fills, errors).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig

from botmm.config import AssetConfig, OrderManagerConfig, RiskLimits, to_params
from botmm.core.inventory import InventoryTracker
from botmm.core.metrics import MetricsRecorder
from botmm.core.order_manager import OrderManager
from botmm.core.risk import RiskManager
from botmm.errors import ConfigError
from botmm.model import Market, RiskState
from botmm.registry import BuildContext, build, load_plugins
from botmm.protocols import QuoteInputs, Signal, SizeContext

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


def check_config(cfg: DictConfig) -> tuple[AssetConfig, RiskLimits]:
    """Check the framework's own nodes; component nodes are checked when they are built."""
    asset = to_params(AssetConfig, cfg.asset, "asset")
    risk = to_params(RiskLimits, cfg.risk, "risk")
    to_params(OrderManagerConfig, cfg.order_manager, "order_manager")
    if cfg.capital <= 0:
        raise ConfigError(f"capital={cfg.capital}: must be > 0")
    unknown = set(cfg.signals) - set(SIGNAL_SLOTS)
    if unknown:
        raise ConfigError(f"signals.{sorted(unknown)[0]}: unknown signal slot; slots: {', '.join(SIGNAL_SLOTS)}")
    if "volatility" not in cfg.signals:
        raise ConfigError("signals.volatility: missing; the quoter needs a volatility signal")
    return asset, risk


@dataclass
class Components:
    """A job's components, built from its config by :func:`build_components`."""

    asset: AssetConfig
    limits: RiskLimits
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
    asset, limits = check_config(cfg)
    ctx = BuildContext(cfg=cfg, asset=asset)
    ctx.feed = build("feed", cfg.feed, ctx)
    return Components(
        asset=asset,
        limits=limits,
        feed=ctx.feed,
        venue=build("exchange", cfg.exchange, ctx),
        quoter=build("quoter", cfg.quoter, ctx),
        sizer=build("sizer", cfg.sizer, ctx),
        policy=build("strategy", cfg.strategy, ctx),
        notifier=build("notifier", cfg.notifier, ctx),
        signals={slot: build("signal", node, ctx, path=f"signals.{slot}") for slot, node in cfg.signals.items()},
    )


class Strategy:
    """Holds a job's components and runs one tick at a time."""

    def __init__(self, cfg: DictConfig, run: Run):
        self.run, self.hook = run, load_plugins().hook
        parts = build_components(cfg)
        self.asset, self.venue, self.notifier = parts.asset, parts.venue, parts.notifier
        self.quoter, self.sizer, self.policy = parts.quoter, parts.sizer, parts.policy
        self.signals = dict(parts.signals)
        self.volatility = self.signals.pop("volatility")
        self.capital = float(cfg.capital)
        self.max_position_usd = parts.limits.max_position_usd
        self.risk = RiskManager(parts.limits, self.capital)
        self.order_manager = OrderManager(cfg.order_manager.modify_threshold_bps, parts.asset.lot_size / 2)
        self.inventory = InventoryTracker()
        self.metrics = MetricsRecorder(self.capital)
        self.calls = {"placed": 0, "modified": 0, "cancelled": 0}
        self._cursor = 0
        self._risk_state = RiskState.SAFE
        self.outcome: dict[str, Any] = {}

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
        load_plugins().register(self.notifier, name=f"notifier:{id(self)}")
        self.venue.connect()
        self.hook.botmm_run_start(run=self.run)

    def step(self, now_ms: int) -> None:
        market = self.venue.poll(now_ms)
        if market is None:
            return
        self._take_fills()
        mid = market.mid
        inv = self.inventory
        position = inv.position
        equity = self.capital + inv.total_pnl(mid)
        inputs = self._inputs(market, position)
        quote = self.quoter.quote(self.policy.adjust(inputs))
        quote = self.sizer.size(quote, SizeContext(mid, position, equity, inputs.vol))
        state = self.risk.check(now_ms, mid, position, equity)
        if state is RiskState.CIRCUIT_BREAK and self._risk_state is not RiskState.CIRCUIT_BREAK:
            self.calls["cancelled"] += self.venue.cancel_all_orders()
        self._risk_state = state
        actions = self.order_manager.reconcile(self.risk.apply(quote, position), self.venue.get_open_orders())
        if actions.cancel:
            self.venue.cancel_orders(actions.cancel)
            self.calls["cancelled"] += len(actions.cancel)
        if actions.modify:
            self.venue.modify_orders(actions.modify, now_ms)
            self.calls["modified"] += len(actions.modify)
        if actions.place:
            self.venue.place_orders(actions.place, now_ms)
            self.calls["placed"] += len(actions.place)
        self.metrics.record(now_ms, mid, position, equity)

    def _inputs(self, market: Market, position: float) -> QuoteInputs:
        mid = market.mid
        vol = self.volatility.update(market)
        inputs = QuoteInputs(mid=mid, vol=vol, atr=getattr(self.volatility, "atr", 0.0), position=position)
        inputs.inventory = max(-1.0, min(1.0, position * mid / self.max_position_usd))
        for slot, signal in self.signals.items():
            setattr(inputs, slot, signal.update(market))
        return inputs

    def _take_fills(self) -> None:
        fills, self._cursor = self.venue.fills_since(self._cursor)
        for fill in fills:
            self.inventory.record(fill)
            self.metrics.fills.append(fill)
            self.hook.botmm_fill(run=self.run, fill=fill)

    def stop(self, error: BaseException | None = None) -> dict[str, Any]:
        """Cancel every order, collect the last fills, write the outputs and tell plugins the job ended."""
        try:
            self.calls["cancelled"] += self.venue.cancel_all_orders()
            self._take_fills()
        finally:
            self.venue.disconnect()
        if error is not None:
            self.hook.botmm_error(run=self.run, error=error)
        result = self.result()
        self.metrics.write(self.run.output_dir, result)
        self.hook.botmm_run_end(run=self.run, result=result)
        load_plugins().unregister(name=f"notifier:{id(self)}")
        return result

    def result(self) -> dict[str, Any]:
        inv = self.inventory
        result = self.metrics.result(inv.volume, inv.total_fees)
        result.update(
            symbol=self.asset.symbol,
            mode=self.run.mode,
            realized_pnl=round(inv.realized_pnl, 6),
            orders_placed=self.calls["placed"],
            orders_modified=self.calls["modified"],
            orders_cancelled=self.calls["cancelled"],
            calls_saved=self.order_manager.calls_saved,
        )
        return result
