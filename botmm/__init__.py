"""botmm: config-driven market making for crypto perpetuals.

The public API for plugin authors and scripts; everything else is private to its module.
"""

from botmm.config import AssetConfig, ComponentParams, QuoteParams, RiskLimits, require
from botmm.errors import BotmmError, ConfigError, DataError, PluginError, VenueError
from botmm.model import Book, Candles, Fill, Market, Order, Position, Quote, QuoteLevel, RiskState, Side, Trade
from botmm.protocols import Feed, QuoteInputs, Quoter, Signal, SizeContext, Sizer, StrategyPolicy, Venue
from botmm.registry import BuildContext, hookimpl

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
    "Market",
    "Order",
    "PluginError",
    "Position",
    "Quote",
    "QuoteInputs",
    "QuoteLevel",
    "QuoteParams",
    "Quoter",
    "RiskLimits",
    "RiskState",
    "Side",
    "Signal",
    "SizeContext",
    "Sizer",
    "StrategyPolicy",
    "Trade",
    "Venue",
    "VenueError",
    "hookimpl",
    "require",
]
