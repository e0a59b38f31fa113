"""Converters from raw market-data captures to the L2 event dataset (:mod:`botmm.data.l2`), and ``botmm data
convert``.

Every converter writes rows in exchange order (``ts_exchange``, ties in arrival order) and makes the feed latency
non-negative: when some ``ts_local - ts_exchange`` is negative (the recorder's clock runs behind the exchange's), every
``ts_local`` is shifted by that minimum, so the fastest message has latency 0; ``base_latency`` is then added to all.
This is one constant shift (as hftbacktest's ``correct_local_timestamp``): relative feed latency is kept, clock drift
is not corrected. Tick and lot sizes come from ``--tick-size``/``--lot-size``, else from the venue's steps for the
symbols in ``KNOWN_STEPS``, else are inferred from the data (the largest 1, 2 or 5 x 10^k step every price or size
is a multiple of; book sizes are sums of orders, so a coarser step can hide behind them).

* **Binance** (USD-M futures, combined stream; lines ``<local ns> <json>``): REST depth snapshot, ``depth`` diffs,
  ``trade`` (only ``X == "MARKET"``; ``m`` true means the seller was the aggressor); ``bookTicker`` is ignored.
  ``sequence="binance"`` applies Binance's update-id rules: diffs with ``u`` below the snapshot's ``lastUpdateId``
  L are dropped, the first one kept must have ``U <= L <= u`` and each later one ``pu`` equal to the previous
  ``u``; a break is a sequence gap (an error, or counted and bridged with ``on_gap="repair"``). The snapshot is a
  clear of the whole book plus its levels at its own ``T`` and receive time, and diffs received before the snapshot
  but newer than it are applied when the snapshot arrives (a real client buffers them). ``sequence="none"``
  reproduces hftbacktest's converter: every diff is kept (building a partial book before the snapshot), ids are
  ignored, and each side of the snapshot clears only out to its deepest price and is applied where it was received.
* **Binance spot** (the same collector format, told apart by diffs without ``pu``): ``depth@100ms`` diffs carry no
  ``T``, so their exchange time is ``E``; the snapshot carries neither, so its exchange time is the ``E`` of the last
  diff its ``lastUpdateId`` covers (as the reference normalisation in ``botmm.sim.differential`` does). Spot's
  update-id rule: diffs with ``u <= L`` are dropped, the first one kept has ``U <= L + 1 <= u`` and each later one
  ``U`` equal to the previous ``u + 1``. A capture that continues another (no snapshot) converts together with the
  file before it: ``botmm data convert binance day1.gz day2.gz`` reads them as one stream.
* **Hyperliquid** (websocket ``l2Book`` and ``trades``): the first book is a snapshot; each later top-N snapshot is
  turned into level changes against the previous one (vanished levels deleted first, then changed or new ones).
  Trades older than the first book (the subscription's backfill) and repeated trade ids are dropped.
* **tardis.dev** CSV (``incremental_book_L2`` and ``trades``, plain or gzipped): a run of ``is_snapshot`` rows after
  incremental rows starts a new snapshot (a clear, then its levels); trades with side ``unknown`` are dropped.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from botmm.data.l2 import KIND_CLEAR, KIND_DELTA, KIND_SNAPSHOT, KIND_TRADE, L2Events, L2Meta, write_l2
from botmm.errors import BotmmError, DataError, os_error_line

SEQUENCES = ("binance", "none")
# (market, symbol) -> (tick, lot): Binance's exchangeInfo PRICE_FILTER tickSize and LOT_SIZE stepSize
KNOWN_STEPS = {("spot", "BTCUSDT"): (0.01, 0.00001), ("spot", "ETHUSDT"): (0.01, 0.0001),
               ("usdm", "BTCUSDT"): (0.1, 0.001), ("usdm", "ETHUSDT"): (0.01, 0.001)}
ON_GAP = ("error", "repair")


@dataclass
class ConvertResult:
    """What a conversion wrote and what it counted on the way."""

    paths: list[Path]
    meta: L2Meta
    rows: int
    latency_shift_ns: int
    counts: dict[str, int] = field(default_factory=dict)


class _Rows:
    """Rows collected in arrival order: ``key`` orders rows of equal exchange time (arrival), ``ts_local`` may be
    adjusted later."""

    def __init__(self) -> None:
        self.ts_e: list[int] = []
        self.ts_l: list[int] = []
        self.kind: list[int] = []
        self.side: list[int] = []
        self.price: list[Any] = []
        self.size: list[Any] = []
        self.key: list[float] = []

    def add(self, ts_e: int, ts_l: int, kind: int, side: int, price: Any, size: Any, key: float) -> None:
        self.ts_e.append(ts_e)
        self.ts_l.append(ts_l)
        self.kind.append(kind)
        self.side.append(side)
        self.price.append(price)
        self.size.append(size)
        self.key.append(key)

    def levels(self, ts_e: int, ts_l: int, kind: int, side: int, levels: list, key: float) -> None:
        for px, qty in levels:
            self.add(ts_e, ts_l, kind, side, px, qty, key)

    def events(self) -> tuple[L2Events, np.ndarray]:
        ev = L2Events.build(ts_exchange=self.ts_e, ts_local=self.ts_l, kind=self.kind, side=self.side,
                            price=np.asarray(self.price, dtype=np.float64),
                            size=np.asarray(self.size, dtype=np.float64))
        return ev, np.asarray(self.key, dtype=np.float64)


def infer_step(values: np.ndarray) -> float:
    """The largest step of the form {1, 2, 5} x 10^k that every non-zero value is a multiple of."""
    v = np.unique(np.abs(values[np.isfinite(values) & (values != 0)]))
    if len(v) == 0:
        raise DataError("cannot infer a tick or lot size from no values; pass it explicitly")
    for exp in range(6, -11, -1):
        for mult in (5, 2, 1):
            step = mult * 10.0**exp
            units = v / step
            if np.all(np.abs(units - np.rint(units)) < 1e-6) and units.min() >= 0.999:
                return float(f"{step:.10g}")
    raise DataError("no tick or lot size of 1e-10 or more fits the data; pass it explicitly")


def _finish(ev: L2Events, key: np.ndarray, base_latency_ns: int, min_lag: int | None = None) -> tuple[L2Events, int]:
    """Sort into exchange order (ties by arrival key, then row order) and shift ``ts_local`` so that every feed
    latency is >= 0 (``min_lag``: the smallest ``ts_local - ts_exchange`` to correct, default the rows' own)."""
    ev = ev.take(np.lexsort((np.arange(len(ev)), key, ev.ts_exchange)))
    if min_lag is None:
        min_lag = int((ev.ts_local - ev.ts_exchange).min()) if len(ev) else 0
    shift = max(0, -min_lag) + base_latency_ns
    return L2Events(ev.ts_exchange, ev.ts_local + shift, ev.kind, ev.side, ev.price, ev.size), shift


def _write(ev: L2Events, out: str | os.PathLike[str], symbol: str, source: str, tick: float | None,
           lot: float | None, shift: int, counts: dict[str, int]) -> ConvertResult:
    level = ev.kind != KIND_CLEAR
    tick = tick or infer_step(ev.price[level])
    lot = lot or infer_step(ev.size[level])
    meta = L2Meta(symbol=symbol, tick_size=tick, lot_size=lot, source=source)
    return ConvertResult(write_l2(ev, out, meta), meta, len(ev), shift, counts)


def _lines(path: str | os.PathLike[str]):
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    stamp, _, payload = line.partition(b" ")
                    yield n, int(stamp), payload
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"{path}: unreadable capture ({exc})") from None


def convert_binance(src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                    sequence: str = "binance", base_latency_ns: int = 0, on_gap: str = "error",
                    tick_size: float | None = None, lot_size: float | None = None) -> ConvertResult:
    """Convert a Binance USD-M or spot combined-stream capture, or several files of one stream in order; see the
    module docstring for the rules."""
    if sequence not in SEQUENCES or on_gap not in ON_GAP:
        raise DataError(f"sequence must be one of {SEQUENCES} and on_gap one of {ON_GAP}")
    files = [src] if isinstance(src, (str, os.PathLike)) else list(src)
    src = files[0] if len(files) == 1 else " + ".join(map(str, files))
    if not any(b'"lastUpdateId"' in payload for _, _, payload, _ in _stream(files)):  # found before parsing JSON
        for n, _, payload, path in itertools.islice(_stream(files), 1):  # is it a capture at all?
            _json(payload, path, n)
        raise _no_snapshot(src)
    diffs: list[tuple[int, int, dict]] = []
    trades: list[tuple[int, int, dict]] = []
    snapshot: tuple[int, int, dict] | None = None
    symbol = ""
    counts = {"ignored_messages": 0, "non_market_trades": 0}
    for n, local, payload, path in _stream(files):
        msg = _json(payload, path, n)
        data = msg.get("data")
        if data is None:
            if "lastUpdateId" in msg and snapshot is None:
                snapshot = (n, local, msg)
            else:
                counts["ignored_messages"] += 1
            continue
        symbol = symbol or msg.get("stream", "").split("@")[0].upper()
        event = data.get("e")
        if event == "depthUpdate":
            diffs.append((n, local, data))
        elif event == "trade":
            if data.get("X", "MARKET") == "MARKET":
                trades.append((n, local, data))
            else:
                counts["non_market_trades"] += 1
        else:
            counts["ignored_messages"] += 1
    if snapshot is None:  # lastUpdateId only inside stream messages
        raise _no_snapshot(src)
    spot = bool(diffs) and "pu" not in diffs[0][2]
    snap_line, snap_local, snap = snapshot
    last_id = int(snap["lastUpdateId"])
    covered = [int(d["E"]) for _, _, d in diffs if int(d["u"]) <= last_id]
    snap_ts = int(snap.get("T") or (covered[-1] if covered else diffs[0][2]["E"])) * 1_000_000
    rows = _Rows()
    for n, local, t in trades:
        rows.add(int(t["T"]) * 1_000_000, local, KIND_TRADE, -1 if t["m"] else 1, t["p"], t["q"], n)
    # the feed-latency shift is measured over every message, as hftbacktest does, whichever diffs are kept
    lags = [local - _diff_ns(d) for _, local, d in diffs] + [snap_local - snap_ts]
    min_lag = min(lags + [local - ts for ts, local in zip(rows.ts_e, rows.ts_l)])
    if sequence == "none":
        for n, local, d in diffs:
            ts = _diff_ns(d)
            rows.levels(ts, local, KIND_DELTA, 1, d["b"], n)
            rows.levels(ts, local, KIND_DELTA, -1, d["a"], n)
        for side, levels in ((1, snap["bids"]), (-1, snap["asks"])):
            if levels:
                rows.add(snap_ts, snap_local, KIND_CLEAR, side, levels[-1][0], 0.0, snap_line)
                rows.levels(snap_ts, snap_local, KIND_SNAPSHOT, side, levels, snap_line)
    else:
        first_id = last_id + 1 if spot else last_id  # the first update id a kept diff must cover
        kept = [(n, local, d) for n, local, d in diffs if int(d["u"]) >= first_id]
        counts["diffs_before_snapshot"] = len(diffs) - len(kept)
        counts["sequence_gaps"] = 0
        prev_u = None
        for n, local, d in kept:
            if prev_u is None:
                ok, expected = int(d["U"]) <= first_id <= int(d["u"]), f"U <= {first_id} <= u"
            elif spot:
                ok, expected = int(d["U"]) == prev_u + 1, f"U={prev_u + 1}"
            else:
                ok, expected = int(d["pu"]) == prev_u, f"pu={prev_u}"
            if not ok:
                if on_gap == "error":
                    raise DataError(f"{src}: line {n}: sequence gap (U={d['U']} u={d['u']} pu={d.get('pu')}, "
                                    f"expected {expected}); --on-gap repair counts and bridges it")
                counts["sequence_gaps"] += 1
            prev_u = int(d["u"])
        first_key = min([snap_line] + [n for n, _, _ in kept[:1]]) - 0.5
        rows.add(snap_ts, snap_local, KIND_CLEAR, 0, np.nan, 0.0, first_key)
        rows.levels(snap_ts, snap_local, KIND_SNAPSHOT, 1, snap["bids"], first_key)
        rows.levels(snap_ts, snap_local, KIND_SNAPSHOT, -1, snap["asks"], first_key)
        for n, local, d in kept:
            ts, at = max(_diff_ns(d), snap_ts), max(local, snap_local)
            rows.levels(ts, at, KIND_DELTA, 1, d["b"], n)
            rows.levels(ts, at, KIND_DELTA, -1, d["a"], n)
    ev, key = rows.events()
    ev, shift = _finish(ev, key, base_latency_ns, min_lag)
    market = "spot" if spot else "usdm"
    source = f"binance_{market} {' + '.join(Path(f).name for f in files)} sequence={sequence}"
    known_tick, known_lot = KNOWN_STEPS.get((market, symbol), (None, None))
    return _write(ev, out, symbol or "UNKNOWN", source, tick_size or known_tick, lot_size or known_lot, shift, counts)


def _json(payload: bytes, path: str | os.PathLike[str], n: int) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        raise DataError(f"{path}: line {n}: not JSON") from None


def _no_snapshot(src: str | os.PathLike[str]) -> DataError:
    return DataError(f"{src}: no REST depth snapshot (a line with lastUpdateId) in the capture; a capture that "
                     "continues another converts together with the file before it (convert binance first.gz this.gz)")


def _stream(files: Sequence[str | os.PathLike[str]]):
    """The lines of several capture files as one stream: (message number over all files, local ns, payload, file)."""
    offset = 0
    for path in files:
        n = 0
        for n, local, payload in _lines(path):
            yield offset + n, local, payload, path
        offset += n


def _diff_ns(diff: dict) -> int:
    """A depth diff's exchange time: its transaction time ``T`` (futures), else its event time ``E`` (spot)."""
    return int(diff.get("T") or diff["E"]) * 1_000_000


def convert_hyperliquid(src: str | os.PathLike[str], out: str | os.PathLike[str], *, base_latency_ns: int = 0,
                        tick_size: float | None = None, lot_size: float | None = None) -> ConvertResult:
    """Convert a Hyperliquid websocket capture of ``l2Book`` and ``trades``; see the module docstring."""
    rows = _Rows()
    book: tuple[dict, dict] | None = None
    first_book_ts: int | None = None
    trades: list[tuple[int, int, dict]] = []
    seen: set[Any] = set()
    symbol = ""
    counts = {"backfill_trades": 0, "duplicate_trades": 0, "ignored_messages": 0}
    for n, local, payload in _lines(src):
        msg = _json(payload, src, n)
        channel, data = msg.get("channel"), msg.get("data")
        if channel == "l2Book":
            symbol = symbol or data["coin"]
            ts = int(data["time"]) * 1_000_000
            new = tuple({lv["px"]: lv["sz"] for lv in side} for side in data["levels"])
            if book is None:
                first_book_ts = ts
                rows.add(ts, local, KIND_CLEAR, 0, np.nan, 0.0, n)
                for side, levels in zip((1, -1), new):
                    rows.levels(ts, local, KIND_SNAPSHOT, side, levels.items(), n)
            else:
                for side, old, cur in zip((1, -1), book, new):
                    rows.levels(ts, local, KIND_DELTA, side, [(px, 0.0) for px in old if px not in cur], n)
                for side, old, cur in zip((1, -1), book, new):
                    rows.levels(ts, local, KIND_DELTA, side, [(px, sz) for px, sz in cur.items()
                                                              if old.get(px) != sz], n + 0.5)
            book = new
        elif channel == "trades":
            trades += [(n, local, t) for t in data]
        else:
            counts["ignored_messages"] += 1
    if book is None:
        raise DataError(f"{src}: no l2Book message in the capture")
    for n, local, t in trades:
        ts = int(t["time"]) * 1_000_000
        tid = t.get("tid", (t["time"], t["px"], t["sz"], t["side"]))
        if first_book_ts is not None and ts < first_book_ts:
            counts["backfill_trades"] += 1
        elif tid in seen:
            counts["duplicate_trades"] += 1
        else:
            seen.add(tid)
            rows.add(ts, local, KIND_TRADE, 1 if t["side"] == "B" else -1, t["px"], t["sz"], n)
    ev, key = rows.events()
    ev, shift = _finish(ev, key, base_latency_ns)
    return _write(ev, out, symbol, f"hyperliquid {Path(src).name}", tick_size, lot_size, shift, counts)


def _read_csv(path: str | os.PathLike[str], columns: list[str]) -> dict[str, np.ndarray]:
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(os.fspath(path))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except Exception as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def convert_tardis(book_csv: str | os.PathLike[str], trades_csv: str | os.PathLike[str] | None,
                   out: str | os.PathLike[str], *, base_latency_ns: int = 0, tick_size: float | None = None,
                   lot_size: float | None = None) -> ConvertResult:
    """Convert tardis.dev ``incremental_book_L2`` (and optionally ``trades``) CSV files; see the module docstring."""
    cols = ["symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"]
    b = _read_csv(book_csv, cols)
    snap = b["is_snapshot"].astype(bool)
    side = np.where(b["side"] == "bid", 1, np.where(b["side"] == "ask", -1, 0)).astype(np.int8)
    if np.any(side == 0):
        raise DataError(f"{book_csv}: side must be bid or ask (row {int(np.argmax(side == 0))})")
    starts = snap & ~np.r_[False, snap[:-1]]
    n_book = len(snap)
    order = np.arange(n_book, dtype=np.float64)
    clear_at = np.flatnonzero(starts)
    ts_e = b["timestamp"].astype(np.int64) * 1000
    ts_l = b["local_timestamp"].astype(np.int64) * 1000
    parts = [
        L2Events.build(ts_exchange=ts_e, ts_local=ts_l, kind=np.where(snap, KIND_SNAPSHOT, KIND_DELTA), side=side,
                       price=b["price"], size=b["amount"]),
        L2Events.build(ts_exchange=ts_e[clear_at], ts_local=ts_l[clear_at], kind=np.full(len(clear_at), KIND_CLEAR),
                       side=np.zeros(len(clear_at)), price=np.full(len(clear_at), np.nan),
                       size=np.zeros(len(clear_at))),
    ]
    keys = [order, clear_at - 0.5]
    counts = {"snapshots": len(clear_at), "unknown_side_trades": 0}
    if trades_csv is not None:
        t = _read_csv(trades_csv, ["timestamp", "local_timestamp", "side", "price", "amount"])
        tside = np.where(t["side"] == "buy", 1, np.where(t["side"] == "sell", -1, 0)).astype(np.int8)
        known = tside != 0
        counts["unknown_side_trades"] = int((~known).sum())
        t_ts_l = t["local_timestamp"].astype(np.int64)[known] * 1000
        parts.append(L2Events.build(ts_exchange=t["timestamp"].astype(np.int64)[known] * 1000, ts_local=t_ts_l,
                                    kind=np.full(int(known.sum()), KIND_TRADE), side=tside[known],
                                    price=t["price"][known], size=t["amount"][known]))
        # a trade's arrival position among the book rows: after every book row received at or before it
        keys.append(np.searchsorted(ts_l, t_ts_l, side="right") - 0.25)
    ev = L2Events.concat(parts)
    ev, shift = _finish(ev, np.concatenate(keys), base_latency_ns)
    symbol = str(b["symbol"][0]).upper() if n_book else "UNKNOWN"
    return _write(ev, out, symbol, f"tardis {Path(book_csv).name}", tick_size, lot_size, shift, counts)


# -- botmm data convert ----------------------------------------------------------------------------------------
_OUT = click.option("--out", default="data/orderbook", show_default=True,
                    help="Dataset root: files go to <out>/<SYMBOL>/<YYYY-MM-DD_HH>.parquet.")
_LATENCY = click.option("--base-latency", default="0", show_default=True,
                        help="Added to every feed latency after the clock shift, e.g. 1ms.")
_TICK = click.option("--tick-size", type=float, default=None, help="Price step (default: inferred from the data).")
_LOT = click.option("--lot-size", type=float, default=None, help="Size step (default: inferred from the data).")


def _report(result: ConvertResult) -> None:
    m = result.meta
    click.echo(f"{result.rows:,} events, {m.symbol}, tick {m.tick_size:g}, lot {m.lot_size:g}, "
               f"feed-latency shift {result.latency_shift_ns / 1e9:+.6f} s")
    for name, value in result.counts.items():
        click.echo(f"  {name}: {value:,}")
    for path in result.paths:
        click.echo(f"wrote {path}")


def _run(fn: Any, *args: Any, **kwargs: Any) -> None:
    from botmm.sim.latency import duration_ns

    try:
        kwargs["base_latency_ns"] = duration_ns(kwargs.pop("base_latency"), "--base-latency")
        _report(fn(*args, **kwargs))
    except BotmmError as exc:
        click.echo(f"botmm: {exc}", err=True)
        raise SystemExit(1) from None
    except OSError as exc:  # --out not writable, a file where a folder goes, a full disk, ...
        click.echo(f"botmm: {os_error_line(exc)}", err=True)
        raise SystemExit(1) from None


@click.group("convert")
def convert() -> None:
    """Convert raw captures into the L2 event dataset that `botmm replay feed.path=...` replays."""


@convert.command("binance")
@click.argument("src", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_OUT
@click.option("--sequence", type=click.Choice(SEQUENCES), default="binance", show_default=True,
              help="binance: update-id rules; none: as hftbacktest's converter (ids ignored).")
@click.option("--on-gap", type=click.Choice(ON_GAP), default="error", show_default=True,
              help="A break in the update-id chain: stop, or count it and carry on.")
@_LATENCY
@_TICK
@_LOT
def binance_command(src: tuple[str, ...], out: str, sequence: str, on_gap: str, base_latency: str,
                    tick_size: float | None, lot_size: float | None) -> None:
    """Binance USD-M or spot capture: REST snapshot, depth diffs and trades (gzip, `<ns> <json>` lines). Several
    files of one stream (a capture and its continuations) convert as one, in the order given."""
    _run(convert_binance, src, out, sequence=sequence, on_gap=on_gap, base_latency=base_latency,
         tick_size=tick_size, lot_size=lot_size)


@convert.command("hyperliquid")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@_OUT
@_LATENCY
@_TICK
@_LOT
def hyperliquid_command(src: str, out: str, base_latency: str, tick_size: float | None,
                        lot_size: float | None) -> None:
    """Hyperliquid websocket capture of l2Book and trades (gzip, `<ns> <json>` lines)."""
    _run(convert_hyperliquid, src, out, base_latency=base_latency, tick_size=tick_size, lot_size=lot_size)


@convert.command("tardis")
@click.argument("book_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--trades", "trades_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The matching tardis trades CSV.")
@_OUT
@_LATENCY
@_TICK
@_LOT
def tardis_command(book_csv: str, trades_csv: str | None, out: str, base_latency: str, tick_size: float | None,
                   lot_size: float | None) -> None:
    """tardis.dev incremental_book_L2 CSV (and --trades CSV), plain or gzipped."""
    _run(convert_tardis, book_csv, trades_csv, out, base_latency=base_latency, tick_size=tick_size,
         lot_size=lot_size)
