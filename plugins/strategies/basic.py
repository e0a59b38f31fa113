"""``strategy=basic``: the seed's BasicMMStrategy. The quoter's inputs pass through unchanged; the only behaviour is
hot reload of a live params file.

``params_file`` (YAML or JSON) holds overrides of the quoter's params, e.g. ``{quoter: {spread_bps: 5.0}}`` — the
file ``botmm reoptimize`` writes. It is checked every ``reload_seconds`` of the job's clock; when its modification
time changed, the overrides are validated against the quoter's schema and applied (event ``params_reloaded``). A file
that does not parse or validate is rejected with event ``params_rejected`` and the old params stay.

``auto_tune`` (``strategy.auto_tune.enabled=true``) adds the auto-tuner (:mod:`botmm.ml.autotune`): spread, skew and
size multipliers adjusted from each window's PnL, Sharpe, fill rate and inventory, within safety bounds, every change
sent as event ``auto_tune``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import OmegaConf

from botmm import BuildContext, ComponentParams, ConfigError, QuoteInputs, TickState, hookimpl, require, to_params
from botmm.ml import AutoTuneParams, AutoTuning


@dataclass
class BasicParams(ComponentParams):
    params_file: Optional[str] = None  # YAML or JSON overrides of the quoter's params (botmm reoptimize writes it)
    reload_seconds: float = 5.0  # the params file is checked this often, on the job's clock
    auto_tune: AutoTuneParams = field(default_factory=AutoTuneParams)  # bounded tuning of spread, skew and size

    def __post_init__(self) -> None:
        require(self.reload_seconds > 0, self, "reload_seconds", "must be > 0")


class BasicPolicy:
    def __init__(self, params: BasicParams):
        self.path = params.params_file
        self.reload_ms = int(params.reload_seconds * 1000)
        self.strategy: Any = None
        self._next_check = 0
        self._mtime: int | None = None
        self.tuning = AutoTuning(params.auto_tune) if params.auto_tune.enabled else None

    def bind(self, strategy: Any) -> None:
        self.strategy = strategy
        if self.tuning is not None:
            self.tuning.bind(strategy)

    def adjust(self, inputs: QuoteInputs, state: TickState) -> QuoteInputs:
        if self.path is not None and state.now_ms >= self._next_check:
            self._next_check = state.now_ms + self.reload_ms
            self.reload()
        if self.tuning is not None:
            inputs = self.tuning.adjust(inputs, state)
        return inputs

    def reload(self) -> bool:
        """Apply the params file if it changed since the last look; True when new params were applied."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return False
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        quoter = self.strategy.quoter
        try:
            overrides = OmegaConf.load(self.path).get("quoter", {})
            current = OmegaConf.structured(quoter.params)
            new = to_params(type(quoter.params), OmegaConf.merge(current, overrides), "params_file:quoter")
        except Exception as exc:  # a broken file must never stop trading
            self.strategy.event("params_rejected", file=self.path, error=str(exc).splitlines()[0])
            return False
        changed = {k: v for k, v in vars(new).items() if getattr(quoter.params, k) != v}
        quoter.params = new
        self.strategy.event("params_reloaded", file=self.path, changed=changed)
        return True


def check_params_file(params: BasicParams) -> None:
    """A params file named on the command line must exist at start: a typo would otherwise go unnoticed for good."""
    if params.params_file is not None and not os.path.isfile(params.params_file):
        raise ConfigError(f"strategy.params_file={params.params_file}: no such file (botmm reoptimize writes one; "
                          "or write {quoter: {spread_bps: 5.0}} into it)")


def make_basic(params: BasicParams, ctx: BuildContext) -> BasicPolicy:
    check_params_file(params)
    return BasicPolicy(params)


@hookimpl
def botmm_register_strategies(register):
    register("basic", make_basic, BasicParams)
