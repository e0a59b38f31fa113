"""The operator's view of a running job: a status page, Prometheus metrics and a health check (see
``docs/operations.md``). :func:`open_server` checks ``server.*`` and binds; :func:`serve_run` or :func:`serve_record`
then hands the server the running job's state."""

from __future__ import annotations

from typing import Any

from botmm.registry import load_plugins

from .page import asset_section
from .recording import recorder_section
from .server import ServerParams, StatusServer, open_server
from .snapshot import EventLog, Snapshots, health, venue_view

__all__ = ["ServerParams", "StatusServer", "Snapshots", "EventLog", "health", "venue_view", "open_server",
           "serve_run", "serve_record"]


def serve_run(server: StatusServer, strategies: list[Any], last_step: dict[int, float]) -> None:
    """Serve started strategies (call before their first tick); ``last_step`` maps ``id(strategy)`` to the
    monotonic time its last step ended. Their events are kept from now on."""
    events = EventLog()
    name = f"status-events:{id(server)}"
    load_plugins().register(events, name=name)
    server.on_close.append(lambda: load_plugins().unregister(name=name))
    server.serve(Snapshots(strategies, events, last_step).assets, asset_section)


def serve_record(server: StatusServer, recorder: Any) -> None:
    """Serve a running L2 recorder (an exchange plugin's, ``botmm_l2_recorder``): its ``status()`` per symbol."""
    server.serve(recorder.status, recorder_section)
