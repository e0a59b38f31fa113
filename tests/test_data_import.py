"""``botmm data import``: a candle file into the candles dataset, read back by ``feed=candles``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from jobs import cli

from botmm.data.candles import read_candles
from botmm.data.dataset import dataset_dir, read_dataset


def test_import_then_backtest_on_the_dataset(tmp_path: Path, candles_csv) -> None:
    csv = candles_csv(bars=300)
    args = ["data", "import", str(csv), "--venue", "mine", "--symbol", "ETH", "--root", "data"]
    first = cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    directory = dataset_dir(tmp_path / "data", "mine", "ETH", "1m")
    into = Path("data/candles/mine/ETH/1m")
    assert first.stdout.strip() == f"imported 300 bars from {csv} into {into}: 300 added, 0 replaced"
    batches, source = list(read_dataset(directory, 60_000)), read_candles(csv)
    for field in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(np.concatenate([getattr(b, field) for b in batches]), getattr(source, field))
    again = cli(tmp_path, *args)
    assert again.returncode == 0 and again.stdout.strip().endswith(": 0 added, 0 replaced")
    run = cli(tmp_path, "backtest", "feed=candles", "feed.root=data", "feed.venue=mine", "hydra.run.dir=bt")
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads((tmp_path / "bt" / "result.json").read_text())["ticks"] == 300


def test_a_bad_file_is_refused_in_one_line(tmp_path: Path, candles_csv) -> None:
    csv = candles_csv(bad_close_row=5)
    proc = cli(tmp_path, "data", "import", str(csv), "--venue", "mine", "--symbol", "ETH")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"botmm: {csv}") and "close" in lines[0]
    assert not (tmp_path / "data").exists()
