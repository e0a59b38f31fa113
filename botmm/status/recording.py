"""The status server's view of ``botmm record``: per symbol, how fresh the recorded data is and what was written."""

from __future__ import annotations

import html
from typing import Any


def recorder_section(a: dict[str, Any]) -> str:
    """One recorded symbol's card."""
    age = "-" if a["data_age_s"] is None else f"{a['data_age_s']:.1f}s (max {a['max_data_age_s']:g}s)"
    rows = [("data age", "data_age", age), *((key.replace("_", " "), key, f"{a[key]:,}") for key in
                                              ("rows", "snapshots", "trades", "gaps", "reconnects", "bad_messages"))]
    cells = "".join(f'<tr><th>{label}</th><td data-field="{field}">{html.escape(text)}</td></tr>'
                    for label, field, text in rows)
    return (f'<section data-asset="{html.escape(a["symbol"])}"><h2>{html.escape(a["symbol"])} '
            f'<span class="muted">record</span></h2><table>{cells}</table></section>')
