"""botmm: config-driven market making for crypto perpetuals.

The public API for plugin authors and scripts. A plugin imports from ``botmm`` (components, value types, config,
errors, secrets) and, when it wraps an engine, from the public modules :mod:`botmm.registry` (looking up other
components), :mod:`botmm.sim` (simulated venues), :mod:`botmm.data` (dataset readers), :mod:`botmm.ml` (the
auto-tuner, the fill predictor) and :mod:`botmm.exchange` (live exchanges: funding, key checks, the guardian). Every
other module is private to botmm; docs/plugins.md lists each public name.
"""

from botmm import speedups

speedups.install()  # before any compiled module is imported: BOTMM_PURE_PYTHON, or a compiled file older than its source

from botmm.config import (AssetConfig, ComponentParams, InvalidValue, QuoteParams, RiskLimits, is_duration,
                          parse_duration, require, to_params)
from botmm.errors import BotmmError, ConfigError, DataError, PluginError, VenueError
from botmm.model import (Book, Candles, Fill, Market, Order, Position, Quote, QuoteLevel, RiskState, Side, Trade,
                         make_level)
from botmm.notify import HookNotifier, Notification
from botmm.protocols import (Feed, FundingLedger, GuardianSpec, LiveVenue, PushVenue, QuoteInputs, Quoter,
                             Reconciliation, Signal, SimulatedVenue, SizeContext, Sizer, StrategyPolicy, TickState,
                             Venue)
from botmm.registry import BuildContext, hookimpl
from botmm.rounding import lots_for_notional, relot, round_ask, round_bid, round_lot
from botmm.secrets import REDACTOR, Secret, install_redaction, load_key

__all__ = [
    "AssetConfig",
    "BotmmError",
    "Book",
    "BuildContext",
    "Candles",
    "ComponentParams",
    "ConfigError",
    "DataError",
    "Feed",
    "Fill",
    "FundingLedger",
    "GuardianSpec",
    "HookNotifier",
    "InvalidValue",
    "LiveVenue",
    "Market",
    "Notification",
    "Order",
    "PluginError",
    "Position",
    "PushVenue",
    "Quote",
    "QuoteInputs",
    "QuoteLevel",
    "QuoteParams",
    "REDACTOR",
    "Quoter",
    "Reconciliation",
    "RiskLimits",
    "RiskState",
    "Side",
    "Signal",
    "Secret",
    "SimulatedVenue",
    "SizeContext",
    "Sizer",
    "StrategyPolicy",
    "TickState",
    "Trade",
    "Venue",
    "VenueError",
    "hookimpl",
    "install_redaction",
    "is_duration",
    "load_key",
    "lots_for_notional",
    "make_level",
    "parse_duration",
    "relot",
    "require",
    "round_ask",
    "round_bid",
    "round_lot",
    "to_params",
]
