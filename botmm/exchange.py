"""The toolkit of live exchange plugins, public: an exchange plugin (the built-in Hyperliquid one) reports funding
payments, refuses key-shaped text where an address belongs, and provides the guardian process that cancels the bot's
orders when the bot stops beating (:mod:`botmm.runners.guardian`), and keeps durations (reaction times) in bounded
memory. Keys themselves load with :func:`botmm.load_key`."""

from botmm.core.durations import Durations
from botmm.runners.guardian import Canceller
from botmm.runners.guardian import serve as serve_guardian
from botmm.secrets import KEY_HELP, KEY_SHAPED, MASK
from botmm.sim.costs import FundingPayment

__all__ = ["Canceller", "Durations", "FundingPayment", "KEY_HELP", "KEY_SHAPED", "MASK", "serve_guardian"]
