"""One job's figures on the console, each with what it is (``botmm backtest``, ``run``, ``replay`` print them)."""

from __future__ import annotations

from typing import Any

from botmm.core.metrics import MIN_DAYS

LABELS = {
    "status": "ok, or why the job did not end normally",
    "pnl": "equity change, quote units",
    "return_pct": "pnl, % of capital",
    "sharpe": f"daily returns on capital, annualised; n/a under {MIN_DAYS} days",
    "sortino": "as sharpe, downside deviation",
    "max_drawdown_pct": "largest fall, % of the peak before it",
    "profitable_days_pct": "% of UTC days with pnl > 0",
    "fills": "count",
    "volume": "traded notional, quote units",
    "fees": "net fees paid, quote units",
    "final_position": "base units",
    "orders_placed": "count",
    "calls_saved": "order calls not needed",
}
"""What each figure on the console is, printed beside it."""
BUDGET_LABELS = {
    "ip_peak_pct": "most request weight in 60 s, % of exchange.weight_budget",
    "ip_mean_pct": "time-weighted mean of the same",
    "ip_limit": "request weight per minute the process may spend",
    "address_requests": "actions sent against the address limit (a batch counts per order)",
    "address_left": "address requests left at the end",
    "rate_limited": "429s and address-limit refusals from the exchange",
}
"""A live run's rate-budget figures (``budget`` in result.json), printed as ``budget.<key>``."""
REACTION_LABELS = {
    "book_to_order_median_ms": "pushed book arrived -> first order or modify written, median",
    "book_to_order_p99_ms": "the same, 99th percentile",
    "books_answered": "books that led to an order or modify",
    "step_cpu_median_ms": "CPU time of a step that sent an order or modify, median",
    "step_cpu_p99_ms": "the same, 99th percentile",
}
"""How fast a live run reacted (``reaction`` in result.json), as ``reaction.<key>``; the book figures only on pushed
books."""


def print_result(result: dict[str, Any]) -> None:
    """A short summary of one job on the console; a job of several assets (``asset=[eth,btc]``) gets one column per
    asset and one for the whole account."""
    from rich.console import Console
    from rich.table import Table

    if "assets" in result:
        return _print_assets(result)
    table = Table(title=f"botmm {result['mode']} {result['symbol']}", show_header=False)
    for key, label in LABELS.items():
        table.add_row(key, cell(result.get(key)), label)
    for key, value in result.get("venue", {}).items():
        table.add_row(f"venue.{key}", cell(value), "")
    for key, value in result.get("budget", {}).items():
        table.add_row(f"budget.{key}", cell(value), BUDGET_LABELS.get(key, ""))
    for key, value in result.get("reaction", {}).items():
        table.add_row(f"reaction.{key}", cell(value), REACTION_LABELS.get(key, ""))
    Console().print(table)


def _print_assets(result: dict[str, Any]) -> None:
    """The figures of each asset of a multi-asset job beside the whole account's (``-`` where a total has no
    meaning: positions in different base units)."""
    from rich.console import Console
    from rich.table import Table

    assets = result["assets"]
    table = Table(title=f"botmm {result['mode']} {result['symbol']}",
                  caption="total: the assets' sums; return_pct on the whole capital; sharpe and max_drawdown_pct "
                          "the worst asset's")
    table.add_column("figure")
    for symbol in assets:
        table.add_column(symbol, justify="right")
    table.add_column("total", justify="right")
    table.add_column("")
    statuses = dict.fromkeys(str(a.get("status")) for a in assets.values())
    for key, label in LABELS.items():
        total = result.get(key, ", ".join(statuses) if key == "status" else None)
        table.add_row(key, *(cell(a.get(key)) for a in assets.values()),
                      "-" if isinstance(total, dict) else cell(total), label)
    for key, label in REACTION_LABELS.items():
        if any(key in a.get("reaction", {}) for a in assets.values()):
            table.add_row(f"reaction.{key}", *(cell(a.get("reaction", {}).get(key)) for a in assets.values()), "",
                          label)
    for key, value in result.get("budget", {}).items():  # one budget, shared by the process's assets
        table.add_row(f"budget.{key}", *("" for _ in assets), cell(value), BUDGET_LABELS.get(key, ""))
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(table)


def cell(value: Any) -> str:
    """A figure as the console shows it: "n/a" for a figure not defined on this run."""
    return "n/a" if value is None else f"{value:,.4f}" if isinstance(value, float) else str(value)
