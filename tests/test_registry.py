from dataclasses import dataclass

import pytest
from hydra.core.config_store import ConfigStore

from botmm import registry
from botmm.config import ComponentParams, QuoteParams
from botmm.errors import ConfigError, PluginError
from botmm.registry import KINDS, Registry, build, component, load_plugins, plugin_infos


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Load plugins afresh under a changed environment, and put the process-wide state back afterwards."""
    saved = (registry._State.pm, registry._State.infos, registry._State.registries)
    monkeypatch.setattr(registry._State, "pm", None)
    yield load_plugins
    registry._State.pm, registry._State.infos, registry._State.registries = saved


def test_builtins_are_entry_points_of_botmm_itself():
    infos = plugin_infos()
    assert {"avellaneda", "fixed", "sim", "paper", "synthetic", "candles_file", "console", "basic"} <= set(infos)
    assert {info.distribution for name, info in infos.items() if name in ("avellaneda", "sim")} == {"botmm"}
    assert component("quoter", "avellaneda").plugin == "avellaneda"
    assert component("exchange", "paper").plugin == "paper"


def test_every_kind_has_a_registration_hook():
    pm = load_plugins()
    for plural in KINDS.values():
        assert hasattr(pm.hook, f"botmm_register_{plural}")


def test_schema_lands_in_the_config_store_with_its_name():
    @dataclass
    class WideParams(QuoteParams):
        width: float = 3.0

    reg = Registry("quoter")
    reg.register("wide_test", lambda p, ctx: p, WideParams, plugin="tests")
    node = ConfigStore.instance().load("quoter/wide_test.yaml").node
    assert node.name == "wide_test" and node.width == 3.0 and node.spread_bps == 4.0


def test_duplicate_names_are_refused_naming_both_plugins():
    reg = Registry("sizer")
    reg.register("same", lambda p, ctx: p, plugin="first")
    with pytest.raises(PluginError, match="'same' from plugin 'second' is already provided by plugin 'first'"):
        reg.register("same", lambda p, ctx: p, plugin="second")


def test_quoter_schemas_must_extend_quote_params():
    @dataclass
    class Bare(ComponentParams):
        x: int = 1

    with pytest.raises(PluginError, match="must subclass QuoteParams"):
        Registry("quoter").register("bare", lambda p, ctx: p, Bare, plugin="tests")


def test_unknown_name_lists_what_is_installed():
    with pytest.raises(ConfigError, match=r"unknown quoter 'nope'; installed quoters: .*avellaneda"):
        component("quoter", "nope")
    with pytest.raises(ConfigError, match=r"feed\.name: missing"):
        build("feed", {}, ctx=None)


def test_params_errors_name_the_full_key():
    with pytest.raises(ConfigError, match=r"^quoter\.num_levels=0: must be >= 1$"):
        registry.params("quoter", {"name": "avellaneda", "num_levels": 0}, "quoter")
    with pytest.raises(ConfigError, match=r"^quoter\.levels"):
        registry.params("quoter", {"name": "avellaneda", "levels": 2}, "quoter")


def test_disable_plugins_skips_named_plugins(fresh_plugins, monkeypatch):
    monkeypatch.setenv("BOTMM_DISABLE_PLUGINS", "paper, console")
    fresh_plugins()
    infos = plugin_infos()
    assert "paper" not in infos and "console" not in infos and "sim" in infos
    with pytest.raises(ConfigError, match="unknown exchange 'paper'; installed exchanges: .*sim") as error:
        component("exchange", "paper")
    assert "paper" not in str(error.value).split("installed exchanges:")[1]


def test_disable_star_keeps_only_botmm_builtins(fresh_plugins, monkeypatch):
    monkeypatch.setenv("BOTMM_DISABLE_PLUGINS", "*")
    fresh_plugins()
    assert {info.distribution for info in plugin_infos().values()} == {"botmm"}
    assert "avellaneda" in registry.registry("quoter").components
