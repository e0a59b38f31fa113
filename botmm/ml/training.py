"""Training data for the fill predictor, and ``botmm train``.

:func:`generate_training_data` runs the job's pipeline over its feed on a simulated venue (as a backtest or replay
does) and records, after every tick, each order resting on the venue: one row per order per tick, with the
:data:`~botmm.ml.predictor.FEATURES` of its level at that tick. Once the data is used up each row is labelled from
the fills the venue made and the mid path the strategy saw:

* ``filled``: the order received a fill within ``horizon`` after the tick (1/0); ``fill_frac``: the share of its
  open size filled in that time; ``time_to_fill_ms``: until its first fill (NaN when none);
* ``markout_bps``: that first fill marked to mid ``adverse_horizon`` after it, in bps of the fill price, positive
  when the fill made money (fees left out); ``adverse_bps``: how far mid moved against the side filled, from the
  last tick before the fill to ``adverse_horizon`` after it (both NaN when the order did not fill or the data ends
  too soon); ``adverse``: 1 when ``markout_bps < 0``, given only on the order's last row before that fill so that
  each fill counts once (the rows of one resting order repeat the same fill), NaN on every other row.

Rows whose horizon runs past the end of the data are left out. The label is the fate of the order as the job's own
policy managed it: an order cancelled or re-priced before it could fill counts as not filled (raise
``order_manager.modify_threshold_bps`` to let orders rest longer).

What each venue labels honestly:

* ``fill_model=candle`` (``botmm backtest``): a fill means a later bar traded through the price (or touched it with
  ``rule=touch``): no queue, no latency, the whole size at once, so ``filled`` is an optimistic upper bound and
  ``fill_frac`` is 1 (less only with ``volume_cap``); times are whole bars, marks are at bar closes, and
  ``queue_usd`` is unknown (NaN).
* ``fill_model=orderbook`` (``botmm replay``): fills come from the replay's queue position (``risk_averse`` or
  ``prob``), order latency and post-only matching; ``fill_frac`` is partial with ``partial_fills=true``; fill times
  are the exchange's; marks use the local book's mid at the strategy's ticks; ``queue_usd`` is the displayed size.

``botmm train`` (:func:`train`) generates the data (or reads ``train.data``), splits it in time - the last
``test_fraction`` of the time range is held out, and training rows closer than ``horizon`` to it are dropped so no
label sees into it - trains a :class:`~botmm.ml.predictor.FillPredictor`, and reports AUC, Brier score, expected
calibration error and a calibration table of both classifiers on the held-out range, beside the same figures of two
baselines on the same rows (:data:`BASELINES`). A classifier is ``useful`` only when it beats the best baseline on
both Brier score and AUC; the fill filter refuses a model whose adverse classifier is not. The filter's default
risk threshold is chosen on the training rows' fills only (:func:`training_threshold`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from omegaconf import DictConfig

from botmm.config import JobConfig, is_duration, parse_duration, require, to_params
from botmm.errors import ConfigError, DataError
from botmm.ml.predictor import FEATURES, FillPredictor, level_features

log = logging.getLogger("botmm.ml")

LABELS = ("filled", "fill_frac", "time_to_fill_ms", "markout_bps", "adverse_bps", "adverse")
HONEST_LABELS = {
    "candle": "filled is an upper bound (a bar traded through the price: no queue, no latency, whole size); "
              "fill_frac is 1 unless volume_cap; times in whole bars; marks at bar closes; queue_usd unknown",
    "orderbook": "filled from queue position, latency and post-only matching; fill_frac partial with "
                 "partial_fills=true; exchange fill times; marks at the local book's mid; queue_usd displayed size",
}
_META_KEY = b"botmm.training"


@dataclass
class TrainParams:
    """The ``train`` node of ``botmm train``."""

    data: Optional[str] = None  # a training-data Parquet file; None: generate it from the job's feed
    horizon: str = "5s"  # a row is labelled filled when its order fills within this long after the tick
    adverse_horizon: str = "5s"  # a fill is marked to mid this long after it
    test_fraction: float = 0.3  # the last part of the time range, held out for the report
    model: str = "fill_model.bmm"  # the model file; relative paths are inside the job's output dir
    bins: int = 10  # calibration-table bins
    threads: Optional[int] = 1  # OpenMP threads for fitting; None: every core

    def __post_init__(self) -> None:
        for key in ("horizon", "adverse_horizon"):
            require(is_duration(getattr(self, key)), self, key, "expected a duration such as 5s, 2m or 500ms")
        require(0 < self.test_fraction < 1, self, "test_fraction", "must be in (0, 1)")
        require(self.bins >= 2, self, "bins", "must be >= 2")
        require(self.threads is None or self.threads >= 1, self, "threads", "must be >= 1 or null")


@dataclass
class TrainJob(JobConfig):
    """The root of ``conf/train.yaml``: a job (whose run generates the data) plus the ``train`` node."""

    train: TrainParams = field(default_factory=TrainParams)


@dataclass
class TrainingData:
    """What :func:`generate_training_data` wrote."""

    path: Path
    venue: str
    rows: int
    orders: int
    fills: int
    filled_rate: float


def generate_training_data(cfg: DictConfig, path: Path, horizon: str = "5s", adverse_horizon: str = "5s",
                           run_dir: Path | None = None) -> TrainingData:
    """Run the job ``cfg`` (a simulated venue) over its feed, label every resting order at every tick (see the module
    docstring) and write the rows to the Parquet file ``path``. The run's own outputs (result.json, equity and
    fills) go to ``run_dir`` (default: the folder of ``path``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from botmm.pipeline import Run, Pipeline
    from botmm.runners.simulate import drive

    horizon_ms = round(parse_duration(horizon, "train.horizon") * 1000)
    adverse_ms = round(parse_duration(adverse_horizon, "train.adverse_horizon") * 1000)
    path = Path(path)
    if cfg.exchange.name != "sim":
        raise ConfigError(f"exchange={cfg.exchange.name}: training data needs the simulated venue (exchange=sim)")
    strategy = Pipeline(cfg, Run(cfg, "train", cfg.asset.symbol, run_dir or path.parent))
    venue = strategy.venue
    ts: list[int] = []
    orders: list[tuple[int, int, float, float]] = []
    features: list[np.ndarray] = []
    recorded: Any = None  # the quoter inputs already recorded: a tick that did not quote leaves them in place

    def record(now: int) -> None:
        nonlocal recorded
        inputs = strategy.inputs
        if inputs is None or inputs is recorded:
            return
        recorded = inputs
        resting = _ranked(venue.get_open_orders())
        if not resting:
            return
        levels = [(int(o.side), o.price, k) for o, k in resting]
        features.append(level_features(inputs.market, inputs.mid, inputs.vol, inputs.inventory, levels))
        ts.extend([now] * len(resting))
        orders.extend((o.oid, int(o.side), o.price, o.size) for o, _ in resting)

    drive(strategy, after_step=record)
    metrics = strategy.metrics
    if not ts:
        raise DataError("the job quoted no order: no training data")
    row_ts = np.asarray(ts, dtype=np.int64)
    oid, side, price, size = (np.asarray(col) for col in zip(*orders))
    labels = label_rows(row_ts, oid.astype(np.int64), side.astype(np.float64), size.astype(np.float64),
                        metrics.fills, np.asarray(metrics.ts, dtype=np.int64), np.asarray(metrics.mid),
                        horizon_ms, adverse_ms)
    keep = row_ts + horizon_ms <= metrics.ts[-1]
    matrix = np.concatenate(features)[keep]
    venue_kind = str(cfg.fill_model.name)
    columns = {
        "ts": pa.array(row_ts[keep], pa.timestamp("ms", tz="UTC")),
        "oid": pa.array(oid[keep].astype(np.int64)),
        "price": pa.array(price[keep].astype(np.float64)),
        "size": pa.array(size[keep].astype(np.float64)),
        **{name: pa.array(matrix[:, i]) for i, name in enumerate(FEATURES)},
        **{name: pa.array(values[keep]) for name, values in labels.items()},
    }
    info = {"venue": venue_kind, "symbol": cfg.asset.symbol, "horizon_ms": horizon_ms,
            "adverse_horizon_ms": adverse_ms, "features": list(FEATURES), "labels": list(LABELS),
            "honest_labels": HONEST_LABELS.get(venue_kind, "")}
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(info).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    filled = labels["filled"][keep]
    result = TrainingData(path, venue_kind, int(keep.sum()), len(np.unique(oid)), len(metrics.fills),
                          float(filled.mean()) if len(filled) else 0.0)
    log.info("training data: %d rows (%d orders, %d fills, %.1f%% of rows filled within %s) -> %s", result.rows,
             result.orders, result.fills, 100 * result.filled_rate, horizon, path)
    return result


def _ranked(orders: list[Any]) -> list[tuple[Any, int]]:
    """Resting orders with their level index: 0 nearest mid on each side."""
    bids = sorted((o for o in orders if o.side > 0), key=lambda o: -o.price)
    asks = sorted((o for o in orders if o.side < 0), key=lambda o: o.price)
    return [(o, k) for k, o in enumerate(bids)] + [(o, k) for k, o in enumerate(asks)]


def label_rows(row_ts: np.ndarray, oid: np.ndarray, side: np.ndarray, size: np.ndarray, fills: list[Any],
               tick_ts: np.ndarray, tick_mid: np.ndarray, horizon_ms: int, adverse_ms: int) -> dict[str, np.ndarray]:
    """The :data:`LABELS` of rows (order ``oid`` of ``side`` with ``size`` open, observed at ``row_ts``) from the
    run's fills and its tick-by-tick mid (see the module docstring)."""
    n = len(row_ts)
    nan = np.full(n, np.nan)
    out = {"filled": np.zeros(n), "fill_frac": np.zeros(n), "time_to_fill_ms": nan.copy(),
           "markout_bps": nan.copy(), "adverse_bps": nan.copy(), "adverse": nan.copy()}
    if not fills or n == 0:
        return out
    f_oid = np.fromiter((f.oid for f in fills), np.int64, len(fills))
    f_ts = np.fromiter((f.ts for f in fills), np.int64, len(fills))
    f_size = np.fromiter((f.size for f in fills), np.float64, len(fills))
    f_price = np.fromiter((f.price for f in fills), np.float64, len(fills))
    t0 = min(int(f_ts.min()), int(row_ts.min()))
    shift = np.int64(1 << 42)  # ms offsets below 2**42 (139 years), order ids below 2**21
    order = np.lexsort((f_ts, f_oid))
    f_oid, f_ts, f_size, f_price = f_oid[order], f_ts[order], f_size[order], f_price[order]
    f_key = f_oid * shift + (f_ts - t0)
    cum = np.concatenate([[0.0], np.cumsum(f_size)])
    first = np.searchsorted(f_key, oid * shift + (row_ts - t0), side="right")
    last = np.searchsorted(f_key, oid * shift + (row_ts + horizon_ms - t0), side="right")
    hit = last > first
    out["filled"] = hit.astype(np.float64)
    frac = np.round((cum[last] - cum[first]) / np.maximum(size, 1e-300), 9)  # sums of sizes: float noise
    out["fill_frac"] = np.where(hit, np.minimum(frac, 1.0), 0.0)
    j = np.where(hit, first, 0)
    fill_ts, fill_px = f_ts[j], f_price[j]
    out["time_to_fill_ms"] = np.where(hit, fill_ts - row_ts, np.nan)
    after = fill_ts + adverse_ms
    marked = hit & (after <= tick_ts[-1])
    mid_after = tick_mid[np.clip(np.searchsorted(tick_ts, after, side="right") - 1, 0, len(tick_ts) - 1)]
    mid_before = tick_mid[np.clip(np.searchsorted(tick_ts, fill_ts, side="left") - 1, 0, len(tick_ts) - 1)]
    markout = side * (mid_after - fill_px) / fill_px * 1e4
    out["markout_bps"] = np.where(marked, markout, np.nan)
    out["adverse_bps"] = np.where(marked, -side * (mid_after - mid_before) / mid_before * 1e4, np.nan)
    nearest = np.zeros(n, dtype=bool)  # each fill's last row before it: one adverse label per fill
    rows = np.flatnonzero(marked)
    if len(rows):
        fill_id = j[rows]
        by_fill = np.lexsort((row_ts[rows], fill_id))
        ends = np.r_[fill_id[by_fill][1:] != fill_id[by_fill][:-1], True]
        nearest[rows[by_fill[ends]]] = True
    out["adverse"] = np.where(nearest, (markout < 0).astype(np.float64), np.nan)
    return out


def read_training_data(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A training-data file as numpy columns sorted by time (plus ``ms``: the row's time in ms), and the info it was
    written with. pyarrow reads it; pandas is not needed."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataError(f"train.data={path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"train.data={path}: not a Parquet file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("ts", *FEATURES, "filled", "adverse") if c not in table.column_names]
    if missing:
        raise DataError(f"train.data={path}: not training data, lacks column(s) {', '.join(missing)}")
    info = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    ms = table.column("ts").cast("int64").to_numpy()
    order = np.argsort(ms, kind="stable")
    columns = {name: table.column(name).to_numpy(zero_copy_only=False)[order] for name in table.column_names}
    columns["ms"] = ms[order]
    return columns, info


def time_split(ms: np.ndarray, test_fraction: float, purge_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Masks of the training and held-out rows, and the first held-out time: the held-out part is the last
    ``test_fraction`` of the time range; training rows within ``purge_ms`` before it are dropped."""
    start, end = int(ms.min()), int(ms.max())
    cut = start + int(round((end - start) * (1.0 - test_fraction)))
    return ms < cut - purge_ms, ms >= cut, cut


def evaluate(prob: np.ndarray, label: np.ndarray, bins: int) -> dict[str, Any]:
    """AUC, Brier score, expected calibration error and the calibration table of predictions ``prob`` against 0/1
    labels (AUC is None when the labels hold one class)."""
    from sklearn.metrics import roc_auc_score

    n = len(label)
    if n == 0:
        return {"rows": 0, "base_rate": None, "auc": None, "brier": None, "ece": None, "calibration": []}
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        in_bin = which == b
        count = int(in_bin.sum())
        if not count:
            continue
        predicted, observed = float(prob[in_bin].mean()), float(label[in_bin].mean())
        ece += count / n * abs(predicted - observed)
        table.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "rows": count, "predicted": round(predicted, 4),
                      "observed": round(observed, 4)})
    auc = float(roc_auc_score(label, prob)) if len(np.unique(label)) == 2 else None
    return {"rows": n, "base_rate": round(float(label.mean()), 4), "auc": None if auc is None else round(auc, 4),
            "brier": round(float(np.mean((prob - label) ** 2)), 4), "ece": round(ece, 4), "calibration": table}


BASELINES = ("base_rate", "distance_logistic")
"""What a classifier must beat on the same held-out rows: the training rows' base rate (a constant), and a logistic
regression on ``distance_bps`` alone (how far the level sits from mid, the feature that explains most fills)."""


def judge(prob: np.ndarray, label: np.ndarray, fit_distance: np.ndarray, fit_label: np.ndarray,
          held_distance: np.ndarray, bins: int) -> dict[str, Any]:
    """:func:`evaluate` of the model's held-out predictions, with the :data:`BASELINES` evaluated on the same rows
    (fitted on the training rows) and ``useful``: the model beats the best baseline on Brier score AND on AUC."""
    report = evaluate(prob, label, bins)
    if len(fit_label) == 0 or len(label) == 0:
        report.update(baselines={}, useful=False)
        return report
    rate = float(fit_label.mean())
    guesses = {"base_rate": np.full(len(label), rate)}
    if 0.0 < rate < 1.0:
        from sklearn.linear_model import LogisticRegression

        logistic = LogisticRegression().fit(fit_distance.reshape(-1, 1), fit_label.astype(np.int64))
        guesses["distance_logistic"] = logistic.predict_proba(held_distance.reshape(-1, 1))[:, 1]
    baselines = {name: evaluate(guess, label, bins) for name, guess in guesses.items()}
    for figures in baselines.values():
        figures.pop("calibration")
    best_brier = min(b["brier"] for b in baselines.values())
    aucs = [b["auc"] for b in baselines.values() if b["auc"] is not None]
    report.update(baselines=baselines, useful=report["auc"] is not None and report["brier"] < best_brier
                  and report["auc"] > max(aucs, default=0.5))
    return report


def training_threshold(predictor: FillPredictor, X: np.ndarray, markout_bps: np.ndarray) -> float | None:
    """The adverse-risk threshold the fill filter uses by default, chosen on the training rows' fills only: the one
    (0.05 to 1 in steps of 0.05) whose kept fills (predicted risk at or below it) sum to the best markout; ties go to
    the highest threshold, the one that keeps the most. None when there are no fills."""
    if len(markout_bps) == 0:
        return None
    _, risk = predictor.predict(X)
    thresholds = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    kept = [float(markout_bps[risk <= t].sum()) for t in thresholds]
    best = max(kept)
    return float(max(t for t, total in zip(thresholds, kept) if total >= best - 1e-9))


def train(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """``botmm train``: generate (or read) training data, train on the earlier part of its time range, report on
    the held-out later part, save the model. Returns the report (also written to ``train_report.json``)."""
    params = to_params(TrainParams, cfg.train, "train")
    output_dir.mkdir(parents=True, exist_ok=True)
    if params.data is None:
        generated = generate_training_data(cfg, output_dir / "training.parquet", params.horizon,
                                           params.adverse_horizon, output_dir)
        data_path = generated.path
    else:
        data_path = Path(params.data)
    columns, info = read_training_data(data_path)
    horizon_ms = int(info.get("horizon_ms", round(parse_duration(params.horizon, "train.horizon") * 1000)))
    ms = columns["ms"]
    fit, held, cut = time_split(ms, params.test_fraction, horizon_ms)
    if fit.sum() == 0 or held.sum() == 0:
        raise DataError(f"{data_path}: too short a time range to hold out {params.test_fraction:g} of it")
    X = np.column_stack([columns[f] for f in FEATURES]).astype(np.float64)
    filled, adverse = (columns[c].astype(np.float64) for c in ("filled", "adverse"))
    predictor = FillPredictor(info={**info, "data": str(data_path)}, threads=params.threads)
    predictor.train(X[fit], np.column_stack([filled[fit], adverse[fit]]))
    fill_prob, risk = predictor.predict(X[held])
    marked = (filled > 0) & ~np.isnan(adverse)
    distance = columns["distance_bps"]
    report = {
        "mode": "train",
        "symbol": cfg.asset.symbol,
        "venue": info.get("venue"),
        "data": str(data_path),
        "rows": len(ms),
        "train_rows": int(fit.sum()),
        "test_rows": int(held.sum()),
        "test_from_ms": cut,
        "test_to_ms": int(ms.max()),
        "horizon_ms": horizon_ms,
        "adverse_horizon_ms": info.get("adverse_horizon_ms"),
        "fill": judge(fill_prob, filled[held], distance[fit], filled[fit], distance[held], params.bins),
        "adverse": judge(risk[marked[held]], adverse[held & marked], distance[fit & marked], adverse[fit & marked],
                         distance[held & marked], params.bins),
    }
    report["max_adverse_risk"] = training_threshold(predictor, X[fit & marked],
                                                    columns["markout_bps"][fit & marked].astype(np.float64))
    predictor.info.update(held_out={k: report[k]["auc"] for k in ("fill", "adverse")},
                          useful={k: report[k]["useful"] for k in ("fill", "adverse")},
                          max_adverse_risk=report["max_adverse_risk"])
    model_path = Path(params.model)
    if not model_path.is_absolute():
        model_path = output_dir / model_path
    report["model"] = str(predictor.save(model_path))
    report["params"] = asdict(params)
    (output_dir / "train_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_report(report: dict[str, Any]) -> None:
    """AUC and calibration of both classifiers on the held-out range, on the console."""
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.table import Table

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the tables readable
    console.print(f"botmm train {report['symbol']} ({report['venue']} venue): {report['train_rows']:,} training rows, "
                  f"{report['test_rows']:,} held-out rows from {when(report['test_from_ms'])} to "
                  f"{when(report['test_to_ms'])} UTC; model {report['model']}")
    for name, title in (("fill", "fill within horizon"), ("adverse", "adverse fill (markout < 0)")):
        ev = report[name]
        auc = "n/a (one class)" if ev["auc"] is None else f"{ev['auc']:.4f}"
        console.print(f"{title}: AUC {auc}, Brier {ev['brier']}, ECE {ev['ece']}, base rate {ev['base_rate']}, "
                      f"{ev['rows']:,} rows")
        for baseline, figures in ev["baselines"].items():
            console.print(f"  baseline {baseline}: AUC {figures['auc']}, Brier {figures['brier']}")
        console.print(f"  {'useful' if ev['useful'] else 'NOT useful'}: the model "
                      f"{'beats' if ev['useful'] else 'does not beat'} the best baseline on both Brier and AUC")
        console.print(f"calibration: {title} (held out)")
        table = Table()
        for col in ("bin", "rows", "predicted", "observed"):
            table.add_column(col, justify="left" if col == "bin" else "right")
        for row in ev["calibration"]:
            table.add_row(row["bin"], f"{row['rows']:,}", f"{row['predicted']:.4f}", f"{row['observed']:.4f}")
        console.print(table)
