"""The simulation engines, public for plugins: a simulated exchange or fill-model plugin builds its venue from these
(the built-in ``exchange=sim``, ``fill_model=candle`` and ``fill_model=orderbook`` do). Each name loads its module on
first use, so importing a plugin does not compile the replay kernel."""

from botmm.lazy import lazy_exports

_WHERE = {  # name -> the module defining it
    "CandleFillParams": "botmm.sim.candle_params",
    "CandleVenue": "botmm.sim.candle",
    "Costs": "botmm.sim.costs",
    "OrderBookFillParams": "botmm.sim.orderbook_fill",
    "replay_venue": "botmm.sim.replay",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
