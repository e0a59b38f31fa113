"""A third-party fill model (``tests/fill_model_package``, built into a wheel and installed like any plugin package)
is picked by ``fill_model=<name>`` and asked for the venue by ``exchange=sim``, as the built-in ones are."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jobs import cli_env
from omegaconf import OmegaConf

from botmm import registry
from botmm.config import AssetConfig
from botmm.data.l2 import KIND_SNAPSHOT, L2Events, L2Meta, MemoryL2Feed
from botmm.plugins.exchanges.sim import SimParams
from botmm.sim import replay_kernels
from botmm.sim.orderbook_fill import QUEUE_MODELS, WEIGHTINGS
from botmm.sim.replay import QUEUE_CODES, WEIGHTING_CODES

PACKAGE = Path(__file__).resolve().parent / "fill_model_package"
TICK = 0.1  # asset=eth
DEPTH = 30  # ticks a bar must trade beyond a price: 3 USD on bars moving about 9


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built with no network and installed into a target directory, not editable."""
    base = tmp_path_factory.mktemp("fill_model_plugin")
    source = base / "src"  # a copy, so pip's in-tree build leaves nothing in the repository
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--disable-pip-version-check", "-q", "--target", str(base / "site"), str(source)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    return base / "site"


def botmm(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "botmm", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)


def test_a_fill_model_from_a_package_runs_a_backtest(site: Path, tmp_path: Path, candles_csv) -> None:
    bars = candles_csv(bars=600)
    data = ["feed=candles_file", f"feed.path={bars}", "asset=eth", "quoter.spread_bps=6"]
    runs = {"candle": ["fill_model=candle"], "deep1": ["fill_model=deep", "fill_model.ticks=1"],
            "deep": ["fill_model=deep", f"fill_model.ticks={DEPTH}"]}
    with ThreadPoolExecutor(3) as pool:
        procs = dict(zip(runs, pool.map(lambda r: botmm(site, tmp_path, "backtest", *data, *runs[r],
                                                        f"hydra.run.dir={r}"), runs)))
    for proc in procs.values():
        assert proc.returncode == 0, proc.stderr[-2000:]
    fills = {r: pq.read_table(tmp_path / r / "fills.parquet") for r in runs}
    results = {r: json.loads((tmp_path / r / "result.json").read_text()) for r in runs}
    # one tick deep is the candle model's rule=through: the very same fills, figure for figure
    assert fills["deep1"].equals(fills["candle"]) and fills["candle"].num_rows > 50
    assert {k: v for k, v in results["deep1"].items() if k != "venue"} == \
        {k: v for k, v in results["candle"].items() if k != "venue"}
    # DEPTH ticks deep: fewer fills, each in a bar that traded at least DEPTH ticks beyond its price
    deep = fills["deep"].to_pylist()
    assert 0 < len(deep) < fills["candle"].num_rows
    rows = {int(r["ts"]) + 60_000: r for r in csv.DictReader(bars.open())}  # a fill is stamped at its bar's close
    for fill in deep:
        bar = rows[round(fill["ts"].timestamp() * 1000)]
        if fill["side"] == 1:
            assert float(bar["low"]) <= fill["price"] - DEPTH * TICK + 1e-9
        else:
            assert float(bar["high"]) >= fill["price"] + DEPTH * TICK - 1e-9
    assert results["deep"]["fills"] == len(deep)


def test_a_bad_key_of_a_third_party_fill_model_is_one_line(site: Path, tmp_path: Path) -> None:
    proc = botmm(site, tmp_path, "backtest", "fill_model=deep", "fill_model.ticks=0", "feed.bars=100")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == ["botmm: fill_model.ticks=0: must be >= 1"]
    assert not (tmp_path / "outputs").exists()


def test_queue_models_are_picked_by_name_and_mapped_to_the_kernel_once() -> None:
    assert list(QUEUE_CODES) == list(QUEUE_MODELS) and list(WEIGHTING_CODES) == list(WEIGHTINGS)
    assert len(set(QUEUE_CODES.values())) == len(QUEUE_CODES) and len(set(WEIGHTING_CODES.values())) == 2
    book = L2Events.build(ts_exchange=[0], ts_local=[0], kind=[KIND_SNAPSHOT], side=[1], price=[100.0], size=[1.0])
    ctx = registry.BuildContext(OmegaConf.create({"interval": "100ms", "feed": {"name": "memory"}}),
                                AssetConfig(symbol="T", tick_size=0.1, lot_size=0.001, min_notional=0.0),
                                MemoryL2Feed(book, L2Meta("T", 0.1, 0.001)))
    orderbook = registry.component("fill_model", "orderbook")
    for queue, weighting in [("risk_averse", "power"), ("prob", "log")]:
        fill = registry.params("fill_model", {"name": "orderbook", "queue": queue, "prob_weighting": weighting,
                                              "book_ticks": 64}, "fill_model")
        venue = orderbook.factory(fill, ctx, SimParams(name="sim"))
        assert venue.int_state[replay_kernels.I_QUEUE] == QUEUE_CODES[queue]
        assert venue.int_state[replay_kernels.I_WEIGHT] == WEIGHTING_CODES[weighting]
