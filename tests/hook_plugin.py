"""A plugin that implements every hook, for tests/test_hooks.py: each registration hook registers a component named
``hooktest`` whose effect on a run is visible in its outputs, ``botmm_conf_packages`` ships a YAML preset, and the
lifecycle hooks record what they hear in :data:`HEARD`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pyarrow.parquet as pq

from botmm import BuildContext, Quote, QuoteInputs, QuoteLevel, QuoteParams, Side, hookimpl
from botmm.plugins.exchanges.sim import SimParams, make_sim
from botmm.plugins.feeds.synthetic import SyntheticFeedParams, make_synthetic
from botmm.plugins.fill_models.candle import make_candle
from botmm.sim.candle import CandleFillParams

HEARD: dict[str, list[Any]] = {"start": [], "end": [], "fill": [], "event": [], "error": [], "notifier": [],
                               "venues": [], "fill_models": []}
SIGNAL = 0.25
SIZE = 0.5
FEE = 0.001  # the hooktest fill model's maker fee, a fraction of notional (the exchange's own: 0.00015)


@dataclass
class WidthParams(QuoteParams):
    width_bps: float = 8.0
    fail_after: int = 0  # raise on this tick (0: never), to make a job end on an error


class WidthQuoter:
    """One bid and one ask ``width_bps`` from mid, the sizer decides the size."""

    def __init__(self, params: WidthParams):
        self.params, self.ticks = params, 0

    def quote(self, inputs: QuoteInputs) -> Quote:
        self.ticks += 1
        if self.ticks == self.params.fail_after:
            raise RuntimeError("hooktest quoter failed on purpose")
        half = inputs.mid * self.params.width_bps * 1e-4
        return Quote([QuoteLevel(Side.BUY, round(inputs.mid - half, 1), 0.01)],
                     [QuoteLevel(Side.SELL, round(inputs.mid + half, 1), 0.01)])


class ConstantSignal:
    def update(self, market: Any) -> float:
        return SIGNAL


class ConstantSizer:
    def size(self, quote: Quote, ctx: Any) -> Quote:
        return Quote([QuoteLevel(l.side, l.price, SIZE) for l in quote.bids],
                     [QuoteLevel(l.side, l.price, SIZE) for l in quote.asks])


class AnnouncingPolicy:
    """Passes the inputs through and sends one event when it is bound to its job."""

    def bind(self, strategy: Any) -> None:
        strategy.event("hooktest_bound", symbol=strategy.run.symbol)

    def adjust(self, inputs: QuoteInputs, state: Any) -> QuoteInputs:
        return inputs


class RecordingNotifier:
    """A notifier: lifecycle hooks as methods; it hears only the job that picked it."""

    @hookimpl
    def botmm_run_start(self, run: Any) -> None:
        HEARD["notifier"].append(("start", run.mode))

    @hookimpl
    def botmm_run_end(self, run: Any, result: dict[str, Any]) -> None:
        HEARD["notifier"].append(("end", result["fills"]))


def make_venue(params: SimParams, ctx: BuildContext) -> Any:
    venue = make_sim(params, ctx)
    HEARD["venues"].append(type(venue).__name__)
    return venue


@hookimpl
def botmm_register_quoters(register):
    register("hooktest", lambda params, ctx: WidthQuoter(params), WidthParams)


@hookimpl
def botmm_register_signals(register):
    register("hooktest", lambda params, ctx: ConstantSignal())


@hookimpl
def botmm_register_sizers(register):
    register("hooktest", lambda params, ctx: ConstantSizer())


@hookimpl
def botmm_register_exchanges(register):
    register("hooktest", make_venue, SimParams)


def make_fill_model(fill: CandleFillParams, ctx: BuildContext, exchange: SimParams) -> Any:
    """Fills against bars, charging :data:`FEE` on every maker fill whatever the exchange charges."""
    HEARD["fill_models"].append((fill.name, exchange.name))
    return make_candle(fill, ctx, SimParams(name=exchange.name, maker_fee=FEE))


@hookimpl
def botmm_register_fill_models(register):
    register("hooktest", make_fill_model, CandleFillParams)


@hookimpl
def botmm_register_notifiers(register):
    register("hooktest", lambda params, ctx: RecordingNotifier())


@hookimpl
def botmm_register_strategies(register):
    register("hooktest", lambda params, ctx: AnnouncingPolicy())


@hookimpl
def botmm_register_feeds(register):
    register("hooktest", make_synthetic, SyntheticFeedParams)


@click.command("hooktest-fills")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def count_fills(run_dir: str) -> None:
    """Print how many fills a run wrote."""
    click.echo(f"{pq.read_metadata(Path(run_dir) / 'fills.parquet').num_rows} fills")


@hookimpl
def botmm_register_commands(register):
    register(count_fills)


@hookimpl
def botmm_conf_packages():
    return [f"file://{Path(__file__).resolve().parent / 'hook_conf'}"]


@hookimpl
def botmm_run_start(run):
    HEARD["start"].append((run.mode, run.symbol))


@hookimpl
def botmm_run_end(run, result):
    HEARD["end"].append(result)


@hookimpl
def botmm_fill(run, fill):
    HEARD["fill"].append(fill)


@hookimpl
def botmm_event(run, event, data):
    HEARD["event"].append((event, data))


@hookimpl
def botmm_error(run, error):
    HEARD["error"].append(error)

