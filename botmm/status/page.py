"""``/``: the status page, one self-contained HTML document (inline CSS and script, nothing external).

The server renders the whole page from the snapshot; the script re-fetches the rendered body (``/fragment``) every
:data:`REFRESH_MS` and swaps it in, so the page renders in one place (here) and stays readable without script.
Every value goes through :func:`html.escape`. Cells carry ``data-field`` names so tests (and scrapers) can find them.
"""

from __future__ import annotations

import html
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional

REFRESH_MS = 2000
PARTS = ("total", "realized", "unrealized", "fees", "funding")
CLOCK = "%H:%M:%S"  # fills and events: today's, mostly; the header says the date

STYLE = """
body{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.6em 1em;display:flex;justify-content:space-between;flex-wrap:wrap}
h1{font-size:1.1em;margin:0}h2{font-size:1.05em;margin:0 0 .4em}h3{font-size:.95em;margin:.8em 0 .3em}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30em),1fr));gap:1em;padding:1em}
section{background:#fff;border-radius:8px;padding:.8em 1em;box-shadow:0 1px 3px #0002;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
td,th{padding:.15em .4em;text-align:right;white-space:nowrap}td:first-child,th:first-child{text-align:left}
tr>th:first-child,td[data-field=detail]{white-space:normal;text-align:left}
tr:nth-child(even){background:#f7f8fa}.state{font-weight:600;padding:.1em .5em;border-radius:4px}
.safe{background:#d9f2df;color:#135c28}.position_limit{background:#fff1cc;color:#7a5200}
.circuit_break,.bad{background:#fbd9d9;color:#8a1414}.ok{background:#d9f2df;color:#135c28}
.neg{color:#b3261e}.muted{color:#6b7280}
"""

SCRIPT = """
const q = location.search;
setInterval(async () => {
  try {
    const r = await fetch('fragment' + q, {cache: 'no-store'});
    if (r.ok) document.querySelector('main').innerHTML = await r.text();
  } catch (e) {}
}, %d);
""" % REFRESH_MS


def _num(value: Optional[float], digits: int = 4) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _time(ms: Optional[int], form: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime(form)


def _cell(field: str, text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<td data-field="{field}"{cls}>{html.escape(text)}</td>'


def _row(label: str, *cells: str) -> str:
    return f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>"


def _signed(field: str, value: Optional[float], digits: int = 4) -> str:
    return _cell(field, _num(value, digits), "neg" if value is not None and value < 0 else "")


def _bps(ours: Optional[float], best: Optional[float]) -> str:
    if ours is None or not best:
        return "-"
    return f"{10_000.0 * (ours - best) / best:+.1f} bps"


def asset_section(a: dict[str, Any]) -> str:
    """One asset's card."""
    state = a["risk_state"]
    health = "ok" if a["fresh"] and a["orders_confirmed"] else "bad"
    budget = "-" if a["budget_limit"] is None else f"{a['budget_spent']} / {a['budget_limit']}"
    overview = "".join([
        _row("risk", f'<td data-field="risk_state"><span class="state {state}">{html.escape(state)}</span> '
                     f'{html.escape(a["risk_reason"])}</td>'),
        _row("data age", _cell("data_age", "-" if a["data_age_s"] is None else f"{a['data_age_s']:.1f}s "
                               f"(max {a['max_data_age_s']:g}s)", health)),
        _row("orders confirmed", _cell("orders_confirmed", "yes" if a["orders_confirmed"] else "no")),
        _row("position", _cell("position", f"{a['position']:.10g}")),
        _row("notional", _signed("notional", a["notional"], 2)),
        _row("avg entry", _cell("avg_entry", _num(a["avg_entry"]))),
        _row("dead man's switch armed until", _cell("armed_until", _time(a["armed_until_ms"]))),
        _row("request weight / min", _cell("budget", budget)),
        _row("fills", _cell("fills", str(a["fills"]))),
        _row("orders placed / modified / cancelled",
             _cell("orders", f"{a['orders_placed']} / {a['orders_modified']} / {a['orders_cancelled']}")),
        _row("venue errors", _cell("venue_errors", str(a["venue_errors"]))),
    ])
    pnl = a["pnl"]
    pnl_rows = "".join(_row(part, _signed(f"pnl_start_{part}", pnl["since_start"][part]),
                            _signed(f"pnl_today_{part}", pnl["today"][part])) for part in PARTS)
    quotes = "".join([
        _row("bid", _cell("our_bid", _num(a["our_bid"])), _cell("best_bid", _num(a["best_bid"])),
             _cell("bid_gap", _bps(a["our_bid"], a["best_bid"]))),
        _row("ask", _cell("our_ask", _num(a["our_ask"])), _cell("best_ask", _num(a["best_ask"])),
             _cell("ask_gap", _bps(a["our_ask"], a["best_ask"]))),
    ])
    orders = "".join(f'<tr data-oid="{o["oid"]}">' + _cell("side", o["side"]) + _cell("price", _num(o["price"]))
                     + _cell("size", format(o["size"], ".10g")) + _cell("filled", format(o["filled"], ".10g"))
                     + _cell("age", format(o["age_s"], ".0f") + "s") + "</tr>" for o in a["open_orders"])
    fills = "".join("<tr>" + _cell("ts", _time(f["ts"], CLOCK)) + _cell("side", f["side"])
                    + _cell("price", _num(f["price"])) + _cell("size", format(f["size"], ".10g"))
                    + _cell("fee", _num(f["fee"])) + _cell("maker", "maker" if f["maker"] else "taker") + "</tr>"
                    for f in a["last_fills"])
    events = "".join(f"<tr>{_cell('ts', _time(e['ts'], CLOCK))}{_cell('event', e['event'])}"
                     f"{_cell('detail', e['detail'])}</tr>" for e in a["events"])
    return (f'<section data-asset="{html.escape(a["symbol"])}"><h2>{html.escape(a["symbol"])} '
            f'<span class="muted">{html.escape(a["mode"])}</span></h2>'
            f"<table>{overview}</table>"
            f"<h3>PnL</h3><table><tr><th></th><th>since start</th><th>today (UTC)</th></tr>{pnl_rows}</table>"
            f"<h3>Quotes</h3><table><tr><th></th><th>ours</th><th>best</th><th>gap</th></tr>{quotes}</table>"
            f'<h3>Open orders ({len(a["open_orders"])})</h3><table data-table="open_orders"><tr><th>side</th>'
            f"<th>price</th><th>size</th><th>filled</th><th>age</th></tr>{orders}</table>"
            f"<h3>Last fills</h3><table><tr><th>UTC</th><th>side</th><th>price</th><th>size</th><th>fee</th>"
            f"<th></th></tr>{fills}</table>"
            f"<h3>Recent events</h3><table><tr><th>UTC</th><th>event</th><th>detail</th></tr>{events}</table>"
            "</section>")


def fragment(assets: list[dict[str, Any]], healthy: bool, reason: str,
             section: Callable[[dict[str, Any]], str] = asset_section) -> str:
    """The page's live part: a health line and one card per asset (``section`` renders one)."""
    css = "ok" if healthy else "bad"
    head = (f'<section style="grid-column:1/-1"><span class="state {css}" data-field="health">'
            f"{'healthy' if healthy else 'unhealthy'}</span> {html.escape(reason)} "
            f'<span class="muted">at {_time(int(time.time() * 1000))}</span></section>')
    return head + "".join(section(a) for a in assets)


def page(title: str, body: str) -> str:
    """The whole document around a rendered :func:`fragment`."""
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><span class=muted>refreshes every {REFRESH_MS // 1000}s</span>"
            f"</header><main>{body}</main><script>{SCRIPT}</script></body></html>")
