"""Composing and running jobs in-process, the way the CLI does, for tests that need a config or a Pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from botmm.pipeline import Run, Pipeline
from botmm.registry import load_plugins
from botmm.runners.simulate import drive


def compose_job(*overrides: str, name: str = "backtest") -> DictConfig:
    load_plugins()
    with initialize_config_module("botmm.conf", version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def backtest_strategy(tmp_path: Path, *overrides: str) -> Pipeline:
    """A backtest Pipeline, already driven over its whole feed (outputs in ``tmp_path``)."""
    cfg = compose_job(*overrides)
    strategy = Pipeline(cfg, Run(cfg, "backtest", cfg.asset.symbol, tmp_path))
    drive(strategy)
    return strategy


BOTMM = [sys.executable, "-m", "botmm"]


def venv_on_these_packages(where: Path) -> Path:
    """A new venv (without pip) whose dependencies are this interpreter's installed packages, so installing into it
    needs no network, whether this interpreter is a venv or not; returns its python. A path line in a ``.pth`` puts
    them after the venv's own, and leaves their ``.pth`` files unprocessed (this checkout's editable botmm too)."""
    import venv

    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    nested = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    outer = dict.fromkeys(p for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))  # .pth-added too
    (Path(nested) / "outer_site_packages.pth").write_text("".join(f"{path}\n" for path in outer))
    return python


def cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess: Hydra's own error reporting, tables wide enough to read back."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)  # would change how Hydra reports errors
    env["COLUMNS"] = "250"  # rich tables wide enough that no cell is elided
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``botmm <args>`` as a user would, in ``cwd`` (where Hydra writes outputs/ and multirun/)."""
    return subprocess.run([*BOTMM, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout)


def last_sweep(cwd: Path, name: str = "backtest") -> Path:
    return max((cwd / "multirun" / name).iterdir(), key=lambda p: p.stat().st_mtime)


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
