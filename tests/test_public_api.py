"""The public API for plugin authors: ``botmm.__all__`` and the public engine modules hold what a plugin needs, every
name imports and is documented in docs/plugins.md, and botmm's built-in plugins import nothing else from botmm (so
they are written exactly as a third-party plugin must be)."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import botmm
from botmm import ConfigError
from botmm.data import L2RecorderParams
from botmm.registry import hookimpl, load_plugins

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
PUBLIC = ("botmm", "botmm.registry", "botmm.sim", "botmm.data", "botmm.ml", "botmm.exchange")
PLUGIN_FILES = sorted((ROOT / "plugins").rglob("*.py"))
CORE_FILES = sorted((ROOT / "botmm").rglob("*.py"))  # botmm.plugins is the plugins/ folder, outside botmm/
THIRD_PARTY_FILES = sorted([*(ROOT / "examples").rglob("*.py"), *(ROOT / "tests" / "fill_model_package").rglob("*.py")])


def private_imports(source: str, package: str | None) -> list[str]:
    """``module: name`` of every import in ``source`` that reaches into botmm outside the public modules; relative
    imports and the modules of ``package`` (``botmm.plugins``: the built-ins' own package) are allowed."""

    def private(module: str) -> bool:
        return module not in PUBLIC and not (package and (module == package or module.startswith(package + ".")))

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("botmm.") and private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "botmm":
            if node.module == "botmm":
                found += [f"botmm: {a.name}" for a in node.names
                          if a.name not in botmm.__all__ and f"botmm.{a.name}" not in PUBLIC]
            elif private(node.module):
                found += [f"{node.module}: {a.name}" for a in node.names]
    return found


def test_the_check_catches_private_imports() -> None:
    source = ("from botmm.config import require\nimport botmm.pipeline\nfrom botmm import registry, pipeline\n"
              "from botmm import Quote\nfrom botmm.sim import Costs\nfrom .ladder import ladder\n"
              "from botmm.plugins.quoters.ladder import ladder\n")
    assert private_imports(source, "botmm.plugins") == ["botmm.config: require", "botmm.pipeline", "botmm: pipeline"]
    assert private_imports(source, None) == ["botmm.config: require", "botmm.pipeline", "botmm: pipeline",
                                             "botmm.plugins.quoters.ladder: ladder"]


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_built_in_plugins_import_only_the_public_api(path: Path) -> None:
    assert private_imports(path.read_text(), "botmm.plugins") == []


@pytest.mark.parametrize("path", THIRD_PARTY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_third_party_plugins_import_only_the_public_api(path: Path) -> None:
    assert private_imports(path.read_text(), None) == []


def plugin_imports(source: str) -> list[str]:
    """The ``botmm.plugins`` modules ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] if node.module != "botmm" else [f"botmm.{a.name}" for a in node.names]
    return [m for m in found if m == "botmm.plugins" or m.startswith("botmm.plugins.")]


def test_the_plugin_import_check_catches_every_form() -> None:
    source = ("import botmm.plugins.exchanges.hyperliquid.stream\nfrom botmm.plugins.feeds import l2\n"
              "from botmm import plugins\nfrom botmm.data import is_gap\nfrom .plugins import x\nimport numpy\n")
    assert plugin_imports(source) == ["botmm.plugins.exchanges.hyperliquid.stream", "botmm.plugins.feeds",
                                      "botmm.plugins"]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_plugin(path: Path) -> None:
    """botmm's core asks plugins through hooks (``botmm record``: ``botmm_l2_recorder``, ``botmm_venue_coin``)."""
    assert plugin_imports(path.read_text()) == []


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_imports_and_is_documented(module: str) -> None:
    names = importlib.import_module(module).__all__
    assert len(names) == len(set(names)) and names
    section = DOC.read_text().split("## The public API", 1)[1].split("\n## ", 1)[0]
    table = section.split(f"`{module}`:", 1)[1].split("\n\n`botmm.", 1)[0]
    for name in names:
        assert getattr(importlib.import_module(module), name) is not None
        assert re.search(rf"`{re.escape(name)}`", table), f"docs/plugins.md: {module}.{name} is not documented"


def test_public_engine_modules_load_lazily() -> None:
    """Importing the public API and every built-in plugin compiles no numba kernel: the replay and synthetic L2
    engines load when a job first uses them."""
    code = ("import sys, botmm.sim, botmm.data, botmm.exchange\nfrom botmm.registry import load_plugins\n"
            "load_plugins()\nassert 'numba' not in sys.modules, 'numba loaded'\n"
            "from botmm.sim import replay_venue\nassert 'numba' in sys.modules\nprint(replay_venue.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "botmm.sim.replay"


def test_an_unknown_public_name_is_an_attribute_error() -> None:
    import botmm.sim

    with pytest.raises(AttributeError, match="'botmm.sim' has no attribute 'ReplayVenue'"):
        botmm.sim.ReplayVenue  # noqa: B018  (private: built through replay_venue)


class OtherVenueCoins:
    """A third-party exchange plugin naming its own venue's coins."""

    @hookimpl
    def botmm_venue_coin(self, venue: str, symbol: str) -> str | None:
        return symbol.lower() + "-swap" if venue == "okx" else None


def test_hook_botmm_venue_coin() -> None:
    pm = load_plugins()
    pm.register(OtherVenueCoins(), name="okx-test")
    try:
        ask = pm.hook.botmm_venue_coin
        assert ask(venue="hyperliquid", symbol="ETH-PERP") == "ETH"
        assert ask(venue="hyperliquid", symbol="kPEPE/USDC:USDC") == "kPEPE"
        assert ask(venue="okx", symbol="BTC") == "btc-swap"
        assert ask(venue="binance", symbol="BTC") is None
    finally:
        pm.unregister(name="okx-test")


@dataclass
class OtherVenueRecorderParams(L2RecorderParams):
    region: str = "eu"  # the venue's data centre


class OtherVenueRecorder:
    """A third-party exchange plugin's L2 recorder (only its settings are needed here)."""

    Params = OtherVenueRecorderParams


class OtherVenueRecording:
    @hookimpl
    def botmm_l2_recorder(self, venue: str) -> type | None:
        return OtherVenueRecorder if venue == "okx" else None


def test_hook_botmm_l2_recorder() -> None:
    from botmm.runners.record import params_schema, recorder_class

    pm = load_plugins()
    pm.register(OtherVenueRecording(), name="okx-recorder-test")
    try:
        hyperliquid = pm.hook.botmm_l2_recorder(venue="hyperliquid")
        assert hyperliquid.__module__ == "botmm.plugins.exchanges.hyperliquid.recorder"
        assert issubclass(hyperliquid.Params, L2RecorderParams) and hyperliquid.Params().venue == "hyperliquid"
        assert pm.hook.botmm_l2_recorder(venue="okx") is OtherVenueRecorder
        assert pm.hook.botmm_l2_recorder(venue="binance") is None
        assert params_schema(OmegaConf.create({"venue": "okx", "region": "us"})) is OtherVenueRecorderParams
        assert params_schema(OmegaConf.create({})) is hyperliquid.Params  # venue defaults to hyperliquid
        with pytest.raises(ConfigError, match=r"^venue=binance: no plugin records this exchange"):
            recorder_class("binance")
    finally:
        pm.unregister(name="okx-recorder-test")
