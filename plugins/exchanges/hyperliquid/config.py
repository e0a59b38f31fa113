"""``exchange=hyperliquid`` params (presets: ``conf/exchange/hl_testnet.yaml``, ``conf/exchange/hl_mainnet.yaml``).

The key is never a config value: ``key_env`` names the environment variable holding it, or ``key_file`` a file
(see :mod:`botmm.secrets`). ``account_address`` is the account an agent (API) wallet trades for; unset, the key's
own address is the account.

Mainnet is recognised from the parsed host, normalised (case, trailing dot, port and userinfo do not matter;
``hyperliquid.xyz`` and its subdomains count), and ``base_url`` is then rewritten to the canonical
``https://api.hyperliquid.xyz``: the SDK signs with mainnet rules only for that exact string. A mainnet run also needs
``confirm_mainnet=true`` and explicit risk limits (see the factory in ``__init__.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlparse

from botmm import ComponentParams, InvalidValue, require
from botmm.exchange import KEY_HELP, KEY_SHAPED, MASK

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
MAINNET_DOMAIN = "hyperliquid.xyz"
WEIGHT_LIMIT = 1200  # request weight per minute per IP, reads and actions together
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_CLOID_PREFIX = re.compile(r"^[0-9a-f]{8}$")


@dataclass
class HyperliquidParams(ComponentParams):
    base_url: str = TESTNET_URL
    confirm_mainnet: bool = False  # the mainnet URL trades real money: refused unless this is true
    key_env: Optional[str] = "HL_PRIVATE_KEY"  # environment variable holding the private key
    key_file: Optional[str] = None  # or a file holding it (wins over key_env)
    account_address: Optional[str] = None  # the account an agent wallet trades for (None: the key's own account)
    timeout_s: float = 3.0  # HTTP timeout of every request (the SDK's default is none)
    weight_budget: int = 1000  # request weight per minute this process may spend, of the 1200 per IP
    account_poll_s: float = 1.0  # clearinghouseState (weight 2) at most this often: detects fills by position
    fills_poll_s: float = 10.0  # userFillsByTime (weight 20+) at least this often, and whenever the position moved
    resync_s: float = 30.0  # openOrders (weight 20): the local mirror of resting orders is checked this often
    dead_mans_switch_s: float = 60.0  # scheduleCancel this far ahead; the process re-arms it while it ticks
    heartbeat_s: float = 15.0  # how often the live runner re-arms the dead man's switch
    metadata_refresh_s: float = 3600.0  # how often the live runner reloads meta (szDecimals, listed coins)
    cancel_deadline_s: float = 4.0  # cancel-all retries and verifies for this long before reporting failure
    min_order_value: float = 10.0  # USD; the exchange refuses smaller orders
    max_batch: int = 20  # orders per batchModify call
    reconcile_s: float = 10.0  # how often the live runner compares position, orders and fills with the exchange
    cloid_prefix: str = "b0770000"  # 8 hex digits starting every client order id; two bots on one account differ
    websocket: bool = False  # book, fills, order states and funding pushed over the websocket (presets hl_*: true)
    ws_url: Optional[str] = None  # None: base_url's host as ws(s)://<host>/ws

    def __post_init__(self) -> None:
        parsed = urlparse(self.base_url)
        require(parsed.scheme in ("http", "https") and bool(parsed.hostname), self, "base_url",
                "must be an http(s) URL such as https://api.hyperliquid-testnet.xyz")
        if self.account_address is not None and KEY_SHAPED.search(self.account_address):
            raise InvalidValue("account_address", MASK, f"holds what looks like a private key, not an address; "
                               f"{KEY_HELP}")
        require(self.account_address is None or bool(_ADDRESS.match(self.account_address)), self, "account_address",
                "must be a 0x-prefixed 40-hex-digit address")
        require(self.timeout_s > 0, self, "timeout_s", "must be > 0")
        require(0 < self.weight_budget <= WEIGHT_LIMIT, self, "weight_budget", f"must be in (0, {WEIGHT_LIMIT}]")
        require(self.account_poll_s >= 0, self, "account_poll_s", "must be >= 0")
        require(self.fills_poll_s > 0, self, "fills_poll_s", "must be > 0")
        require(self.resync_s > 0, self, "resync_s", "must be > 0")
        require(self.dead_mans_switch_s >= 10, self, "dead_mans_switch_s",
                "must be >= 10 (the exchange wants at least 5 s ahead, plus the request's own latency)")
        require(0 < self.heartbeat_s < self.dead_mans_switch_s, self, "heartbeat_s",
                "must be > 0 and below dead_mans_switch_s")
        require(self.metadata_refresh_s > 0, self, "metadata_refresh_s", "must be > 0")
        require(self.cancel_deadline_s > 0, self, "cancel_deadline_s", "must be > 0")
        require(self.min_order_value >= 0, self, "min_order_value", "must be >= 0")
        require(1 <= self.max_batch <= 20, self, "max_batch", "must be in [1, 20]")
        require(self.reconcile_s > 0, self, "reconcile_s", "must be > 0")
        require(bool(_CLOID_PREFIX.match(str(self.cloid_prefix))), self, "cloid_prefix",
                "must be exactly 8 lowercase hex digits, e.g. b0770000")
        require(self.ws_url is None or str(self.ws_url).startswith(("ws://", "wss://")), self, "ws_url",
                "must be a ws:// or wss:// URL, or null for base_url's websocket")
        self.base_url = MAINNET_URL if is_mainnet_host(parsed.hostname) else self.base_url.rstrip("/")
        if self.ws_url is None:
            self.ws_url = websocket_url(self.base_url)

    @property
    def is_mainnet(self) -> bool:
        """Whether ``base_url`` is Hyperliquid's mainnet (signatures then use mainnet rules)."""
        return self.base_url == MAINNET_URL


def websocket_url(base_url: str) -> str:
    """The websocket next to the HTTP API: ``https://api.hyperliquid.xyz`` -> ``wss://api.hyperliquid.xyz/ws``."""
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/ws"


def is_mainnet_host(host: Optional[str]) -> bool:
    """Whether ``host`` (as ``urlparse`` gives it: lower case, no port or userinfo) is in Hyperliquid mainnet's
    domain once normalised as the HTTP client resolves it: percent-escapes decoded, IDNA-mapped (a full-width dot is a
    dot), DNS's optional trailing dot dropped."""
    name = unquote(host or "")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # not a valid domain name: the client cannot resolve it either
    name = name.lower().rstrip(".")
    return name == MAINNET_DOMAIN or name.endswith(f".{MAINNET_DOMAIN}")
