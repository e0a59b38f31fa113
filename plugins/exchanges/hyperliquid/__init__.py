"""``exchange=hyperliquid``: quoting on Hyperliquid perps through hyperliquid-python-sdk (presets
``exchange=hl_testnet`` and ``exchange=hl_mainnet``).

Every exchange adapter has the same file set: ``config.py`` (params), ``client.py`` (transport: nonces, timeouts,
rate limits, shared per account), ``execution.py`` (the :class:`~botmm.protocols.Venue`), ``rounding.py`` (the
exchange's price and size rules as pure functions) and ``symbols.py`` (symbol mapping).

The factory does no network I/O: it refuses the mainnet URL without ``confirm_mainnet=true`` and checks that the key
is present and well-formed (environment variable or key file), so both fail in one line before anything connects.
The SDK is imported only when the venue is built.
"""

from __future__ import annotations

from botmm.errors import ConfigError
from botmm.registry import BuildContext, hookimpl
from botmm.secrets import load_key

from .config import HyperliquidParams


def make_hyperliquid(params: HyperliquidParams, ctx: BuildContext):
    """Check the safety settings and the key, then build the venue (it connects in ``connect()``)."""
    if params.is_mainnet and not params.confirm_mainnet:
        raise ConfigError(f"exchange.confirm_mainnet=false: {params.base_url} is Hyperliquid mainnet and trades real "
                          "money; add exchange.confirm_mainnet=true to confirm")
    key = load_key(params.key_env, params.key_file, "exchange")
    from .execution import HyperliquidVenue

    return HyperliquidVenue(params, ctx.asset, key)


@hookimpl
def botmm_register_exchanges(register):
    register("hyperliquid", make_hyperliquid, HyperliquidParams)
