"""The status server's view of ``botmm record``: per symbol, how fresh the recorded data is and what was written."""

from __future__ import annotations

import html
import time
from typing import Any


class RecorderSnapshots:
    """Per-symbol snapshot dicts of a running :class:`botmm.data.recorder.Recorder` (read once per request)."""

    def __init__(self, recorder: Any):
        self.recorder = recorder

    def assets(self) -> list[dict[str, Any]]:
        rec, now_ns = self.recorder, time.time_ns()
        limit = float(rec.params.stale_seconds)
        found = []
        for coin, feed in rec.feeds.items():
            age = None if feed.last is None else max(0.0, (now_ns - feed.last[1]) / 1e9)
            found.append({"symbol": feed.meta.symbol, "mode": "record", "data_age_s": age, "max_data_age_s": limit,
                          "fresh": age is not None and age <= limit, "orders_confirmed": True,
                          "rows": rec.stores[coin].rows, "gaps": feed.counts["gaps"],
                          "snapshots": feed.counts["snapshots"], "trades": feed.counts["trades"],
                          "reconnects": rec.stream.reconnects, "bad_messages": rec.stream.bad_messages})
        return found


def recorder_section(a: dict[str, Any]) -> str:
    """One recorded symbol's card."""
    age = "-" if a["data_age_s"] is None else f"{a['data_age_s']:.1f}s (max {a['max_data_age_s']:g}s)"
    rows = [("data age", "data_age", age), *((key.replace("_", " "), key, f"{a[key]:,}") for key in
                                              ("rows", "snapshots", "trades", "gaps", "reconnects", "bad_messages"))]
    cells = "".join(f'<tr><th>{label}</th><td data-field="{field}">{html.escape(text)}</td></tr>'
                    for label, field, text in rows)
    return (f'<section data-asset="{html.escape(a["symbol"])}"><h2>{html.escape(a["symbol"])} '
            f'<span class="muted">record</span></h2><table>{cells}</table></section>')
