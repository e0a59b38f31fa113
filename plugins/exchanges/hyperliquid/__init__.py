"""``exchange=hyperliquid``: quoting on Hyperliquid perps through hyperliquid-python-sdk (presets
``exchange=hl_testnet`` and ``exchange=hl_mainnet``).

Every exchange adapter has the same file set: ``config.py`` (params), ``client.py`` (transport: nonces, timeouts,
rate limits, shared per account; Hyperliquid's limits are modelled in ``budget.py``), ``execution.py`` (the
:class:`~botmm.protocols.Venue`), ``rounding.py`` (the exchange's price and size rules as pure functions) and
``symbols.py`` (symbol mapping).

The factory does no network I/O, so every refusal below is one line before anything connects: the mainnet URL
without ``confirm_mainnet=true``; a key that is missing, malformed or not a valid secp256k1 key, or a key file open to
group or others; and on mainnet, risk limits the user did not give on the command line.

Mainnet limits are "explicit" only when ``risk.max_order_usd`` (not null) and ``risk.max_position_usd`` are
overrides of this run's command line, as Hydra records them in ``.hydra/overrides.yaml``: the framework's defaults
and the asset presets' values were chosen for backtests, not for the user's money. The CLI's check and the job both
read them from :class:`~hydra.core.hydra_config.HydraConfig`; without one (a config built outside ``botmm run``),
mainnet is refused. The SDK is imported only when the venue is built.
"""

from __future__ import annotations

from omegaconf import DictConfig

from botmm import BuildContext, ConfigError, hookimpl, load_key

from .config import HyperliquidParams
from .symbols import candidates

MAINNET_LIMITS = ("risk.max_order_usd", "risk.max_position_usd")


def make_hyperliquid(params: HyperliquidParams, ctx: BuildContext):
    """Check the safety settings and the key, then build the venue (it connects in ``connect()``)."""
    if params.is_mainnet and not params.confirm_mainnet:
        raise ConfigError(f"exchange.confirm_mainnet=false: {params.base_url} is Hyperliquid mainnet and trades real "
                          "money; add exchange.confirm_mainnet=true to confirm")
    key = load_key(params.key_env, params.key_file, "exchange")
    if params.is_mainnet:
        check_mainnet_limits(ctx.cfg)
    from .execution import HyperliquidVenue

    return HyperliquidVenue(params, ctx.asset, key)


def command_line_keys() -> set[str]:
    """The keys this run's command line sets (``key=value``, ``+key=``, ``++key=``), from Hydra's record of it;
    empty outside a Hydra run or check."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return set()
    parsed = OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))
    return {o.key_or_group for o in parsed if not o.is_delete()}


def check_mainnet_limits(cfg: DictConfig) -> None:
    """Refuse mainnet unless the per-order cap and the position limit were given on the command line (and the cap is
    not null): a default must not silently bound real money."""
    given = command_line_keys()
    missing = [key for key in MAINNET_LIMITS if key not in given]
    if missing:
        raise ConfigError(f"{missing[0]}: Hyperliquid mainnet needs explicit risk limits; add "
                          f"{' '.join(f'{key}=<USD>' for key in missing)} to the command line")
    if cfg.risk.max_order_usd is None:
        raise ConfigError("risk.max_order_usd=null: Hyperliquid mainnet needs a per-order cap in USD")


@hookimpl
def botmm_register_exchanges(register):
    register("hyperliquid", make_hyperliquid, HyperliquidParams)


@hookimpl
def botmm_venue_coin(venue: str, symbol: str) -> str | None:
    """The Hyperliquid coin ``symbol`` stands for without asking the exchange (``ETH-PERP`` -> ``ETH``)."""
    return candidates(symbol)[-1] if venue == "hyperliquid" else None


@hookimpl
def botmm_l2_recorder(venue: str) -> type | None:
    """The Hyperliquid L2 recorder (``l2Book`` and ``trades``) for ``botmm record``."""
    if venue != "hyperliquid":
        return None
    from .recorder import Recorder

    return Recorder
