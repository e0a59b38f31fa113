"""``botmm report``: one self-contained HTML file (plots embedded as PNG data, styles inline) for a run or a sweep.

* **A run** (a job's output dir: ``result.json``, ``equity.parquet``, ``fills.parquet``): its figures (with the
  in-sample and out-of-sample parts when ``backtest.split`` was set), equity and drawdown, inventory over time,
  fills on the price, the quoted spread over time and PnL by UTC hour of day.
* **A sweep** (a multirun dir: numbered job dirs with ``.hydra/overrides.yaml``): the jobs ranked by the composite
  score of :mod:`botmm.runners.score` (out-of-sample when split), a heatmap of the score over the two swept
  parameters with the most values (a bar chart when one parameter was swept; the best score where other swept
  parameters vary), and the equity curves of the jobs side by side.

Plots use matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from botmm.errors import DataError
from botmm.report.style import page

_MAX_POINTS = 4000  # points per line: a month of 1-minute bars is drawn from its min/max envelope
_MAX_FILLS = 5000  # fill markers drawn (an even sample beyond this)
_CURVES = 12  # equity curves drawn in a sweep report (the best ranked)
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


def report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run or sweep at ``path`` to ``out`` (default ``<path>/report.html``); its path."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; botmm report takes a run or multirun output dir or a .md file")
    if (path / "result.json").is_file() and (path / "equity.parquet").is_file():
        title, body = _run_report(path)
    elif any(path.glob("*/.hydra/overrides.yaml")):
        title, body = _sweep_report(path)
    else:
        raise DataError(f"{path}: neither a run (result.json, equity.parquet) nor a multirun (numbered job dirs)")
    target = Path(out) if out is not None else path / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page(title, body, f"botmm report of {path.name}, {_now()}"), encoding="utf-8")
    return target


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(fig: Any, alt: str) -> str:
    """A matplotlib figure as an embedded PNG ``<figure>`` with a caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    _pyplot().close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _dates(ms: np.ndarray) -> np.ndarray:
    return ms.astype("datetime64[ms]")


def _envelope(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """At most about ``_MAX_POINTS`` points: per bucket the first, min and max, so spikes survive thinning."""
    n = len(x)
    if n <= _MAX_POINTS:
        return (x, *ys)
    bucket = int(np.ceil(n / (_MAX_POINTS / 3)))
    keep = set(range(0, n, bucket))
    for y in ys:
        finite = np.where(np.isfinite(y), y, np.nan)
        for start in range(0, n, bucket):
            chunk = finite[start:start + bucket]
            if np.isfinite(chunk).any():
                keep.add(start + int(np.nanargmin(chunk)))
                keep.add(start + int(np.nanargmax(chunk)))
    idx = np.fromiter(sorted(keep), dtype=np.int64)
    return (x[idx], *(y[idx] for y in ys))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_td(row.get(c)) for c in columns) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _td(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="n">{_cell(value)}</td>' if numeric else f"<td>{html.escape(_cell(value))}</td>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


# -- one run ---------------------------------------------------------------------------------------------------
def _read_run(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    import pyarrow.parquet as pq

    result = json.loads((path / "result.json").read_text())
    table = pq.read_table(path / "equity.parquet")
    ticks = {"ms": table.column("ts").cast("int64").to_numpy()}
    ticks.update({c: table.column(c).to_numpy().astype(float) for c in table.column_names if c != "ts"})
    fills: dict[str, np.ndarray] = {"ms": np.zeros(0, np.int64), "side": np.zeros(0), "price": np.zeros(0)}
    if (path / "fills.parquet").is_file():
        ft = pq.read_table(path / "fills.parquet")
        fills = {"ms": ft.column("ts").cast("int64").to_numpy(), "side": ft.column("side").to_numpy().astype(float),
                 "price": ft.column("price").to_numpy().astype(float)}
    return result, ticks, fills


def _run_report(path: Path) -> tuple[str, str]:
    result, ticks, fills = _read_run(path)
    title = f"{result.get('mode', 'run')} {result.get('symbol', '')}: {path.name}"
    parts = [f"<h1>{html.escape(title)}</h1>", _figures_table(result)]
    if len(ticks["ms"]) == 0:
        parts.append("<p>The run recorded no tick.</p>")
        return title, "\n".join(parts)
    split = result.get("split_ms")
    parts += [_equity_plot(ticks, split), _inventory_plot(ticks), _fills_plot(ticks, fills), _spread_plot(ticks),
              _hourly_plot(ticks)]
    return title, "\n".join(parts)


def _figures_table(result: dict[str, Any]) -> str:
    keys = [k for k, v in result.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    parts = [k for k in ("in_sample", "out_of_sample") if isinstance(result.get(k), dict)]
    rows = [{"figure": k, "whole run": result[k], **{p.replace("_", "-"): result[p].get(k) for p in parts}}
            for k in keys]
    return "<h2>Figures</h2>" + _table(rows, ["figure", "whole run", *(p.replace("_", "-") for p in parts)])


def _equity_plot(ticks: dict[str, np.ndarray], split: int | None) -> str:
    plt = _pyplot()
    ms, equity = ticks["ms"], ticks["equity"]
    peak = np.maximum.accumulate(equity)
    drawdown = 100.0 * (equity - peak) / np.where(peak > 0, peak, 1.0)
    x, eq, dd = _envelope(ms, equity, drawdown)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, height_ratios=[2, 1])
    top.plot(_dates(x), eq, color="#1f5fa8", lw=1)
    top.set_ylabel("equity")
    bottom.fill_between(_dates(x), dd, 0, color="#c0392b", alpha=0.5, lw=0)
    bottom.set_ylabel("drawdown %")
    if split is not None:
        for ax in (top, bottom):
            ax.axvline(np.datetime64(int(split), "ms"), color="#555", ls="--", lw=1)
        top.annotate("out of sample", (np.datetime64(int(split), "ms"), float(np.nanmax(eq))), fontsize=8,
                     xytext=(4, -10), textcoords="offset points")
    fig.autofmt_xdate()
    return "<h2>Equity and drawdown</h2>" + _figure(fig, "equity (top) and drawdown from the running peak (bottom)")


def _inventory_plot(ticks: dict[str, np.ndarray]) -> str:
    plt = _pyplot()
    x, notional = _envelope(ticks["ms"], ticks["position"] * ticks["mid"])
    fig, ax = plt.subplots(figsize=(11, 3))
    ax.fill_between(_dates(x), notional, 0, where=notional >= 0, color="#27ae60", alpha=0.5, lw=0)
    ax.fill_between(_dates(x), notional, 0, where=notional < 0, color="#c0392b", alpha=0.5, lw=0)
    ax.axhline(0, color="#333", lw=0.6)
    ax.set_ylabel("position notional")
    fig.autofmt_xdate()
    return "<h2>Inventory</h2>" + _figure(fig, "position times mid over time (long green, short red)")


def _fills_plot(ticks: dict[str, np.ndarray], fills: dict[str, np.ndarray]) -> str:
    plt = _pyplot()
    x, mid = _envelope(ticks["ms"], ticks["mid"])
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(_dates(x), mid, color="#555", lw=0.8, label="mid")
    n = len(fills["ms"])
    pick = np.linspace(0, n - 1, _MAX_FILLS).astype(np.int64) if n > _MAX_FILLS else np.arange(n)
    for side, color, marker, label in ((1, "#27ae60", "^", "buy fills"), (-1, "#c0392b", "v", "sell fills")):
        chosen = pick[fills["side"][pick] == side]
        ax.scatter(_dates(fills["ms"][chosen]), fills["price"][chosen], s=12, color=color, marker=marker, label=label,
                   zorder=3)
    ax.set_ylabel("price")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    shown = f"{len(pick):,} of {n:,} fills" if n > _MAX_FILLS else f"{n:,} fills"
    return "<h2>Fills on price</h2>" + _figure(fig, f"mid and our fills ({shown})")


def _spread_plot(ticks: dict[str, np.ndarray]) -> str:
    plt = _pyplot()
    spread = (ticks["ask"] - ticks["bid"]) / ticks["mid"] * 1e4
    x, s = _envelope(ticks["ms"], spread)
    fig, ax = plt.subplots(figsize=(11, 3))
    ax.plot(_dates(x), s, color="#8e44ad", lw=0.8)
    ax.set_ylabel("quoted spread, bps")
    fig.autofmt_xdate()
    return "<h2>Spread</h2>" + _figure(fig, "our best ask minus best bid after risk, in bps of mid (gaps: one side "
                                            "not quoted)")


def _hourly_plot(ticks: dict[str, np.ndarray]) -> str:
    plt = _pyplot()
    change = np.diff(ticks["equity"], prepend=ticks["equity"][0])
    hour = (ticks["ms"] % _DAY_MS) // _HOUR_MS
    pnl = np.bincount(hour.astype(np.int64), weights=change, minlength=24)
    fig, ax = plt.subplots(figsize=(11, 3))
    ax.bar(np.arange(24), pnl, color=np.where(pnl >= 0, "#27ae60", "#c0392b"))
    ax.set_xticks(np.arange(24))
    ax.set_xlabel("UTC hour of day")
    ax.set_ylabel("PnL")
    return "<h2>PnL by hour</h2>" + _figure(fig, "equity change summed by the UTC hour it happened in")


# -- a sweep ---------------------------------------------------------------------------------------------------
def sweep_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job of a multirun with its overrides (parsed), status, score and figures, ranked as the sweep summary
    ranks them (:mod:`botmm.runners.sweep_summary`)."""
    from botmm.runners.sweep_summary import job_row, rank_rows

    rows = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job = overrides_file.parent.parent
        row = job_row(job)
        overrides = row["overrides"].split()
        row.update(dir=job, params=dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o))
        rows.append(row)
    rank_rows(rows)
    return rows


def _swept(rows: list[dict[str, Any]]) -> list[str]:
    """Keys whose value differs between jobs, the one with the most values first."""
    keys = sorted({k for r in rows for k in r["params"]})
    counts = {k: len({r["params"].get(k) for r in rows}) for k in keys}
    return sorted((k for k in keys if counts[k] > 1), key=lambda k: -counts[k])


def _sweep_report(path: Path) -> tuple[str, str]:
    from botmm.runners.sweep_summary import SHOWN

    rows = sweep_rows(path)
    swept = _swept(rows)
    title = f"sweep {path.resolve().parent.name}/{path.resolve().name}: {len(rows)} jobs"
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>Swept: {html.escape(', '.join(swept) or 'nothing')}. Score = composite score of the summary, "
             f"out of sample where the jobs ran with <code>backtest.split</code>.</p>"]
    ok = [r for r in rows if r["score"] is not None]  # complete jobs
    if len(swept) >= 2 and ok:
        parts.append(_heatmap(ok, swept[0], swept[1]))
    elif len(swept) == 1 and ok:
        parts.append(_score_bars(ok, swept[0]))
    if ok:
        parts.append(_curves(ok))
    parts.append("<h2>Ranked jobs</h2>" + _table(rows, ["rank", "job", "overrides", "status", "score", *SHOWN]))
    return title, "\n".join(parts)


def _order(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def _heatmap(rows: list[dict[str, Any]], x_key: str, y_key: str) -> str:
    plt = _pyplot()
    xs = _order({r["params"].get(x_key, "-") for r in rows})
    ys = _order({r["params"].get(y_key, "-") for r in rows})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        i, j = ys.index(r["params"].get(y_key, "-")), xs.index(r["params"].get(x_key, "-"))
        grid[i, j] = r["score"] if np.isnan(grid[i, j]) else max(grid[i, j], r["score"])
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.7 * len(ys) + 2))
    image = ax.imshow(grid, cmap="RdYlGn", aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="score")
    return "<h2>Score heatmap</h2>" + _figure(fig, f"score over {x_key} and {y_key} (best where other swept keys "
                                                   f"vary)")


def _score_bars(rows: list[dict[str, Any]], key: str) -> str:
    plt = _pyplot()
    xs = _order({r["params"].get(key, "-") for r in rows})
    best = [max(r["score"] for r in rows if r["params"].get(key, "-") == x) for x in xs]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(xs) + 2), 3))
    ax.bar(range(len(xs)), best, color=["#27ae60" if b >= 0 else "#c0392b" for b in best])
    ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(key)
    ax.set_ylabel("score")
    return "<h2>Score by parameter</h2>" + _figure(fig, f"score for each value of {key}")


def _curves(rows: list[dict[str, Any]]) -> str:
    import pyarrow.parquet as pq

    plt = _pyplot()
    swept = _swept(rows)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for r in rows[:_CURVES]:
        equity_file = r["dir"] / "equity.parquet"
        if not equity_file.is_file():
            continue
        table = pq.read_table(equity_file, columns=["ts", "equity"])
        x, eq = _envelope(table.column("ts").cast("int64").to_numpy(), table.column("equity").to_numpy())
        label = f"#{r['rank']} " + " ".join(f"{k}={v}" for k, v in r["params"].items() if k in swept)
        ax.plot(_dates(x), eq, lw=1, label=label[:80])
    ax.set_ylabel("equity")
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    shown = min(len(rows), _CURVES)
    return "<h2>Equity of each job</h2>" + _figure(fig, f"equity curves of the {shown} best ranked jobs")
