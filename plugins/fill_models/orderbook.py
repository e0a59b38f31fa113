"""``fill_model=orderbook``: the L2 order-book replay (:mod:`botmm.sim.replay`), with queue position, order latency
and partial fills; ``fill_model.queue`` picks the queue model by name. The replay venue and its compiled kernel load
only when a job builds one."""

from __future__ import annotations

from typing import Any

from botmm import BuildContext, ConfigError, hookimpl
from botmm.data import L2Feed
from botmm.sim import OrderBookFillParams


def make_orderbook(fill: OrderBookFillParams, ctx: BuildContext, exchange: Any) -> Any:
    """The :class:`~botmm.sim.replay.ReplayVenue` over the job's L2 feed; a feed that is not one is refused before
    the replay's compiled kernel loads (about a second)."""
    if not isinstance(ctx.feed, L2Feed):
        raise ConfigError(f"feed={ctx.cfg.feed.name}: fill_model=orderbook needs an L2 feed (feed=synthetic_l2 or "
                          f"feed=l2_file)")
    from botmm.sim import replay_venue

    return replay_venue(fill, ctx, exchange)


@hookimpl
def botmm_register_fill_models(register):
    register("orderbook", make_orderbook, OrderBookFillParams)
