"""``notifier=console``: every lifecycle event as one log line (console and the run's log file), worded by the
catalogue of :mod:`botmm.notify` and logged at the event's level with the event's symbol."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional

from botmm import BuildContext, ComponentParams, HookNotifier, Notification, hookimpl, require

log = logging.getLogger("botmm.notify")


@dataclass
class ConsoleParams(ComponentParams):
    fills: Optional[bool] = None  # log every fill; None: in wall-clock runs only (a backtest makes thousands)
    events: Optional[List[str]] = None  # only these events (None: all; names in botmm.notify.CATALOGUE)
    min_level: str = "DEBUG"  # drop notifications below this level

    def __post_init__(self) -> None:
        require(isinstance(logging.getLevelName(self.min_level.upper()), int), self, "min_level",
                "must be DEBUG, INFO, WARNING, ERROR or CRITICAL")


class ConsoleNotifier(HookNotifier):
    """Logs each notification on the ``botmm.notify`` logger."""

    def __init__(self, params: ConsoleParams):
        super().__init__(params.fills, params.events, logging.getLevelName(params.min_level.upper()))
        self.params = params

    def deliver(self, note: Notification) -> None:
        log.log(note.level, "%s", note.text, extra={"symbol": note.symbol, "event": note.event})


def make_console(params: ConsoleParams, ctx: BuildContext) -> ConsoleNotifier:
    return ConsoleNotifier(params)


@hookimpl
def botmm_register_notifiers(register):
    register("console", make_console, ConsoleParams)
