"""``fill_model=orderbook``: the L2 order-book replay (:mod:`botmm.sim.replay`), with queue position, order latency
and partial fills; ``fill_model.queue`` picks the queue model by name. The replay venue and its compiled kernel load
only when a job builds one."""

from __future__ import annotations

from typing import Any

from botmm import BuildContext, hookimpl
from botmm.sim import OrderBookFillParams


def make_orderbook(fill: OrderBookFillParams, ctx: BuildContext, exchange: Any) -> Any:
    """The :class:`~botmm.sim.replay.ReplayVenue` over the job's L2 feed."""
    from botmm.sim import replay_venue

    return replay_venue(fill, ctx, exchange)


@hookimpl
def botmm_register_fill_models(register):
    register("orderbook", make_orderbook, OrderBookFillParams)
