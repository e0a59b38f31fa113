"""Symbol mapping onto Hyperliquid coins (plugins/exchanges/hyperliquid/symbols.py)."""

from __future__ import annotations

import pytest

from botmm.errors import ConfigError
from botmm.plugins.exchanges.hyperliquid.symbols import to_coin

UNIVERSE = ["BTC", "ETH", "SOL", "kPEPE", "USDC2"]


@pytest.mark.parametrize(("symbol", "coin"), [
    ("ETH", "ETH"), ("eth", "ETH"), ("ETHUSDT", "ETH"), ("ETH-PERP", "ETH"), ("ETH/USDC:USDC", "ETH"),
    ("ethusd", "ETH"), ("BTC_USDT", "BTC"), ("SOL-USD-PERP", "SOL"), ("kPEPE", "kPEPE"), ("KPEPE-PERP", "kPEPE"),
    ("USDC2", "USDC2"),  # a listed name wins before any suffix is stripped
])
def test_symbols_map_to_listed_coins(symbol: str, coin: str) -> None:
    assert to_coin(symbol, UNIVERSE) == coin


@pytest.mark.parametrize("symbol", ["DOGE", "ETHBTC", "PERP", ""])
def test_unknown_symbol_is_one_line_config_error(symbol: str) -> None:
    with pytest.raises(ConfigError) as err:
        to_coin(symbol, UNIVERSE)
    message = str(err.value)
    assert message.startswith(f"asset.symbol={symbol}: not a Hyperliquid perp; 5 known")
    assert "\n" not in message and "ETH" in message
