"""Shared fixtures: the shared data folder (real market data beside the repository) and small candle CSVs."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

SHARED_DATA_ENV = "BOTMM_SHARED_DATA"
# `botmm run` serves its status page on port 8787 by default: the suite's runs (and suites run side by side) take
# any free port instead, so they never collide
os.environ.setdefault("BOTMM_STATUS_PORT", "0")
T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SHARED_DATA_ORIGIN = (
    "public captures and candles from hftbacktest's examples and nautilus_trader's test data, "
    "kept in a shared data folder beside the repository as ../shared/data, or where $BOTMM_SHARED_DATA points; "
    "README.md, 'Tests and real data'"
)


@pytest.fixture(scope="session", autouse=True)
def risk_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where wall-clock runs of the suite keep their risk limits (``risk.state_dir``): a fresh folder, never the
    user's ``~/.botmm/state`` (a paused breaker or a day's loss must not leak between tests or into a home)."""
    from botmm.config import STATE_DIR_ENV

    folder = tmp_path_factory.mktemp("risk_state")
    os.environ[STATE_DIR_ENV] = str(folder)
    return folder


def shared_folder() -> Path:
    """The shared data folder: ``$BOTMM_SHARED_DATA`` if set, else ``shared/data`` beside the repository."""
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A file of the shared data folder; skips the calling test, saying where the data comes from, when absent."""
    path = shared_folder() / relative
    if not path.is_file():
        pytest.skip(f"real data absent: {path} ({SHARED_DATA_ORIGIN})")
    return path


def shared_file_or_none(relative: str) -> Optional[Path]:
    """A file of the shared data folder, None when absent (for tests that fall back to generated data)."""
    path = shared_folder() / relative
    return path if path.is_file() else None


@pytest.fixture
def candles_csv(tmp_path: Path) -> Callable[..., Path]:
    """A factory writing a small valid 1-minute candle CSV (ts in ms, open/high/low/close/volume) into tmp_path.

    ``bad_close_row`` puts text in the close column of that 0-based data row: the file exists and has the right
    header, so only reading the data finds the problem.
    """

    def write(name: str = "candles.csv", bars: int = 300, bad_close_row: Optional[int] = None) -> Path:
        lines = ["ts,open,high,low,close,volume"]
        price = 3000.0
        for i in range(bars):
            # a deterministic zig-zag with a drift: bars move 0.05 %-0.3 %, enough for quotes to be traded through
            close = price * (1.0 + 0.003 * math.sin(i * 1.7) + 0.0005 * math.cos(i * 0.31))
            high = max(price, close) * 1.001
            low = min(price, close) * 0.999
            close_text = "oops" if i == bad_close_row else f"{close:.2f}"
            lines.append(f"{T0_MS + i * 60_000},{price:.2f},{high:.2f},{low:.2f},{close_text},{40 + i % 17}.5")
            price = round(close, 2)
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


@pytest.fixture
def candles_dataset(tmp_path: Path, candles_csv: Callable[..., Path]) -> Callable[..., Path]:
    """A factory writing a candles dataset root (``feed=candles feed.root=<root>``) holding the ETH 1-minute bars of
    ``candles_csv``. ``broken=True`` writes a month file that is not Parquet: the series folder has the file a config
    check looks for, so only the job, reading it, finds the problem."""
    from botmm.data.candles import read_candles
    from botmm.data.dataset import FIELDS, dataset_dir, write_bars

    def write(name: str, broken: bool = False) -> Path:
        root = tmp_path / name
        directory = dataset_dir(root, "hyperliquid", "ETH", "1m")
        directory.mkdir(parents=True)
        if broken:
            (directory / "2024-01.parquet").write_text("not parquet\n")
        else:
            bars = read_candles(candles_csv(f"{name}.csv"))
            write_bars(directory, {f: getattr(bars, f) for f in FIELDS}, bars.bar_ms, name)
        return root

    return write


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Put the root logger's handlers and level back after a test that sets up logging."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)
