"""``notifier=console``: lifecycle events as log lines on the console (start, fills, errors, end)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from botmm.config import ComponentParams
from botmm.registry import BuildContext, hookimpl

log = logging.getLogger("botmm.notify")


@dataclass
class ConsoleParams(ComponentParams):
    fills: Optional[bool] = None  # log every fill; None: in wall-clock runs only (a backtest makes thousands)


class ConsoleNotifier:
    def __init__(self, params: ConsoleParams):
        self.params = params

    @hookimpl
    def botmm_run_start(self, run):
        log.info("[%s] %s started (output: %s)", run.symbol, run.mode, run.output_dir)

    @hookimpl
    def botmm_fill(self, run, fill):
        if self.params.fills or (self.params.fills is None and run.mode == "run"):
            side = "BUY" if fill.side > 0 else "SELL"
            log.info("[%s] fill %s %g @ %g fee %.6f", run.symbol, side, fill.size, fill.price, fill.fee)

    @hookimpl
    def botmm_error(self, run, error):
        log.error("[%s] %s stopped on error: %s", run.symbol, run.mode, error)

    @hookimpl
    def botmm_run_end(self, run, result):
        log.info("[%s] %s ended: pnl %.4f, %d fills", run.symbol, run.mode, result["pnl"], result["fills"])


def make_console(params: ConsoleParams, ctx: BuildContext) -> ConsoleNotifier:
    return ConsoleNotifier(params)


@hookimpl
def botmm_register_notifiers(register):
    register("console", make_console, ConsoleParams)
