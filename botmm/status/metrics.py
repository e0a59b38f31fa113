"""``/metrics``: the snapshot in Prometheus' text format, labelled by asset.

Gauges and counters are collected when Prometheus scrapes (a custom collector over :class:`Snapshots`), so the
tick never updates a metric. The one exception is the step latency histogram, observed by the live runner after
each step (one call per tick, on the live path only).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

GAUGES = {  # name: (help, snapshot key)
    "botmm_position": ("Position, signed base units", "position"),
    "botmm_position_notional_usd": ("Position times mid, quote units", "notional"),
    "botmm_data_age_seconds": ("Age of the newest market data", "data_age_s"),
    "botmm_open_orders": ("Orders resting on the venue", None),
    "botmm_orders_confirmed": ("1 when the venue's order mirror is confirmed by the exchange", "orders_confirmed"),
    "botmm_budget_spent": ("Request weight spent over the last minute", "budget_spent"),
    "botmm_budget_limit": ("Request weight the bot may spend per minute", "budget_limit"),
    "botmm_dead_mans_switch_armed_until_seconds": ("When the exchange-side cancel fires, Unix time",
                                                  "armed_until_ms"),
}
COUNTERS = {  # name (without _total): (help, snapshot key)
    "botmm_fills": ("Fills of the run", "fills"),
    "botmm_orders_placed": ("Orders placed", "orders_placed"),
    "botmm_orders_modified": ("Orders modified", "orders_modified"),
    "botmm_orders_cancelled": ("Orders cancelled", "orders_cancelled"),
    "botmm_venue_errors": ("Venue errors", "venue_errors"),
    "botmm_recorded_rows": ("L2 rows recorded (botmm record)", "rows"),
    "botmm_recorder_gaps": ("Gaps in the recording (botmm record)", "gaps"),
}
RISK_STATES = ("safe", "position_limit", "circuit_break")
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class SnapshotCollector:
    """Turns the assets' snapshots into metric families at each scrape."""

    def __init__(self, assets: Callable[[], list[dict[str, Any]]]):
        self.assets = assets

    def describe(self) -> list[Metric]:
        return []  # collected on demand: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        assets = self.assets()
        for name, (doc, key) in GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["asset"])
            for asset in assets:
                value = len(asset["open_orders"]) if key is None and "open_orders" in asset else asset.get(key)
                if key == "armed_until_ms" and value is not None:
                    value = value / 1000.0
                if value is not None:
                    family.add_metric([asset["symbol"]], float(value))
            yield family
        pnl = GaugeMetricFamily("botmm_pnl_usd", "PnL by part and period, quote units",
                                labels=["asset", "period", "part"])
        risk = GaugeMetricFamily("botmm_risk_state", "1 for the asset's current risk state", labels=["asset", "state"])
        for asset in assets:
            for period, parts in asset.get("pnl", {}).items():
                for part, value in parts.items():
                    pnl.add_metric([asset["symbol"], period, part], value)
            for state in RISK_STATES if "risk_state" in asset else ():
                risk.add_metric([asset["symbol"], state], float(asset["risk_state"] == state))
        yield pnl
        yield risk
        for name, (doc, key) in COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=["asset"])
            for asset in assets:
                if key in asset:
                    family.add_metric([asset["symbol"]], asset[key])
            yield family


class Metrics:
    """The server's own registry: the snapshot collector and the step latency histogram."""

    def __init__(self, assets: Callable[[], list[dict[str, Any]]]):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(assets))
        self.step_seconds = Histogram("botmm_step_seconds", "Wall time of one Pipeline.step, including the hand-off "
                                      "to its worker thread", ["asset"], buckets=STEP_BUCKETS,
                                      registry=self.registry)

    def observe_step(self, symbol: str, seconds: float) -> None:
        self.step_seconds.labels(symbol).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
