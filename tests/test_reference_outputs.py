"""Reference runs whose outputs must stay bit-for-bit the same through refactors and speed work (issues 15 and 16):
fills, equity, daily stats and result.json of a candle backtest on the real FTX month, a month-long synthetic run
of the adaptive strategy, and an order-book replay of synthetic L2, each at defaults.

Each output file is reduced to a SHA-256 of its values (floats by their exact hex form, Parquet column by column),
compared with ``reference_outputs.json``. A change that moves any output on purpose regenerates that file with
``BOTMM_WRITE_REFERENCE=1 python -m pytest tests/test_reference_outputs.py`` and says why in its commit message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import shared_file
from jobs import compose_job

from botmm.runners.simulate import backtest

REFERENCE = Path(__file__).with_name("reference_outputs.json")
FTX = "candles/ftx_btc-perp_20211231-20220201_1m.csv"
OUTPUTS = ("fills.parquet", "equity.parquet", "daily_stats.json", "result.json")

RUNS: dict[str, tuple[str, list[str]]] = {
    "ftx_month_defaults": ("backtest", ["feed=candles_file", "feed.volume_unit=quote", "asset=btc"]),  # + feed.path
    "synthetic_adaptive": ("backtest", ["feed.bars=20000", "strategy=adaptive"]),
    "synthetic_l2_replay": ("replay", ["feed.duration=0.1h", "interval=100ms"]),
}


def _canonical(value: Any) -> Any:
    """JSON-able and exact: floats as their hex form, so 0.1 + 0.2 and 0.3 differ."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(value), sort_keys=True, default=str).encode()).hexdigest()


def digests(run_dir: Path) -> dict[str, str]:
    """One digest per output file, and per column of the Parquet ones (so a mismatch names the column)."""
    found: dict[str, str] = {}
    for name in OUTPUTS:
        path = run_dir / name
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            for column in table.column_names:
                found[f"{name}:{column}"] = _digest(table.column(column).to_pylist())
        else:
            found[name] = _digest(json.loads(path.read_text()))
    return found


@pytest.mark.parametrize("run", sorted(RUNS))
def test_outputs_match_the_reference(run: str, tmp_path: Path) -> None:
    name, overrides = RUNS[run]
    if run.startswith("ftx"):
        overrides = [*overrides, f"feed.path={shared_file(FTX)}"]  # skips, saying where the data comes from, if absent
    backtest(compose_job(*overrides, "progress=false", name=name), tmp_path)
    found = digests(tmp_path)
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    if os.environ.get("BOTMM_WRITE_REFERENCE") == "1":
        reference[run] = found
        REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    expected = reference[run]
    changed = sorted(key for key in expected.keys() | found.keys() if expected.get(key) != found.get(key))
    assert not changed, f"{run}: outputs differ from the reference in {changed}"
