"""The fill predictor: training, the compiled forest, save/load with version checks, the quoter's filter and
``botmm train`` on generated replay data (synthetic, and the shared real Binance capture when present)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from jobs import BOTMM, backtest_strategy, cli, cli_env

from botmm.errors import ConfigError
from botmm.ml.predictor import FEATURES, FORMAT_VERSION, FillFilter, FillPredictor, ModelError, quote_features
from botmm.model import Market, Quote, QuoteLevel, Side
from botmm.plugins.quoters.avellaneda import AvellanedaParams, AvellanedaQuoter
from botmm.protocols import QuoteInputs
from botmm.rounding import round_ask, round_bid
from conftest import shared_file


def synthetic_rows(n: int = 6000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows where fills get likelier near mid and every bid fill is adverse, every ask fill not."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(FEATURES)))
    X[:, 0] = np.where(rng.random(n) < 0.5, 1.0, -1.0)  # side
    X[:, 2] = rng.random(n) * 10  # distance_bps
    X[rng.random(n) < 0.2, 9] = np.nan  # queue_usd sometimes unknown
    filled = (rng.random(n) < np.exp(-X[:, 2] / 3)).astype(float)
    adverse = np.where(filled > 0, (X[:, 0] > 0).astype(float), np.nan)
    return X, np.column_stack([filled, adverse])


FOR_ETH_CANDLES = {"venue": "candle", "symbol": "ETH", "adverse_horizon_ms": 5000, "useful": {"adverse": True}}
"""What the test model claims: trained on the candle venue for ETH, judged useful by botmm train."""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = synthetic_rows()
    return FillPredictor(info=FOR_ETH_CANDLES).train(X, y).save(tmp_path_factory.mktemp("model") / "fill_model.bmm")


def test_trained_model_ranks_fills_and_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    X, y = synthetic_rows()
    predictor = FillPredictor().train(X[:4000], y[:4000])
    fill, risk = predictor.predict(X[4000:])
    assert roc_auc_score(y[4000:, 0], fill) > 0.75
    assert risk[X[4000:, 0] > 0].min() > 0.9 and risk[X[4000:, 0] < 0].max() < 0.1
    # the compiled forest gives scikit-learn's own probabilities
    np.testing.assert_allclose(fill, predictor.fill_model.predict_proba(X[4000:])[:, 1], atol=1e-12)
    np.testing.assert_allclose(risk, predictor.adverse_model.predict_proba(X[4000:])[:, 1], atol=1e-12)


def test_save_load_round_trip(model_file: Path) -> None:
    X, _ = synthetic_rows(500, seed=9)
    loaded = FillPredictor.load(model_file, FEATURES)
    again = FillPredictor.load(model_file)
    assert loaded.features == FEATURES
    np.testing.assert_array_equal(loaded.predict(X)[0], again.predict(X)[0])
    trained = FillPredictor().train(*synthetic_rows())
    np.testing.assert_array_equal(loaded.predict(X)[0], trained.predict(X)[0])
    np.testing.assert_array_equal(loaded.predict(X)[1], trained.predict(X)[1])
    np.testing.assert_allclose(loaded.predict(X)[0], trained.fill_model.predict_proba(X)[:, 1], atol=1e-12)


def _rewrite_header(src: Path, dst: Path, **changes: object) -> Path:
    header, _, body = src.read_bytes().partition(b"\n")
    fields = json.loads(header)
    fields.update(changes)
    dst.write_bytes(json.dumps(fields).encode() + b"\n" + body)
    return dst


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[:-100])
    return dst


def _altered(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[-200] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def _rehashed(src: Path, dst: Path, change) -> Path:
    """A copy whose body arrays ``change`` edits, with a matching checksum: what a forger would write."""
    import hashlib
    import io

    header, _, body = src.read_bytes().partition(b"\n")
    with np.load(io.BytesIO(body)) as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    change(arrays)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return _with_body(header, out.getvalue(), dst)


def _with_body(header: bytes, body: bytes, dst: Path) -> Path:
    import hashlib

    fields = json.loads(header)
    fields.update(body_sha256=hashlib.sha256(body).hexdigest(), body_bytes=len(body))
    dst.write_bytes(json.dumps(fields).encode() + b"\n" + body)
    return dst


def _looping(arrays: dict) -> None:  # a node whose child is itself: evaluation would never end
    inner = np.flatnonzero(~arrays["fill_leaf"])[0]
    arrays["fill_left"][inner] = inner


def _reading_past_the_end(arrays: dict) -> None:  # a compiled loop does not check bounds
    inner = np.flatnonzero(~arrays["fill_leaf"])[0]
    arrays["fill_right"][inner] = 10**9


def test_incompatible_models_are_refused_in_one_line(model_file: Path, tmp_path: Path) -> None:
    cases = [
        (_rewrite_header(model_file, tmp_path / "old.bmm", format_version=FORMAT_VERSION - 1),
         rf"fill-model format {FORMAT_VERSION - 1}, this botmm reads format {FORMAT_VERSION}; retrain"),
        (_truncated(model_file, tmp_path / "cut.bmm"), r"cut.bmm: the model body does not match its checksum"),
        (_altered(model_file, tmp_path / "edit.bmm"), r"edit.bmm: the model body does not match its checksum"),
        (_rehashed(model_file, tmp_path / "loop.bmm", _looping),
         r"loop.bmm: model body: the fill trees' node indices are out"),
        (_rehashed(model_file, tmp_path / "far.bmm", _reading_past_the_end),
         r"far.bmm: model body: the fill trees' node indices are out of range"),
        (_rewrite_header(model_file, tmp_path / "feat.bmm", features=["side", "spread_bps"]),
         r"trained on features \[side, spread_bps\], expected \[side, level, distance_bps"),
    ]
    for path, message in cases:
        with pytest.raises(ModelError, match=message) as info:
            FillPredictor.load(path, FEATURES)
        assert "\n" not in str(info.value)
    (tmp_path / "junk.bmm").write_text("hello\n")
    with pytest.raises(ModelError, match="not a botmm fill model"):
        FillPredictor.load(tmp_path / "junk.bmm")
    with pytest.raises(ModelError, match="No such file"):
        FillPredictor.load(tmp_path / "missing.bmm")


def _inputs() -> QuoteInputs:
    market = Market(1_704_067_200_000, 2999.9, 3000.1, 3000.0, 3001.0, 2999.0, 3000.0, 5.0, 2.0, 2.0)
    return QuoteInputs(mid=3000.0, vol=0.0005, market=market)


def test_filter_skips_or_widens_the_risky_side(model_file: Path) -> None:
    quote = Quote([QuoteLevel(Side.BUY, 2998.5, 0.1), QuoteLevel(Side.BUY, 2997.9, 0.1)],
                  [QuoteLevel(Side.SELL, 3001.5, 0.1), QuoteLevel(Side.SELL, 3002.1, 0.1)])
    features = quote_features(quote, _inputs())
    assert features[:, 0].tolist() == [1, 1, -1, -1] and features[:, 1].tolist() == [0, 1, 0, 1]
    assert features[0, 2] == pytest.approx(5.0)  # (3000 - 2998.5) / 3000 in bps
    filt = FillFilter(FillPredictor.load(model_file, FEATURES), tick=0.1)
    skipped = filt.apply(quote, _inputs(), max_risk=0.5, widen_bps=0.0)
    assert skipped.bids == [] and skipped.asks == quote.asks and filt.skipped == 2
    widened = filt.apply(quote, _inputs(), max_risk=0.5, widen_bps=2.0)
    assert [lv.price for lv in widened.bids] == [round_bid(2998.5 - 0.6, 0.1), round_bid(2997.9 - 0.6, 0.1)]
    assert widened.asks == quote.asks and filt.widened == 2
    assert filt.apply(quote, _inputs(), max_risk=1.0, widen_bps=0.0) is quote  # nothing above a risk of 1


def test_avellaneda_option(model_file: Path, tmp_path: Path) -> None:
    base = AvellanedaParams(name="avellaneda", num_levels=2)
    on = AvellanedaParams(name="avellaneda", num_levels=2, fill_model_filter=True, model_path=str(model_file),
                          widen_bps=3.0, max_adverse_risk=0.5)
    plain = AvellanedaQuoter(base, 0.1, 0.0001, "candle", "ETH").quote(_inputs())
    filtered = AvellanedaQuoter(on, 0.1, 0.0001, "candle", "ETH").quote(_inputs())
    assert filtered.asks == plain.asks
    assert [lv.price for lv in filtered.bids] == [round_bid(lv.price - 0.9, 0.1) for lv in plain.bids]
    assert round_ask(plain.asks[0].price, 0.1) == plain.asks[0].price
    with pytest.raises(Exception, match="model_path=None: must name a model file"):
        AvellanedaParams(name="avellaneda", fill_model_filter=True)
    wrong = _rewrite_header(model_file, tmp_path / "wrong.bmm", features=["side"])
    with pytest.raises(ConfigError, match=r"^quoter.model_path: .*wrong.bmm: trained on features \[side\]"):
        AvellanedaQuoter(AvellanedaParams(name="avellaneda", fill_model_filter=True, model_path=str(wrong)), 0.1,
                         0.0001, "candle", "ETH")


def test_feature_mismatch_refused_by_the_cli_in_one_line(model_file: Path, tmp_path: Path) -> None:
    wrong = _rewrite_header(model_file, tmp_path / "wrong.bmm", features=["side", "level"])
    proc = cli(tmp_path, "backtest", "feed.bars=100", "quoter.fill_model_filter=true", f"quoter.model_path={wrong}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"botmm: quoter.model_path: .*wrong.bmm: trained on features \[side, level\], "
                                        r"expected \[side, level, distance_bps", lines[0]), proc.stderr


def _held_out_report(proc, out: Path) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "train_report.json").read_text())
    assert re.search(r"held-out rows from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                     proc.stdout)
    assert f"fill within horizon: AUC {report['fill']['auc']:.4f}" in proc.stdout
    assert "calibration: fill within horizon (held out)" in proc.stdout and "predicted" in proc.stdout
    assert report["test_from_ms"] > 0 and report["train_rows"] > report["test_rows"] > 0
    loaded = FillPredictor.load(report["model"], FEATURES)
    assert loaded.info["venue"] == "orderbook" and loaded.info["held_out"]["fill"] == report["fill"]["auc"]
    for name in ("fill", "adverse"):
        judged = report[name]
        assert loaded.info["useful"][name] is judged["useful"]
        assert judged["baselines"]["base_rate"]["auc"] == 0.5 and judged["baselines"]["base_rate"]["rows"] == \
            judged["rows"]
        best = judged["baselines"]
        assert judged["useful"] == (judged["brier"] < min(b["brier"] for b in best.values())
                                    and judged["auc"] > max(b["auc"] for b in best.values()))
        auc = judged["baselines"]["distance_logistic"]["auc"]
        assert f"baseline distance_logistic: AUC {auc}" in proc.stdout
    return report


def test_train_cli_on_synthetic_replay_data(tmp_path: Path) -> None:
    out = tmp_path / "train"
    shadow = tmp_path / "no_pandas" / "pandas"  # as on an install without pandas: importing it fails
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pandas'\", name='pandas')\n")
    env = {**cli_env(), "PYTHONPATH": str(shadow.parent)}
    proc = subprocess.run([*BOTMM, "train", "feed.duration=4m", f"hydra.run.dir={out}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    report = _held_out_report(proc, out)
    # synthetic Poisson flow carries little signal (docs/ml.md): the report is checked, not the model's skill
    assert report["venue"] == "orderbook" and 0.0 < report["fill"]["auc"] < 1.0
    assert sum(row["rows"] for row in report["fill"]["calibration"]) == report["test_rows"]
    assert report["fill"]["base_rate"] == pytest.approx(
        sum(row["rows"] * row["observed"] for row in report["fill"]["calibration"]) / report["test_rows"], abs=1e-3)


def test_train_cli_on_real_binance_replay(tmp_path: Path) -> None:
    from botmm.data.convert import convert_binance

    capture = shared_file("binance_usdm/btcusdt_20240808.gz")
    convert_binance(capture, tmp_path / "orderbook")
    out = tmp_path / "train"
    proc = cli(tmp_path, "train", "feed=l2_file", f"feed.path={tmp_path / 'orderbook' / 'BTCUSDT'}", "asset=btc",
               "quoter.spread_bps=0.5", "quoter.num_levels=5", "quoter.level_spacing_bps=0.5", f"hydra.run.dir={out}")
    report = _held_out_report(proc, out)
    assert report["symbol"] == "BTC" and report["fill"]["auc"] > 0.65  # measured 0.73 (docs/ml.md)


class _Touch:
    """Unpickling this creates a file: what a forged pickle does, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _forgeries(model_file: Path, folder: Path, marker: Path) -> list[Path]:
    """Model files that would run code if unpickled: the old pickle format, a pickle passed off as the new body, and
    an ``.npz`` body holding an object array (which numpy would unpickle)."""
    import pickle

    payload = pickle.dumps({"params": {}, "fill": _Touch(marker), "adverse": None})
    header = model_file.read_bytes().partition(b"\n")[0]
    folder.mkdir(exist_ok=True)
    old = _rewrite_header(model_file, folder / "v1.bmm", format_version=1)
    old.write_bytes(old.read_bytes().partition(b"\n")[0] + b"\n" + payload)
    buffer = __import__("io").BytesIO()
    np.savez(buffer, fill_feature=np.array([_Touch(marker)], dtype=object))
    return [old, _with_body(header, payload, folder / "pickle.bmm"), _with_body(header, buffer.getvalue(),
                                                                               folder / "object.bmm")]


def test_a_forged_model_file_runs_nothing_when_loaded(model_file: Path, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"
    forged = _forgeries(model_file, tmp_path / "forged", marker)
    pickle.loads(forged[1].read_bytes().partition(b"\n")[2])  # the forgery is real: unpickled, it runs code
    assert marker.is_file()
    marker.unlink()
    expected = [r"v1.bmm: fill-model format 1, this botmm reads format 2",
                r"pickle.bmm: unreadable model body \(ValueError: .*pickled",
                r"object.bmm: unreadable model body \(ValueError: .*[Oo]bject arrays"]
    for path, message in zip(forged, expected):
        with pytest.raises(ModelError, match=message) as info:
            FillPredictor.load(path, FEATURES)
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_forged_model_is_refused_by_botmm_backtest(model_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for path in _forgeries(model_file, tmp_path / "forged", marker):
        proc = cli(tmp_path, "backtest", "feed.bars=100", "quoter.fill_model_filter=true",
                   f"quoter.model_path={path}")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"botmm: quoter.model_path: {path}: ")
    assert not marker.exists()


def test_hot_reload_of_a_forged_or_broken_model_keeps_the_old_one(model_file: Path, tmp_path: Path, caplog) -> None:
    marker = tmp_path / "pwned"
    for path in [*_forgeries(model_file, tmp_path / "forged", marker), _truncated(model_file, tmp_path / "cut.bmm")]:
        params = tmp_path / "live_params.yaml"
        params.write_text(f"quoter:\n  model_path: {path}\n")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="botmm.plugins.quoters.avellaneda"):
            strategy = backtest_strategy(tmp_path / path.stem, "feed.bars=300", "quoter.fill_model_filter=true",
                                         f"quoter.model_path={model_file}", f"strategy.params_file={params}")
        quoter = strategy.quoter
        assert quoter.params.model_path == str(path)  # the reload happened ...
        np.testing.assert_array_equal(quoter.filter.predictor.predict(np.zeros((1, len(FEATURES))))[1],
                                      FillPredictor.load(model_file).predict(np.zeros((1, len(FEATURES))))[1])
        errors = [r.getMessage() for r in caplog.records]
        assert len(errors) == 1 and errors[0].startswith(f"quoter.model_path: {path}: ") and \
            errors[0].endswith("; keeping the previous model") and "\n" not in errors[0]
    assert not marker.exists()


@pytest.mark.parametrize("change, override, message", [
    ({"symbol": "BTC"}, (), r"trained for symbol BTC, this job's is ETH; train one for it"),
    ({"venue": "orderbook"}, (), r"trained for venue orderbook, this job's is candle"),
    ({"adverse_horizon_ms": 5000}, ("quoter.model_horizon=1m",), r"trained for adverse_horizon_ms 5000, this job's is "
                                                                  r"60000"),
    ({"useful": {"adverse": False}}, (), r"botmm train found its adverse-fill predictions no better than the "
                                         r"baselines out of sample \(train_report.json\); quoter.force_model=true"),
])
def test_the_filter_refuses_a_model_not_made_for_the_job(model_file, tmp_path, change, override, message) -> None:
    info = json.loads(model_file.read_bytes().partition(b"\n")[0])["info"]
    path = _rewrite_header(model_file, tmp_path / "other.bmm", info={**info, **change})
    proc = cli(tmp_path, "backtest", "feed.bars=100", "quoter.fill_model_filter=true", f"quoter.model_path={path}",
               *override)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and re.match(rf"botmm: quoter.model_path: {path}: {message}",
                                                                 lines[0]), proc.stderr


def test_force_model_uses_a_model_that_did_not_beat_the_baselines(model_file, tmp_path) -> None:
    info = json.loads(model_file.read_bytes().partition(b"\n")[0])["info"]
    path = _rewrite_header(model_file, tmp_path / "weak.bmm", info={**info, "useful": {"adverse": False},
                                                                   "max_adverse_risk": 0.5})
    params = AvellanedaParams(name="avellaneda", num_levels=2, fill_model_filter=True, model_path=str(path),
                              force_model=True)
    quoter = AvellanedaQuoter(params, 0.1, 0.0001, "candle", "ETH")
    plain = AvellanedaQuoter(AvellanedaParams(name="avellaneda", num_levels=2), 0.1, 0.0001).quote(_inputs())
    filtered = quoter.quote(_inputs())  # the training-window threshold (0.5) applies: the bids are adverse
    assert filtered.bids == [] and filtered.asks == plain.asks and quoter.filter.skipped == 2


def test_the_threshold_is_the_one_whose_kept_training_fills_made_the_most() -> None:
    from botmm.ml.training import training_threshold

    X, y = synthetic_rows()
    predictor = FillPredictor().train(X, y)  # rates every bid fill adverse (risk > 0.9), every ask fill not (< 0.1)
    markout = np.where(X[:, 0] > 0, -2.0, 1.0)  # bid fills lose, ask fills earn
    risk = predictor.predict(X)[1]
    assert risk[X[:, 0] > 0].min() > 0.95 and risk[X[:, 0] < 0].max() < 0.05
    assert training_threshold(predictor, X, markout) == 0.95  # the highest that keeps the asks and drops the bids
    assert training_threshold(predictor, X, np.abs(markout)) == 1.0  # every fill earned: keep them all
    assert training_threshold(predictor, X[:0], markout[:0]) is None
