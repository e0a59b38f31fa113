"""The Hyperliquid guardian (``python -m botmm.plugins.exchanges.hyperliquid.guardian``; see
:mod:`botmm.runners.guardian`): cancels the bot's resting orders of its coins, recognised by the bot's client
order id prefix, so orders placed by hand or by another bot on the account are never touched.

Its settings (from :meth:`HyperliquidVenue.guardian`) name the server, the account, the coins, the cloid prefix and
where the key is (``key_env`` or ``key_file``); the key itself never passes through the settings.
"""

from __future__ import annotations

import sys
from typing import Any

from botmm import load_key
from botmm.exchange import Canceller, serve_guardian

from .client import ClientSettings, HyperliquidClient, NonceSource, WeightBudget
from .config import WEIGHT_LIMIT


def own_orders(orders: list[dict], coins: set[str], prefix: str) -> list[tuple[str, int]]:
    """``(coin, oid)`` of the orders in a ``frontendOpenOrders`` answer that are the bot's: of its coins and with a
    client order id starting with ``0x<prefix>``."""
    mark = "0x" + prefix.lower()
    return [(o["coin"], int(o["oid"])) for o in orders
            if o.get("coin") in coins and str(o.get("cloid") or "").lower().startswith(mark)]


def make_canceller(settings: dict[str, Any]) -> Canceller:
    """The guardian's cancel: one ``frontendOpenOrders`` read, one bulk cancel of the bot's orders, and a second
    read to count what still rests."""
    from eth_account import Account

    key = load_key(settings.get("key_env"), settings.get("key_file"), "exchange")
    wallet = Account.from_key(key.reveal())
    client = HyperliquidClient(
        ClientSettings(settings["base_url"], bool(settings["is_mainnet"]), float(settings["timeout_s"]), WEIGHT_LIMIT,
                       fills_poll_s=60.0),
        wallet, settings["account"], WeightBudget(WEIGHT_LIMIT), NonceSource())
    coins, prefix = set(settings["coins"]), settings["cloid_prefix"]

    def resting() -> list[tuple[str, int]]:
        return own_orders(client.info({"type": "frontendOpenOrders", "user": client.account}), coins, prefix)

    def cancel() -> int:
        if client.exchange is None:
            client.load_meta()
        targets = resting()
        if targets:
            client.cancel(targets)
            targets = resting()
        return len(targets)

    return cancel


def main() -> int:
    return serve_guardian(make_canceller)


if __name__ == "__main__":
    sys.exit(main())
