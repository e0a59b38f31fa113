"""The wheel, installed into a fresh virtual environment and run from an unrelated directory, works: configs come
from the installed package (pkg://botmm.conf), not from the checkout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from jobs import venv_on_these_packages

from botmm.speedups import PURE_ENV

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("pyproject.toml", "README.md", "botmm", "plugins", "conf", "hydra_plugins")


def test_wheel_in_a_fresh_venv_runs_from_an_unrelated_directory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, src],
        check=True, capture_output=True, env={**os.environ, PURE_ENV: "1"},  # what ships, not the compiled core
    )
    (wheel,) = wheels.glob("botmm-*.whl")
    env_dir = tmp_path / "venv"
    python = venv_on_these_packages(env_dir)  # dependencies from this interpreter; botmm itself from the wheel
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [python, "-c", "import botmm, botmm.conf, botmm.plugins, hydra_plugins.botmm_sweeper as s; "
                       "print(botmm.__file__, botmm.conf.__file__, botmm.plugins.__file__, s.__file__)"],
        cwd=elsewhere, check=True, capture_output=True, text=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in where), where
    run = subprocess.run([env_dir / "bin" / "botmm", "backtest", "feed.bars=500"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (result,) = elsewhere.glob("outputs/backtest/*/result.json")
    assert json.loads(result.read_text())["ticks"] == 500
    sweep = subprocess.run([env_dir / "bin" / "botmm", "-m", "backtest", "feed.bars=300", "quoter.spread_bps=2,4"],
                           cwd=elsewhere, capture_output=True, text=True)
    assert sweep.returncode == 0, sweep.stderr
    assert len(list(elsewhere.glob("multirun/backtest/*/*/result.json"))) == 2
    listing = subprocess.run([env_dir / "bin" / "botmm", "plugins", "--json"], cwd=elsewhere, capture_output=True,
                             text=True, check=True).stdout
    assert {"quoter:avellaneda"} <= {c for row in json.loads(listing) for c in row["components"]}


def test_every_config_group_folder_ships_in_the_wheel():
    """Each folder of conf/ is a package with its YAML as package data: a new group left out of pyproject would be
    missing from an installed botmm (and setuptools warns about it at build time)."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    groups = {f"botmm.conf.{p.name}" for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert groups and groups <= set(setuptools["packages"]), groups - set(setuptools["packages"])
    assert all(setuptools["package-data"].get(group) == ["*.yaml"] for group in groups)
