"""Structured configs of the framework's own nodes, and the checks that run before anything trades.

Component params are dataclasses subclassing :class:`ComponentParams`; ``__post_init__`` checks values and raises
:class:`InvalidValue`, which :func:`to_params` turns into a one-line :class:`~botmm.errors.ConfigError` naming the
full key (``quoter.spread_bps=-1.0: must be > 0``).
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import math
import os
import re
import textwrap
import tokenize
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from botmm.errors import ConfigError


class InvalidValue(ValueError):
    """Raised by a params dataclass for one bad field."""

    def __init__(self, key: str, value: Any, problem: str):
        super().__init__(f"{key}={value}: {problem}")
        self.key, self.value, self.problem = key, value, problem


def require(ok: bool, params: Any, key: str, problem: str) -> None:
    """Raise :class:`InvalidValue` for ``params.key`` unless ``ok``."""
    if not ok:
        raise InvalidValue(key, getattr(params, key), problem)


@dataclass
class ComponentParams:
    """Base of every component's params. ``name`` picks the component from the plugin registry."""

    name: str = MISSING  # the component, from the plugin registry (<group>=<name> picks it)


@dataclass
class QuoteParams(ComponentParams):
    """Knobs every quoter shares, so per-asset overrides and sweeps work whichever quoter is picked."""

    spread_bps: float = 4.0  # minimum full spread, in bps of mid
    vol_multiplier: float = 0.5  # full spread >= vol * vol_multiplier (vol as a fraction of mid per tick)
    inventory_skew_factor: float = 0.5  # quotes move by q * factor * atr against inventory q in [-1, 1]
    order_size_usd: float = 100.0  # notional per level
    num_levels: int = 1  # levels per side
    bias_strength: float = 0.0  # quotes shift by signal * bias_strength * spread

    def __post_init__(self) -> None:
        require(self.spread_bps > 0, self, "spread_bps", "must be > 0")
        require(self.vol_multiplier >= 0, self, "vol_multiplier", "must be >= 0")
        require(self.inventory_skew_factor >= 0, self, "inventory_skew_factor", "must be >= 0")
        require(self.order_size_usd > 0, self, "order_size_usd", "must be > 0")
        require(self.num_levels >= 1, self, "num_levels", "must be >= 1")
        require(self.bias_strength >= 0, self, "bias_strength", "must be >= 0")


MAX_DEFAULT_DATA_AGE_S = 5.0
STATE_DIR_ENV = "BOTMM_STATE_DIR"


@dataclass
class RiskLimits:
    max_position_usd: float = 1000.0  # |position| * mid beyond which the growing side stops quoting
    max_daily_loss_pct: float = 5.0  # loss in a UTC day, % of capital, that trips the circuit breaker
    max_open_orders: int = 10  # resting orders at most, both sides together
    cooldown_seconds: float = 60.0  # pause after an API-error circuit break before quoting again
    max_api_errors: int = 5  # venue errors within error_window_seconds that trip the circuit breaker
    error_window_seconds: float = 60.0  # ... the window those errors are counted over
    # market data older than this in a wall-clock run cancels every order and stops quoting until fresh data
    # returns; None: 3 ticks of the run's interval, at most 5s (backtests are never stale)
    max_data_age: Optional[str] = None
    max_order_usd: Optional[float] = None  # cap on one order's notional (None: no cap)
    # where the daily loss and the circuit breaker's pause of a wall-clock run survive a restart, one JSON file per
    # account and instrument; None: $BOTMM_STATE_DIR, else ~/.botmm/state
    state_dir: Optional[str] = None
    max_drawdown_pct: float = 50.0  # fall of equity from its running peak, % of the peak, that stops the job (ruin)

    def __post_init__(self) -> None:
        require(self.max_position_usd > 0, self, "max_position_usd", "must be > 0")
        require(0 < self.max_daily_loss_pct <= 100, self, "max_daily_loss_pct", "must be in (0, 100]")
        require(self.max_open_orders >= 2, self, "max_open_orders", "must be >= 2 (one bid and one ask)")
        require(self.cooldown_seconds >= 0, self, "cooldown_seconds", "must be >= 0")
        require(self.max_api_errors >= 1, self, "max_api_errors", "must be >= 1")
        require(self.error_window_seconds > 0, self, "error_window_seconds", "must be > 0")
        age = None if self.max_data_age is None else _DURATION.match(str(self.max_data_age))
        require(self.max_data_age is None or age is not None and float(age.group(1)) > 0, self, "max_data_age",
                "must be a positive duration such as 3s or 500ms, or null")
        require(self.max_order_usd is None or self.max_order_usd > 0, self, "max_order_usd", "must be > 0 or null")
        require(0 < self.max_drawdown_pct <= 100, self, "max_drawdown_pct", "must be in (0, 100]")

    def data_age_limit(self, interval_s: float) -> float:
        """Seconds after which a wall-clock run's market data is stale (see ``max_data_age``)."""
        if self.max_data_age is not None:
            return parse_duration(self.max_data_age, "risk.max_data_age")
        return min(3 * interval_s, MAX_DEFAULT_DATA_AGE_S)

    def state_path(self, state_key: str) -> Path:
        """The file keeping the limits of ``state_key`` (an account and instrument) across restarts."""
        folder = self.state_dir or os.environ.get(STATE_DIR_ENV) or "~/.botmm/state"
        return Path(folder).expanduser() / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', state_key)}.json"


@dataclass
class AssetConfig:
    """An instrument. ``quote`` holds the asset's own values of the shared quoting knobs (spread_bps,
    order_size_usd, ...), which every quoter takes as its defaults."""

    symbol: str = MISSING  # the venue's name of the instrument (ETH, BTC, ...)
    tick_size: float = MISSING  # price step, quote units
    lot_size: float = MISSING  # size step, base units
    min_notional: float = 10.0  # smallest order value the venue accepts, quote units
    ref_price: float = 1000.0  # a typical price: where synthetic data starts
    quote: Dict[str, Any] = field(default_factory=dict)  # this asset's values of the shared quoting knobs


    def __post_init__(self) -> None:
        require(self.tick_size > 0, self, "tick_size", "must be > 0")
        require(self.lot_size > 0, self, "lot_size", "must be > 0")
        require(self.min_notional >= 0, self, "min_notional", "must be >= 0")
        require(self.ref_price > 0, self, "ref_price", "must be > 0")
        knobs = {f.name for f in fields(QuoteParams)} - {"name"}
        unknown = sorted(set(self.quote) - knobs)
        require(not unknown, self, "quote", f"unknown knob {unknown[0] if unknown else ''}; knobs: {sorted(knobs)}")


@dataclass
class OrderManagerConfig:
    modify_threshold_bps: float = 0.0  # a price move below this many bps (and no size change) sends nothing
    modify_threshold_ticks: int = 0  # ... or below this many ticks; either threshold keeps the order
    refill_partial: bool = False  # top a partly filled order back up to its size (re-queues it)
    budget_widen_at: float = 0.5  # a live venue's rate-budget pressure (0..1) from which budget_band_bps applies
    budget_band_bps: float = 10.0  # under pressure, an order within this many bps of its new price is kept
    budget_reduce_only_at: float = 0.95  # pressure from which only cancels and reduce-only orders go out

    def __post_init__(self) -> None:
        require(self.modify_threshold_bps >= 0, self, "modify_threshold_bps", "must be >= 0")
        require(self.modify_threshold_ticks >= 0, self, "modify_threshold_ticks", "must be >= 0")
        require(0 < self.budget_widen_at <= 1, self, "budget_widen_at", "must be in (0, 1]")
        require(self.budget_band_bps >= 0, self, "budget_band_bps", "must be >= 0")
        require(self.budget_widen_at <= self.budget_reduce_only_at <= 1, self, "budget_reduce_only_at",
                f"must be in [budget_widen_at={self.budget_widen_at}, 1]")


@dataclass
class WalkForwardConfig:
    """``backtest.walk_forward``: k folds of training and test windows (:mod:`botmm.core.walk_forward`)."""

    folds: int = 0  # how many folds; 0: none
    anchored: bool = False  # training windows start at the data's start (else rolling windows of `train`)
    train: float = 0.4  # a rolling training window, as a fraction of the data's time range
    test: float = 0.1  # each test window, as a fraction of the data's time range
    purge: Optional[str] = None  # a gap between training and test windows (a duration: 1h); null: none

    def __post_init__(self) -> None:
        _require_wf(self.folds >= 0, self, "folds", "must be >= 0")
        _require_wf(0 < self.test < 1 and self.folds * self.test < 1, self, "test",
                f"must be in (0, 1) with folds * test < 1 (folds={self.folds})")
        _require_wf(self.anchored or (0 < self.train and self.train + self.folds * self.test <= 1), self, "train",
                f"must be > 0 with train + folds * test <= 1 (folds={self.folds}, test={self.test})")
        _require_wf(self.purge is None or is_duration(self.purge), self, "purge",
                "expected a duration such as 1h or 30m, or null")


def _require_wf(ok: bool, params: Any, key: str, problem: str) -> None:
    """:func:`require`, naming the key as it sits under ``backtest`` (``walk_forward.<key>``)."""
    if not ok:
        raise InvalidValue(f"walk_forward.{key}", getattr(params, key), problem)


@dataclass
class BacktestConfig:
    split: Optional[str] = None  # walk-forward split: a fraction of the ticks (0.7) or a UTC date (2022-01-20)
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)  # k folds of train and test windows

    def __post_init__(self) -> None:
        require(self.split is None or parse_split(self.split) is not None, self, "split",
                "must be a fraction in (0, 1) or an ISO date")


def parse_split(text: str | None) -> float | str | None:
    """``backtest.split`` as a fraction (float) or an ISO date (str); None when it is neither."""
    if text is None:
        return None
    try:
        fraction = float(text)
    except ValueError:
        return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?", text.strip()) else None
    return fraction if 0 < fraction < 1 else None


@dataclass
class SummaryWeights:
    """Weights of the composite score that ranks the jobs of a multirun (see :mod:`botmm.runners.score`), and
    ``objective``, the figure a sweeper that optimises (``hydra/sweeper=optuna``) receives from each job: ``score``
    or any figure of ``result.json`` (out-of-sample when ``backtest.split`` is set). A job with fewer than
    ``min_fills`` fills is flagged ``no trades`` and never ranked above one that traded."""

    sharpe: float = 1.0  # weight of the Sharpe ratio in the score
    return_pct: float = 0.1  # weight of the return, % of capital
    max_drawdown_pct: float = 0.5  # penalty per % of maximum drawdown
    objective: str = "score"  # what an optimising sweeper maximises: score or a figure of result.json
    min_fills: int = 1  # a job with fewer fills is flagged "no trades", ranked below every job that traded

    def __post_init__(self) -> None:
        require(self.min_fills >= 0, self, "min_fills", "must be >= 0")


@dataclass
class JobConfig:
    """The root of every primary config (``run``, ``backtest``): framework nodes typed, component nodes by name."""

    asset: AssetConfig = MISSING
    risk: RiskLimits = field(default_factory=RiskLimits)
    order_manager: OrderManagerConfig = field(default_factory=OrderManagerConfig)
    capital: float = 10_000.0  # the account's capital, quote units (split evenly between the assets of asset=[...])
    interval: str = "1s"  # strategy tick period of a wall-clock run; a backtest ticks once per bar
    min_interval: str = "100ms"  # a wall-clock run on pushed data steps on each book change, at most this often
    duration: Optional[str] = None  # stop after this long: wall-clock time live, data time in a backtest (None: all)
    seed: int = 7  # random seed of synthetic data and simulations
    compound: bool = False  # order sizes grow and shrink with equity (size * equity / capital)
    progress: Optional[bool] = None  # a progress bar for long backtests; None: when the terminal is interactive
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    summary: SummaryWeights = field(default_factory=SummaryWeights)
    quoter: Any = MISSING
    sizer: Any = MISSING
    strategy: Any = MISSING
    exchange: Any = MISSING
    feed: Any = MISSING
    fill_model: Any = MISSING
    notifier: Any = MISSING
    signals: Any = field(default_factory=dict)
    logging: Any = field(default_factory=dict)  # console/file/JSON logging (botmm.logs)
    server: Any = field(default_factory=dict)  # the status server of wall-clock runs (botmm.status)


ConfigStore.instance().store(name="botmm_schema", node=JobConfig)


@dataclass
class SweeperConf:
    """``hydra/sweeper=botmm``, the default (conf/common.yaml): Hydra's basic sweeper minus its second composition of
    the jobs the CLI has checked (``hydra_plugins/botmm_sweeper``)."""

    _target_: str = "hydra_plugins.botmm_sweeper.BotmmSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="botmm", node=SweeperConf, provider="botmm")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str | float | int, key: str) -> float:
    """Seconds in ``15s``, ``2m``, ``1h``, ``500ms`` or a bare number of seconds; ConfigError naming ``key``."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{key}={text}: expected a positive duration such as 15s, 2m, 1h or 500ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def is_duration(text: str) -> bool:
    """Whether ``text`` is a duration :func:`parse_duration` accepts."""
    try:
        parse_duration(text, "")
    except ConfigError:
        return False
    return True


@functools.cache
def field_docs(schema: type) -> dict[str, str]:
    """The description of each field of dataclass ``schema`` and its bases: the comment ending the field's line, else
    the comment lines right above it; comment lines above a field that has its own comment continue the field
    before. Config dataclasses document their fields this way, and ``botmm <command> --help`` shows these
    descriptions (:mod:`botmm.help`)."""
    docs: dict[str, str] = {}
    for cls in reversed(schema.__mro__):
        if not is_dataclass(cls):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):  # defined where no source is kept (an interactive session)
            continue
        lines = source.splitlines()
        comments = {tok.start[0]: tok.string.lstrip("#").strip()
                    for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
        before = None
        for stmt in ast.parse(source).body[0].body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            above, line = [], stmt.lineno - 1
            while line in comments and lines[line - 1].lstrip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            own = comments.get(stmt.end_lineno) or comments.get(stmt.lineno)
            if own and above and before:
                docs[before] = " ".join([docs[before], *above])
            docs[stmt.target.id] = own or " ".join(above)
            before = stmt.target.id if own else None
    return docs


def check_finite(value: Any, path: str) -> None:
    """ConfigError naming the key when a number in ``value`` (a scalar, or nested dataclasses, dicts and lists) is
    NaN or infinite: range checks such as ``> 0`` let ``inf`` through and ``nan`` through every comparison."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}={value}: must be a finite number")
    if is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_finite(item, f"{path}[{index}]")


def check_job(cfg: DictConfig) -> None:
    """The job's own scalars (``capital``, ``duration``, ...): finite numbers and durations that parse. The nodes
    below them are checked by :func:`to_params` as they are built."""
    for key, value in cfg.items():
        if not OmegaConf.is_config(value):
            check_finite(value, str(key))
    for key in ("interval", "min_interval", "duration"):
        if cfg.get(key) is not None:
            parse_duration(cfg[key], key)


@functools.cache
def _schema_node(schema: type) -> DictConfig:
    """``schema`` as a structured config, made once: making one costs more than the merge it goes into, and a job
    (and each config the CLI checks before a sweep) checks a dozen nodes."""
    return OmegaConf.structured(schema)


def to_params(schema: type, node: DictConfig | dict, path: str) -> Any:
    """Check ``node`` against ``schema`` and return a schema instance; one-line ConfigError naming ``path.key``."""
    try:
        if isinstance(node, DictConfig):
            node = OmegaConf.to_container(node, resolve=True)
        check_finite(node, path)
        merged = OmegaConf.merge(_schema_node(schema), node)  # merge copies its first config: the cached one stays
        return OmegaConf.to_object(merged)
    except InvalidValue as exc:
        raise ConfigError(f"{path}.{exc}") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None)
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"{path}.{key}: {problem}" if key else f"{path}: {problem}") from None
