"""Fill prediction: the features of a quoted level, :class:`FillPredictor` (two gradient-boosted classifiers) and
:class:`FillFilter`, which the ``avellaneda`` quoter uses to widen or skip levels with a high adverse-selection risk.

Features of one level at one tick (:data:`FEATURES`), computed by :func:`level_features` from the tick's market view
and quoter inputs, the same way when training data is generated and when a quoter asks the model:

* ``side``: +1 bid, -1 ask; ``level``: 0 for the level nearest mid on its side, 1 for the next, ...
* ``distance_bps``: how far the level sits from mid, away from the other side (negative would cross mid);
* ``spread_bps``: the market's bid-ask spread; ``vol_bps``: the volatility signal (one tick's log-return stdev);
* ``imbalance``: top-of-book size imbalance ``(bid_size - ask_size) / (bid_size + ask_size)`` signed for the level's
  side, so positive means more size rests on our side than on the other (NaN when the source has no sizes);
* ``inventory``: position notional over ``risk.max_position_usd``, signed for the side, so positive means a fill would
  add to the position;
* ``reach_bps``: how far the tick's interval traded beyond mid toward the level (bar low/high, or the replay's
  trades), 0 when it did not;
* ``hour``: UTC hour of day, 0 to 23 (whole hours: a fraction would act as a timestamp in short data sets);
* ``queue_usd``: the notional displayed at the level's price on its side of the local book, where a new order would
  join the queue (0 for a price with no displayed size inside the shown depth; NaN when the venue shows no book, as
  the candle venue).

The model file cannot run code when loaded: a header line of JSON (format, version, features, what it was trained
on, held-out metrics, the SHA-256 and length of the body) followed by an ``.npz`` body of plain numeric arrays, the
trees as :class:`_Forest` evaluates them (read with ``allow_pickle=False``). :meth:`FillPredictor.load` refuses in
one line (:class:`ModelError`) a file that is not such a model, another format version, a body that does not match
its checksum (truncated or altered), trees whose node indices do not stay inside the arrays or do not lead downward
to a leaf, and a model of other features.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from botmm.errors import BotmmError
from botmm.model import Market, Quote, QuoteLevel, Side
from botmm.protocols import QuoteInputs
from botmm.rounding import round_ask, round_bid

FEATURES = ("side", "level", "distance_bps", "spread_bps", "vol_bps", "imbalance", "inventory", "reach_bps", "hour",
            "queue_usd")
FORMAT = "botmm-fill-model"
FORMAT_VERSION = 2  # 1: pickled estimators (refused: a pickle can run code)
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_NAN = float("nan")


class ModelError(BotmmError):
    """A fill-model file that cannot be used: missing, not a model, from an incompatible version, other features."""


def _queue_usd(market: Market, side: int, price: float) -> float:
    book = market.book
    if book is None:
        return _NAN
    levels = book.bids if side > 0 else book.asks
    if not levels:
        return _NAN
    deepest = levels[-1][0]
    if (side > 0 and price < deepest) or (side < 0 and price > deepest):
        return _NAN  # deeper than the depth shown: unknown
    tolerance = 1e-9 * price
    for level_price, size in levels:
        if abs(level_price - price) <= tolerance:
            return size * price
    return 0.0


def level_features(market: Market, mid: float, vol: float, inventory: float,
                   levels: Sequence[tuple[int, float, int]]) -> np.ndarray:
    """One row of :data:`FEATURES` per ``(side, price, level)`` in ``levels``, for the tick whose market view is
    ``market`` (``vol`` and ``inventory`` as in :class:`~botmm.protocols.QuoteInputs`)."""
    spread_bps = (market.ask - market.bid) / mid * 1e4
    sizes = market.bid_size + market.ask_size
    imbalance = (market.bid_size - market.ask_size) / sizes if sizes > 0 else _NAN
    up = max(market.high - mid, 0.0) / mid * 1e4
    down = max(mid - market.low, 0.0) / mid * 1e4
    hour = float((market.ts % _DAY_MS) // _HOUR_MS)
    rows = np.empty((len(levels), len(FEATURES)), dtype=np.float64)
    for i, (side, price, level) in enumerate(levels):
        rows[i] = (side, level, side * (mid - price) / mid * 1e4, spread_bps, vol * 1e4, side * imbalance,
                   side * inventory, down if side > 0 else up, hour, _queue_usd(market, side, price))
    return rows


def quote_features(quote: Quote, inputs: QuoteInputs) -> np.ndarray:
    """:func:`level_features` of every level of ``quote`` (bids first), from the quoter's inputs."""
    levels = [(1, lv.price, k) for k, lv in enumerate(quote.bids)] + [(-1, lv.price, k) for k, lv in
                                                                         enumerate(quote.asks)]
    return level_features(inputs.market, inputs.mid, inputs.vol, inputs.inventory, levels)


def _as_matrix(X: Any, features: Sequence[str]) -> np.ndarray:
    """Rows of ``features`` from a 2-D array (columns already in that order), a DataFrame or a mapping of columns."""
    if hasattr(X, "columns") or isinstance(X, Mapping):
        missing = [f for f in features if f not in X]
        if missing:
            raise ModelError(f"data lacks feature column(s) {', '.join(missing)}")
        return np.column_stack([np.asarray(X[f], dtype=np.float64) for f in features])
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(features):
        raise ModelError(f"expected {len(features)} feature columns ({', '.join(features)}), got shape {matrix.shape}")
    return matrix


def _forest_raw(X, feature, threshold, left, right, leaf, value, missing_left, roots, baseline, out):
    """Sum of the trees' leaf values plus the baseline for each row: a NaN follows the node's missing-value branch,
    a value at or below the threshold goes left (as scikit-learn's predictors do)."""
    for r in range(X.shape[0]):
        acc = baseline
        for t in range(roots.shape[0]):
            i = roots[t]
            while not leaf[i]:
                x = X[r, feature[i]]
                if x != x:
                    i = left[i] if missing_left[i] else right[i]
                elif x <= threshold[i]:
                    i = left[i]
                else:
                    i = right[i]
            acc += value[i]
        out[r] = acc


_compiled: list[Any] = []


def _forest_kernel() -> Any:
    """:func:`_forest_raw` compiled by numba on first use (so importing this module stays light)."""
    if not _compiled:
        from numba import njit

        _compiled.append(njit(cache=True)(_forest_raw))
    return _compiled[0]


@dataclass
class _Forest:
    """A binary HistGradientBoostingClassifier's trees as flat arrays, evaluated by a compiled loop: the same
    probabilities as ``predict_proba`` without its per-call overhead (about 1 ms), which a quoter pays every tick."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    roots: np.ndarray
    baseline: float

    @classmethod
    def of(cls, model: Any) -> _Forest:
        trees = [predictors[0].nodes for predictors in model._predictors]
        offsets = np.cumsum([0] + [len(t) for t in trees[:-1]]).astype(np.int64)
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, [len(t) for t in trees])
        return cls(nodes["feature_idx"].astype(np.int64), nodes["num_threshold"].astype(np.float64),
                   nodes["left"].astype(np.int64) + shift, nodes["right"].astype(np.int64) + shift,
                   nodes["is_leaf"].astype(np.bool_), nodes["value"].astype(np.float64),
                   nodes["missing_go_to_left"].astype(np.bool_), offsets,
                   float(np.ravel(model._baseline_prediction)[0]))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The trees as named plain arrays, for a model file's body."""
        return {prefix + f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str, n_features: int) -> _Forest:
        """The trees read back from a model file's body, checked so that evaluating them can only read inside the
        arrays and always ends at a leaf (every child's index above its parent's, as scikit-learn numbers them)."""
        kinds = {"feature": np.int64, "left": np.int64, "right": np.int64, "roots": np.int64, "threshold": np.float64,
                 "value": np.float64, "baseline": np.float64, "leaf": np.bool_, "missing_left": np.bool_}
        try:
            values = {name: np.asarray(arrays[prefix + name]) for name in kinds}
        except KeyError as exc:
            raise ModelError(f"model body lacks {exc.args[0]}") from None
        for name, kind in kinds.items():
            if values[name].dtype != kind:
                raise ModelError(f"model body: {prefix}{name} is {values[name].dtype}, expected {np.dtype(kind)}")
        n, inner = len(values["leaf"]), ~values["leaf"]
        nodes = np.arange(n)
        sane = (all(values[k].shape == (n,) for k in ("feature", "left", "right", "threshold", "value",
                                                      "missing_left"))
                and values["baseline"].shape == () and values["roots"].ndim == 1
                and ((values["roots"] >= 0) & (values["roots"] < n)).all()
                and ((values["feature"][inner] >= 0) & (values["feature"][inner] < n_features)).all()
                and all(((values[k][inner] > nodes[inner]) & (values[k][inner] < n)).all() for k in ("left", "right")))
        if not sane:
            raise ModelError(f"model body: the {prefix.rstrip('_')} trees' node indices are out of range")
        values["baseline"] = float(values["baseline"])
        return cls(**values)

    def proba(self, X: np.ndarray) -> np.ndarray:
        raw = np.empty(len(X), dtype=np.float64)
        _forest_kernel()(X, self.feature, self.threshold, self.left, self.right, self.leaf, self.value,
                         self.missing_left, self.roots, self.baseline, raw)
        return 1.0 / (1.0 + np.exp(-raw))


class _Constant:
    """The base rate, for a label with a single class in the training data (no model can rank it)."""

    def __init__(self, rate: float):
        self.rate = rate

    def proba(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.rate)


class FillPredictor:
    """Two classifiers over :data:`FEATURES` (or the features given): P(the level fills within the horizon) on every
    row, and P(a fill is adverse: marked to mid after the adverse horizon it lost money) on the filled rows.

    ``train(X, y)``: ``X`` a DataFrame, a mapping of columns or a 2-D array in feature order; ``y`` a DataFrame or
    mapping with columns ``filled`` (0/1) and ``adverse`` (0/1, NaN where not filled), or a 2-column array in that
    order. ``predict(X)`` returns ``(fill_prob, adverse_selection_risk)`` arrays. Fitting uses ``threads`` OpenMP
    threads (1 by default: a sweep's launcher already runs jobs in parallel, and OpenMP threads competing for busy
    cores make a fit many times slower).
    """

    def __init__(self, features: Sequence[str] = FEATURES, info: Mapping[str, Any] | None = None,
                 threads: int | None = 1, **params: Any):
        self.features = tuple(features)
        self.info: dict[str, Any] = dict(info or {})
        self.threads = threads  # OpenMP threads while fitting; None: all cores
        self.params = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 200,
                       "l2_regularization": 1.0, "early_stopping": False, "random_state": 0, **params}
        self.fill_model: Any = None
        self.adverse_model: Any = None
        self._fill: _Forest | _Constant | None = None
        self._adverse: _Forest | _Constant | None = None

    def train(self, X: Any, y: Any) -> FillPredictor:
        """Fit both classifiers; returns self."""
        matrix = _as_matrix(X, self.features)
        if hasattr(y, "columns") or isinstance(y, Mapping):
            filled, adverse = (np.asarray(y[c], dtype=np.float64) for c in ("filled", "adverse"))
        else:
            labels = np.asarray(y, dtype=np.float64)
            filled, adverse = labels[:, 0], labels[:, 1]
        if len(filled) != len(matrix):
            raise ModelError(f"{len(matrix)} feature rows but {len(filled)} labels")
        self.fill_model, self._fill = self._fit(matrix, filled)
        known = (filled > 0) & ~np.isnan(adverse)
        self.adverse_model, self._adverse = self._fit(matrix[known], adverse[known])
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, _Forest | _Constant]:
        from sklearn.ensemble import HistGradientBoostingClassifier

        if len(y) == 0:
            raise ModelError("no rows to train on")
        if len(np.unique(y)) < 2:
            return None, _Constant(float(y[0]))
        unknown = np.isnan(X).all(axis=0)  # a feature the venue never knows (queue_usd on candles): never split on
        if unknown.any():
            X = np.where(unknown, 0.0, X)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="openmp"):
            model = HistGradientBoostingClassifier(**self.params).fit(X, y.astype(np.int64))
        return model, _Forest.of(model)

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(fill_prob, adverse_selection_risk)`` for each row of ``X``."""
        if self._fill is None or self._adverse is None:
            raise ModelError("the predictor is not trained")
        matrix = np.ascontiguousarray(_as_matrix(X, self.features))
        return self._fill.proba(matrix), self._adverse.proba(matrix)

    def save(self, path: str | Path) -> Path:
        """Write the model file: a JSON header line, then the trees as plain arrays (see the module doc)."""
        from importlib.metadata import version

        if self._fill is None or self._adverse is None:
            raise ModelError("the predictor is not trained")
        arrays, constants = {}, {}
        for name, part in (("fill", self._fill), ("adverse", self._adverse)):
            if isinstance(part, _Constant):
                constants[name] = part.rate
            else:
                arrays.update(part.arrays(name + "_"))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        body = buffer.getvalue()
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "botmm": version("botmm"),
                  "features": list(self.features), "info": self.info, "params": self.params, "constants": constants,
                  "body_sha256": hashlib.sha256(body).hexdigest(), "body_bytes": len(body)}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(json.dumps(header).encode() + b"\n" + body)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, features: Sequence[str] | None = None) -> FillPredictor:
        """Read a model file; :class:`ModelError` in one line naming the file when it cannot be used (see the
        module doc), or (when ``features`` is given) was trained on other features. Nothing in it is executed."""
        path = Path(path)
        try:
            first, _, body = path.read_bytes().partition(b"\n")
        except OSError as exc:
            raise ModelError(f"{path}: {exc.strerror or exc}") from None
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ModelError(f"{path}: not a botmm fill model")
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{path}: fill-model format {header.get('format_version')}, this botmm reads "
                             f"format {FORMAT_VERSION}; retrain it with botmm train")
        if len(body) != header.get("body_bytes") or hashlib.sha256(body).hexdigest() != header.get("body_sha256"):
            raise ModelError(f"{path}: the model body does not match its checksum (truncated or altered); "
                             f"retrain it with botmm train")
        saved = tuple(header.get("features", ()))
        if features is not None and saved != tuple(features):
            raise ModelError(f"{path}: trained on features [{', '.join(saved)}], expected "
                             f"[{', '.join(features)}]; retrain it with botmm train")
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            constants = header.get("constants", {})
            parts = {name: _Constant(float(constants[name])) if name in constants
                     else _Forest.from_arrays(arrays, name + "_", len(saved)) for name in ("fill", "adverse")}
            predictor = cls(saved, header.get("info"), **header.get("params", {}))
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from None
        except Exception as exc:  # whatever a foreign body makes numpy raise: still one line, nothing run
            raise ModelError(f"{path}: unreadable model body ({type(exc).__name__}: {exc})") from None
        predictor._fill, predictor._adverse = parts["fill"], parts["adverse"]
        return predictor


def check_use(predictor: FillPredictor, path: str | Path, venue: str, symbol: str, adverse_horizon_ms: int,
              force: bool = False) -> None:
    """Refuse (:class:`ModelError`, one line) a model trained on another venue kind (``candle``/``orderbook``),
    another symbol or another adverse horizon than the job's, and, unless ``force``, one that ``botmm train`` did not
    find useful (its adverse classifier did not beat the base rate and the distance-to-mid logistic on both Brier
    score and AUC, out of sample)."""
    info = predictor.info
    for key, want in (("venue", venue), ("symbol", symbol), ("adverse_horizon_ms", adverse_horizon_ms)):
        if info.get(key) != want:
            raise ModelError(f"{path}: trained for {key} {info.get(key)}, this job's is {want}; train one for it")
    if not force and not info.get("useful", {}).get("adverse"):
        raise ModelError(f"{path}: botmm train found its adverse-fill predictions no better than the baselines out "
                         f"of sample (train_report.json); quoter.force_model=true uses it anyway")


class FillFilter:
    """Widens or drops the levels of a quote whose predicted adverse-selection risk exceeds ``max_risk``: each such
    level moves ``widen_bps`` further from mid (rounded away from the other side), or is dropped when ``widen_bps``
    is 0. One batched prediction per tick; ``widened`` and ``skipped`` count the levels changed."""

    def __init__(self, predictor: FillPredictor, tick: float):
        self.predictor, self.tick = predictor, tick
        self.widened = self.skipped = 0

    def apply(self, quote: Quote, inputs: QuoteInputs, max_risk: float, widen_bps: float) -> Quote:
        """The quote with its risky levels widened or dropped; unchanged when the inputs carry no market view."""
        if inputs.market is None or not (quote.bids or quote.asks):
            return quote
        _, risk = self.predictor.predict(quote_features(quote, inputs))
        risky = risk > max_risk
        if not risky.any():
            return quote
        n_bids = len(quote.bids)
        shift = widen_bps * 1e-4 * inputs.mid
        return Quote(self._side(quote.bids, risky[:n_bids], shift), self._side(quote.asks, risky[n_bids:], shift))

    def _side(self, levels: list[QuoteLevel], risky: np.ndarray, shift: float) -> list[QuoteLevel]:
        kept = []
        for level, bad in zip(levels, risky.tolist()):
            if not bad:
                kept.append(level)
            elif shift > 0:
                self.widened += 1
                if level.side is Side.BUY:
                    price = round_bid(level.price - shift, self.tick)
                    if price > 0:
                        kept.append(QuoteLevel(level.side, price, level.size))
                else:
                    kept.append(QuoteLevel(level.side, round_ask(level.price + shift, self.tick), level.size))
            else:
                self.skipped += 1
        kept.sort(key=lambda lv: -lv.price if lv.side is Side.BUY else lv.price)
        return kept
