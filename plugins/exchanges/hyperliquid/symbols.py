"""Mapping a user's symbol (``ETH``, ``eth``, ``ETHUSDT``, ``ETH-PERP``, ``ETH/USDC:USDC``) to a Hyperliquid perp
coin name, checked against the exchange's universe (``meta``). Coin names are case-sensitive on Hyperliquid
(``kPEPE``), so an exact match wins over a case-insensitive one."""

from __future__ import annotations

import re
from typing import Iterable

from botmm import ConfigError

_SUFFIXES = re.compile(r"(?:[-_/]?(?:PERP|USDT|USDC|USD))+$", re.IGNORECASE)


def candidates(symbol: str) -> list[str]:
    """The coin names ``symbol`` may stand for, most literal first."""
    text = symbol.strip()
    names = [text]
    base = _SUFFIXES.sub("", text.split(":")[0])  # ":USDC" is a settlement suffix (ccxt style)
    if base and base not in names:
        names.append(base)
    return names


def to_coin(symbol: str, universe: Iterable[str], key: str = "asset.symbol") -> str:
    """The coin of ``universe`` that ``symbol`` names; a one-line ConfigError naming ``key`` when there is none."""
    coins = list(universe)
    by_upper = {coin.upper(): coin for coin in coins}
    for name in candidates(symbol):
        if name in coins:
            return name
        if name.upper() in by_upper:
            return by_upper[name.upper()]
    shown = ", ".join(coins[:12]) + (", ..." if len(coins) > 12 else "")
    raise ConfigError(f"{key}={symbol}: not a Hyperliquid perp; {len(coins)} known, e.g. {shown}")
