"""``quoter=demo`` and ``botmm demo-hello``: an example third-party botmm plugin (the walk-through in botmm's
``docs/plugins.md``).

A symmetric quoter around mid, shifted by a fixed skew::

    center = mid * (1 + skew_bps / 1e4)
    half   = spread_bps / 2 / 1e4 * mid * spread_mult
    bid_k  = center - (k + 1) * half                             # level k = 0 .. num_levels - 1
    ask_k  = center + (k + 1) * half

Bids round down and asks up to the tick; sizes are ``order_size_usd * size_mult / price`` rounded down to the lot.
``spread_mult`` and ``size_mult`` come from the strategy policy, as for every quoter. It ignores volatility,
inventory and signals (so it has no inventory skew for ``skew_mult`` to scale): it exists to show the plugin API,
not to make money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import click

from botmm import (BuildContext, Quote, QuoteInputs, QuoteLevel, QuoteParams, Side, hookimpl, require, round_ask,
                   round_bid, round_lot)


@dataclass
class DemoParams(QuoteParams):
    """The shared quoter knobs plus ``skew_bps``, a fixed shift of both quotes in bps of mid (positive = up)."""

    skew_bps: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(abs(self.skew_bps) < self.spread_bps / 2, self, "skew_bps",
                "must be within (-spread_bps/2, spread_bps/2)")


class DemoQuoter:
    """``num_levels`` bids and asks, ``spread_bps / 2`` apart, around a skewed mid."""

    def __init__(self, params: DemoParams, tick: float, lot: float):
        self.params, self.tick, self.lot = params, tick, lot

    def quote(self, inputs: QuoteInputs) -> Quote:
        p, mid = self.params, inputs.mid
        center = mid * (1 + p.skew_bps * 1e-4)
        half = p.spread_bps * 0.5e-4 * mid * inputs.spread_mult
        notional = p.order_size_usd * inputs.size_mult
        bids, asks = [], []
        for k in range(1, p.num_levels + 1):
            bid = round_bid(center - k * half, self.tick)
            ask = round_ask(center + k * half, self.tick)
            if bid > 0:
                bids.append(QuoteLevel(Side.BUY, bid, round_lot(notional / bid, self.lot)))
            asks.append(QuoteLevel(Side.SELL, ask, round_lot(notional / ask, self.lot)))
        return Quote(bids, asks)


def make_demo(params: DemoParams, ctx: BuildContext) -> DemoQuoter:
    """The factory botmm calls once per job with the checked params."""
    return DemoQuoter(params, ctx.asset.tick_size, ctx.asset.lot_size)


@hookimpl
def botmm_register_quoters(register: Callable[..., None]) -> None:
    """Register ``quoter=demo``; its schema lands in Hydra's ConfigStore as ``quoter/demo``."""
    register("demo", make_demo, DemoParams)


@click.command("demo-hello")
@click.option("--mid", type=float, default=3000.0, show_default=True, help="The mid price to quote around.")
@click.option("--spread-bps", type=float, default=10.0, show_default=True, help="The full spread, in bps of mid.")
@click.option("--skew-bps", type=float, default=0.0, show_default=True, help="The shift of both quotes, in bps.")
@click.option("--tick", type=float, default=0.1, show_default=True, help="The price step quotes are rounded to.")
def demo_hello(mid: float, spread_bps: float, skew_bps: float, tick: float) -> None:
    """Say hello and print the demo quoter's bid and ask around MID: a subcommand a plugin adds to botmm."""
    try:
        params = DemoParams(name="demo", spread_bps=spread_bps, skew_bps=skew_bps)
    except ValueError as exc:  # the params' own check, as in a job: one line
        raise click.UsageError(str(exc)) from None
    quote = DemoQuoter(params, tick, 1e-4).quote(QuoteInputs(mid=mid))
    click.echo(f"hello from botmm-demo-plugin: quoter=demo quotes bid {quote.bids[0].price:g} ask "
               f"{quote.asks[0].price:g} around {mid:g}")


@hookimpl
def botmm_register_commands(register: Callable[[click.Command], None]) -> None:
    """Add ``botmm demo-hello``."""
    register(demo_hello)


@hookimpl
def botmm_conf_packages() -> list[str]:
    """Ship the YAML presets under ``botmm_demo/conf`` (``quoter=demo_wide``)."""
    return ["pkg://botmm_demo.conf"]
