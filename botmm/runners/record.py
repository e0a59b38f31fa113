"""``botmm record``: the L2 recorder of the exchange ``venue`` (its plugin's, ``botmm_l2_recorder``; the hourly
files are :mod:`botmm.data.recording`'s) as a Hydra job.

The assets are the job's ``asset`` (``botmm record asset=btc``) or a list of them (``botmm record
'asset=[eth,btc]'``): one websocket, one dataset folder per symbol under ``root``. Notifiers hear the job like any
other (``botmm_run_start``/``botmm_run_end`` with mode ``record``, ``botmm_event`` for connections, gaps and
finished files). SIGINT and SIGTERM stop it gracefully: every open hour is written before it exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from botmm.config import AssetConfig, parse_duration, to_params
from botmm.data.l2 import L2Meta
from botmm.data.recording import L2RecorderParams
from botmm.errors import ConfigError
from botmm.logs import set_default_symbol
from botmm.pipeline import Run
from botmm.registry import BuildContext, build, load_plugins
from botmm.runners.per_asset import asset_list, compose_for_asset
from botmm.status import open_server, serve_record

log = logging.getLogger("botmm.recorder")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def record(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Record until ``duration`` or a signal; the summary (also written to ``output_dir/result.json``)."""
    params, assets, notifier = check(cfg)
    pm = load_plugins()
    status = open_server(cfg, "botmm record " + "+".join(a.symbol for a in assets))
    metas = [L2Meta(a.symbol, a.tick_size, a.lot_size, params.venue) for a in assets]
    coins = venue_coins(params.venue, assets)
    run = Run(cfg, "record", "+".join(a.symbol for a in assets), output_dir)
    recorder = recorder_class(params.venue)(
        params, metas, coins, notify=lambda event, **data: pm.hook.botmm_event(run=run, event=event, data=data))
    run.extra.update(url=recorder.url, root=params.root, coins=coins)
    set_default_symbol(run.symbol)
    name = f"notifier:record:{id(run)}"
    pm.register(notifier, name=name)
    duration = parse_duration(params.duration, "duration") if params.duration is not None else None
    if status is not None:
        serve_record(status, recorder)
    try:
        pm.hook.botmm_run_start(run=run)
        asyncio.run(_main(recorder, duration))
    except BaseException as exc:
        pm.hook.botmm_error(run=run, error=exc)
        raise
    finally:
        result = recorder.result()
        if recorder.connected:  # a recorder that never connected recorded nothing: no result to leave behind
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
            pm.hook.botmm_run_end(run=run, result=result)
        pm.unregister(name=name)
        if status is not None:
            status.close()
    return result


def check(cfg: DictConfig) -> tuple[L2RecorderParams, list[AssetConfig], Any]:
    """Check the recorder's settings and asset(s) and build the notifier (no I/O); one-line ConfigErrors naming
    the key."""
    schema = params_schema(cfg)
    node = {f.name: cfg[f.name] for f in fields(schema) if f.name in cfg}
    try:
        params = to_params(schema, node, "record")
    except ConfigError as exc:
        raise ConfigError(str(exc).removeprefix("record.")) from None
    if params.duration is not None:
        parse_duration(params.duration, "duration")
    assets = asset_configs(cfg)
    venue_coins(params.venue, assets)
    return params, assets, build("notifier", cfg.notifier, BuildContext(cfg=cfg, asset=assets[0]))


def recorder_class(venue: str) -> Any:
    """The L2 recorder of ``venue``, asked of the exchange plugins (``botmm_l2_recorder``)."""
    found = load_plugins().hook.botmm_l2_recorder(venue=venue)
    if found is None:
        raise ConfigError(f"venue={venue}: no plugin records this exchange (botmm_l2_recorder); is its plugin "
                          "installed, or disabled (BOTMM_DISABLE_PLUGINS)?")
    return found


def params_schema(cfg: DictConfig) -> type[L2RecorderParams]:
    """The dataclass checking the root keys of ``cfg`` (a ``botmm record`` config): the ``venue``'s recorder's."""
    venue = cfg.get("venue", L2RecorderParams.venue)
    if not isinstance(venue, str) or not venue:
        raise ConfigError(f"venue={venue}: must name an exchange")
    return recorder_class(venue).Params


def venue_coins(venue: str, assets: list[AssetConfig]) -> list[str]:
    """The recorded venue's coin for each asset, asked of the exchange plugins (``botmm_venue_coin``)."""
    hook = load_plugins().hook
    coins = [hook.botmm_venue_coin(venue=venue, symbol=a.symbol) for a in assets]
    if None in coins:
        raise ConfigError(f"asset.symbol={assets[coins.index(None)].symbol}: no plugin names {venue} coins "
                          f"(botmm_venue_coin); is the {venue} plugin disabled (BOTMM_DISABLE_PLUGINS)?")
    return coins


def asset_configs(cfg: DictConfig) -> list[AssetConfig]:
    """The job's asset, or one per name of an ``asset=[a,b,...]`` override (each composed on its own, as Hydra
    merges a list of options into one node)."""
    names = asset_list()
    if len(names) <= 1:
        return [to_params(AssetConfig, cfg.asset, "asset")]
    return [to_params(AssetConfig, compose_for_asset(name).asset, f"asset={name}") for name in names]


async def _main(recorder: Any, duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = threading.current_thread() is threading.main_thread()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("%s received; writing the open files and stopping", sig.name)
        stop.set()

    if handled:
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
    if duration is not None:
        loop.call_later(duration, stop.set)
    try:
        await recorder.run(stop)
    finally:
        if handled:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)


def print_summary(result: dict[str, Any]) -> None:
    """A short summary of a recording on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"botmm record {result['symbol']}", show_header=False)
    for symbol, rows in result["rows"].items():
        table.add_row(f"rows {symbol}", f"{rows:,}")
    for key in ("snapshots", "trades", "gaps", "reconnects", "backfill_dropped", "late", "bad_messages"):
        table.add_row(key, f"{result[key]:,}")
    table.add_row("files", "\n".join(result["files"]) or "-")
    Console().print(table)
