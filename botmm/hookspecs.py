"""Every hook botmm calls. These docstrings are the reference documentation of the plugin API: the "Hooks" section
of docs/plugins.md is generated from them (``python -m botmm.hookdocs docs/plugins.md``; a test fails when it is
stale; see :mod:`botmm.hookdocs`), and a test fails when a hook has no ``test_hook_<name>`` test.

Registration hooks run once per process, when :func:`botmm.registry.load_plugins` first runs. Lifecycle hooks run on
rare events of a job (start, end, fills, errors), never once per tick: the pipeline calls its components directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from botmm.model import Fill
    from botmm.pipeline import Run

hookspec = pluggy.HookspecMarker("botmm")

Register = Callable[..., None]
"""``register(name, factory, schema=Dataclass)``: see :meth:`botmm.registry.Registry.register`."""


@hookspec
def botmm_register_quoters(register: Register) -> None:
    """Register quoters: components with ``quote(inputs: QuoteInputs) -> Quote``.

    Called once per process by ``load_plugins()``. Call ``register(name, factory, schema=Params)``. ``Params`` is a
    dataclass that subclasses :class:`botmm.config.QuoteParams`, so per-asset overrides and sweeps of the shared knobs
    work with every quoter. ``factory(params, ctx)`` receives an instance of ``Params`` and a
    :class:`botmm.registry.BuildContext`. Returns nothing.
    """


@hookspec
def botmm_register_signals(register: Register) -> None:
    """Register signals: components with ``update(market: Market) -> float``, fed once per tick.

    Called once per process by ``load_plugins()``; ``register`` as for quoters. A signal that also needs the account's
    fills (toxicity) defines ``on_fill(fill)``. The config key ``signals.<slot>`` picks one per slot (``volatility``,
    ...). Returns nothing.
    """


@hookspec
def botmm_register_sizers(register: Register) -> None:
    """Register sizers: components with ``size(quote: Quote, ctx: SizeContext) -> Quote`` that set level sizes.

    Called once per process by ``load_plugins()``; ``register`` as for quoters. Returns nothing.
    """


@hookspec
def botmm_register_exchanges(register: Register) -> None:
    """Register exchanges (venues) implementing :class:`botmm.protocols.Venue`: where orders go and fills come from.

    Called once per process by ``load_plugins()``. A venue for backtests implements
    :class:`botmm.protocols.SimulatedVenue` (its own clock, ``fill_stats``); one for ``botmm run`` implements
    :class:`botmm.protocols.LiveVenue` (reconciliation, dead man's switch, halt, guardian, state key; see
    docs/live.md); both carry a ``funding`` ledger (empty when the venue has no funding), and
    tests/test_venue_conformance.py is the contract every venue passes. The factory receives the exchange params and
    a ``BuildContext`` whose ``feed`` is the job's market data. Factories of every kind must do no I/O (the CLI
    builds all components to check a config before a job starts); a venue connects in ``connect()``. Returns
    nothing.
    """


@hookspec
def botmm_register_fill_models(register: Register) -> None:
    """Register fill models: how ``exchange=sim`` fills orders, picked by ``fill_model=<name>`` (built in: ``candle``,
    fills against bars; ``orderbook``, the L2 order-book replay with queue models chosen by name,
    ``fill_model.queue=risk_averse|prob``).

    Called once per process by ``load_plugins()``; ``register(name, factory, schema=Params)`` with ``Params`` a
    subclass of :class:`botmm.config.ComponentParams`. ``factory(params, ctx, exchange)`` receives the checked
    ``fill_model`` params, the ``BuildContext`` (``ctx.feed`` is the job's market data, ``ctx.asset`` the asset) and
    the sim exchange's params (``exchange.costs()``: fees and funding), and returns the venue: a
    :class:`botmm.protocols.SimulatedVenue`. As for every factory, no I/O. Returns nothing.
    """


@hookspec
def botmm_register_notifiers(register: Register) -> None:
    """Register notifiers. A notifier is an object with ``@hookimpl`` methods for the lifecycle hooks below
    (``botmm_run_start``, ``botmm_fill``, ``botmm_event``, ``botmm_error``, ``botmm_run_end``); botmm registers the one
    the config picks with the plugin manager for the duration of a job, and it hears only that job's calls. Called once
    per process by ``load_plugins()``.

    Returns nothing.
    """


@hookspec
def botmm_register_strategies(register: Register) -> None:
    """Register strategies (:class:`botmm.protocols.StrategyPolicy`), called once per process by ``load_plugins()``:
    ``bind(strategy)`` once before the first tick, then ``adjust(inputs: QuoteInputs, state: TickState) -> QuoteInputs``
    every tick, the policy that shapes the quoter's inputs (regimes, multipliers, hot-reloaded params, ...). Returns
    nothing.
    """


@hookspec
def botmm_register_feeds(register: Register) -> None:
    """Register feeds: components implementing :class:`botmm.protocols.Feed` (``batches() -> Iterator[Candles]``),
    sources of market data in time-ordered batches. Called once per process by ``load_plugins()``.

    Returns nothing.
    """


@hookspec
def botmm_register_commands(register: Register) -> None:
    """Add subcommands to ``botmm``: ``register(command)`` with a :class:`click.Command`, run as ``botmm <name>``
    (``botmm train`` is the ``ml`` plugin's). A command that runs a job from a Hydra config as ``botmm backtest`` does
    (overrides, ``-m`` sweeps, every value checked in one line before anything starts) is made by
    ``botmm.cli.job_command(name, help, run, show)``: the config is ``<name>.yaml`` on botmm's config search path,
    ``run(cfg, output_dir) -> dict`` runs the job and ``show(result)`` prints it.

    Called once per process by ``load_plugins()``, which ``botmm`` runs only when a command is not one of its own or
    the list is wanted (``botmm --help``). A name already taken is refused in one line. Returns nothing.
    """


@hookspec
def botmm_conf_packages() -> list[str]:
    """Return Hydra config search-path entries (for example ``["pkg://botmm_foo.conf"]``) holding YAML presets the
    plugin ships, such as ``quoter/foo_wide.yaml``. Called when plugins load (to learn which YAML presets exist) and by
    the CLI before composing a config. Each plugin's list is appended after botmm's own config tree.
    """


@hookspec(firstresult=True)
def botmm_venue_coin(venue: str, symbol: str) -> str | None:
    """Return the name the exchange ``venue`` gives the user's ``symbol`` (Hyperliquid: ``ETH-PERP`` -> ``ETH``), or
    None when the plugin does not serve ``venue``. The first answer wins. ``botmm record`` asks it for the coins it
    subscribes to, so the recorder never imports an exchange plugin.
    """


@hookspec(firstresult=True)
def botmm_l2_recorder(venue: str) -> type | None:
    """Return the L2 recorder of the exchange ``venue`` (``botmm record venue=...``), or None when the plugin does not
    serve ``venue``. The first answer wins; ``botmm record`` asks it, so core code never imports an exchange plugin.

    The recorder is a class with ``Params``, the dataclass of its settings (the root keys of ``conf/record.yaml``, a
    subclass of :class:`botmm.data.L2RecorderParams`, which ``botmm record --help`` documents), built as
    ``cls(params, metas, coins, notify)``: ``metas`` the :class:`botmm.data.L2Meta` of each recorded symbol,
    ``coins`` their names on the venue (``botmm_venue_coin``), ``notify(event, **data)`` told of ``recorder_*``
    events. It writes through one :class:`botmm.data.HourlyStore` per symbol and has ``await run(stop)`` (record
    until the ``asyncio.Event`` is set, every open hour written), ``result()`` (the summary for ``result.json``),
    ``status()`` (the status page's dict per symbol), ``connected`` (a connection was ever made) and ``url``.
    """


@hookspec
def botmm_run_start(run: Run) -> None:
    """Called once when a job starts, after every component is built and the venue is connected, before the first tick.

    ``run`` exposes ``cfg`` (the composed config), ``mode``, ``symbol``, ``output_dir`` and ``extra`` (a dict of
    mode-specific details). ``mode`` is one of

    - ``run``: ``botmm run``, live on an exchange or paper trading (``exchange=paper``), once per asset;
    - ``backtest``: ``botmm backtest``, each job of a sweep (``-m``), and each backtest ``botmm supervise`` (one per
      asset) and ``botmm reoptimize`` (the incumbent's) run, as these two announce no job of their own;
    - ``replay``: ``botmm replay`` (``fill_model=orderbook``);
    - ``record``: ``botmm record`` (no pipeline: the L2 recorder; no fills);
    - ``train``: ``botmm train``, the backtest that generates training data.

    A plugin command (``botmm_register_commands``) that runs the pipeline uses one of these. Returns nothing.
    """


@hookspec
def botmm_run_end(run: Run, result: dict[str, Any]) -> None:
    """Called once when a job ends (normally, on Ctrl-C, or after an error), after its orders are cancelled and its
    outputs written.

    ``run`` is the object ``botmm_run_start`` saw; ``result`` is the dict written to ``result.json`` (pnl, sharpe,
    max_drawdown, fills, ...). Returns nothing.
    """


@hookspec
def botmm_fill(run: Run, fill: Fill) -> None:
    """Called for every fill of the job ``run``, after the inventory has recorded it.

    ``fill`` is a :class:`botmm.model.Fill` (``ts``, ``oid``, ``side``, ``price``, ``size``, ``fee``, ``maker``,
    ``tid``). Returns nothing.
    """


@hookspec
def botmm_event(run: Run, event: str, data: dict[str, Any]) -> None:
    """Called on a rare event that a notifier may report: ``event`` names it (for example ``circuit_break``,
    ``risk_state``, ``params_reloaded``, ``regime``) and ``data`` carries its figures. Returns nothing.
    """


@hookspec
def botmm_error(run: Run, error: BaseException) -> None:
    """Called when the job ``run`` stops on an error (Ctrl-C included), before it ends (``botmm_run_end`` follows).
    ``error`` is the exception. Returns nothing.
    """

