"""The example third-party plugin, built and installed as a wheel (not editable) into a temporary directory, then used
through the ``botmm`` command line in subprocesses: discovery, ConfigStore schemas, YAML presets, one-line errors and
``BOTMM_DISABLE_PLUGINS``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "botmm-demo-plugin"
BARS = "feed.bars=3000"


@dataclass
class Backtest:
    proc: subprocess.CompletedProcess
    result: dict
    config: DictConfig


class Cli:
    """``python -m botmm`` in a subprocess whose PYTHONPATH holds the installed demo plugin (repr kept short, so a
    failing test never prints the environment)."""

    def __init__(self, site: Path):
        self.env = {k: v for k, v in os.environ.items() if k != "BOTMM_DISABLE_PLUGINS"}
        paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env["PYTHONPATH"] = os.pathsep.join(paths)

    def __repr__(self) -> str:
        return f"Cli(PYTHONPATH={self.env['PYTHONPATH']!r})"

    def __call__(self, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "botmm", *args], cwd=cwd, env={**self.env, **env},
                              capture_output=True, text=True, timeout=120)

    def backtest(self, cwd: Path, *overrides: str) -> Backtest:
        proc = self(cwd, "backtest", *overrides)
        assert proc.returncode == 0, proc.stderr
        (out,) = (cwd / "outputs" / "backtest").glob("*/result.json")
        return Backtest(proc, json.loads(out.read_text()), OmegaConf.load(out.parent / ".hydra" / "config.yaml"))


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The demo plugin built into a wheel with no network and installed into a temporary target directory."""
    base = tmp_path_factory.mktemp("demo_plugin")
    source = base / "src"  # a copy, so pip's in-tree build leaves nothing in the repository
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = base / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "--target", str(site), str(source)],
        capture_output=True, text=True,
    )
    assert pip.returncode == 0, pip.stderr
    assert (site / "botmm_demo" / "conf" / "quoter" / "demo_wide.yaml").is_file(), "the preset is not in the wheel"
    return Cli(site)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def demo(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return cli.backtest(tmp_path_factory.mktemp("demo"), "quoter=demo", BARS)


def test_plugins_lists_demo_and_builtins(cli: Cli, tmp_path: Path) -> None:
    proc = cli(tmp_path, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["plugin"]: row for row in json.loads(proc.stdout)}
    assert rows["demo"]["distribution"] == "botmm-demo-plugin"
    assert rows["demo"]["version"] == "0.1.0"
    assert rows["demo"]["components"] == ["quoter:demo", "command:demo-hello"]
    assert rows["ml"]["components"] == ["command:train"] and rows["candle"]["components"] == ["fill_model:candle"]
    assert set(rows["demo"]["hooks"]) == {"botmm_register_quoters", "botmm_register_commands", "botmm_conf_packages"}
    assert "quoter:avellaneda" in rows["avellaneda"]["components"]
    assert rows["avellaneda"]["distribution"] == "botmm"


def test_demo_plugin_adds_a_subcommand(cli: Cli, tmp_path: Path) -> None:
    listed = cli(tmp_path, "--help")
    assert listed.returncode == 0 and "demo-hello" in listed.stdout and "train" in listed.stdout, listed.stderr
    hello = cli(tmp_path, "demo-hello", "--mid", "3000", "--spread-bps", "10", "--skew-bps", "2")
    assert hello.returncode == 0, hello.stderr
    # center 3000 * (1 + 2e-4) = 3000.6, half 10 / 2 bps of 3000 = 1.5
    assert hello.stdout == "hello from botmm-demo-plugin: quoter=demo quotes bid 2999.1 ask 3002.1 around 3000\n"
    bad = cli(tmp_path, "demo-hello", "--skew-bps", "6")
    assert bad.returncode == 2 and "skew_bps=6.0: must be within (-spread_bps/2, spread_bps/2)" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = cli(tmp_path, "demo-hello", BOTMM_DISABLE_PLUGINS="demo")
    assert gone.returncode == 2 and "No such command 'demo-hello'" in gone.stderr


def test_backtest_with_demo_quoter(demo: Backtest) -> None:
    assert demo.config.quoter.name == "demo"
    assert demo.config.quoter.skew_bps == 0.0
    assert demo.result["fills"] > 0


def test_preset_from_plugin_yaml(cli: Cli, tmp_path: Path, demo: Backtest) -> None:
    wide = cli.backtest(tmp_path, "quoter=demo_wide", BARS)
    assert wide.config.quoter.name == "demo"
    assert wide.config.quoter.spread_bps == 20.0
    assert wide.config.seed == demo.config.seed
    assert 0 < wide.result["fills"] < demo.result["fills"]


@pytest.mark.parametrize("override, key", [("quoter.no_such_key=1", "no_such_key"),
                                           ("quoter.skew_bps=abc", "skew_bps")])
def test_bad_override_is_one_line(cli: Cli, tmp_path: Path, override: str, key: str) -> None:
    line = one_line_error(cli(tmp_path, "backtest", "quoter=demo", override, BARS))
    assert key in line
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("disabled", ["demo", "*"])
def test_disabled_plugin_is_gone(cli: Cli, tmp_path: Path, disabled: str) -> None:
    proc = cli(tmp_path, "plugins", "--json", BOTMM_DISABLE_PLUGINS=disabled)
    assert proc.returncode == 0, proc.stderr
    plugins = {row["plugin"] for row in json.loads(proc.stdout)}
    assert "demo" not in plugins and "avellaneda" in plugins
    line = one_line_error(cli(tmp_path, "backtest", "quoter=demo", BARS, BOTMM_DISABLE_PLUGINS=disabled))
    assert "demo" in line


def test_supervise_finds_the_plugins_preset(cli: Cli, tmp_path: Path) -> None:
    """``botmm supervise`` composes each asset's backtest again with the plugins' YAML presets on the search path,
    as ``botmm backtest`` does (it used to lose them: ``quoter/demo_wide`` not found)."""
    reports = {}
    for quoter in ("demo", "demo_wide"):
        proc = cli(tmp_path, "supervise", f"quoter={quoter}", "assets=[btc,eth]", BARS, f"hydra.run.dir={quoter}")
        assert proc.returncode == 0, proc.stderr
        reports[quoter] = json.loads((tmp_path / quoter / "supervise.json").read_text())
    for asset in ("btc", "eth"):
        fills = {q: r["assets"][asset]["in_sample"]["fills"] + r["assets"][asset]["out_of_sample"]["fills"]
                 for q, r in reports.items()}
        assert 0 < fills["demo_wide"] < fills["demo"], fills  # the preset's 20 bps spread, not the schema's
