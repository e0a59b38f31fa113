"""Every primary config composes with every option of every config group, and every composition builds.

Groups and options are enumerated from Hydra's config loader (YAML files and the ConfigStore entries plugins
register), so a new option is tested as soon as it exists. Each group is overridden with the key its primary config
places it under (``signal@signals.volatility=...`` for a group placed at a nested package).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.object_type import ObjectType
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from botmm.config import AssetConfig
from botmm.errors import ConfigError
from botmm.pipeline import Components, build_components
from botmm.registry import KINDS, SCHEMA_GROUP, component, load_plugins, plugin_infos, registry

KNOWN_PRIMARY = ("run", "backtest")
CONFIG_MODULE = "botmm.conf"
SHARED_DEFAULTS = "job"  # conf/job.yaml: the defaults list every primary config includes
COMPONENT_FIELD = {  # group -> the Components field holding what it builds
    "quoter": "quoter", "sizer": "sizer", "strategy": "policy", "exchange": "venue", "feed": "feed",
    "notifier": "notifier", "fill_model": "venue",
}
# Known asset values (conf/asset/*.yaml): symbol, quoter.spread_bps, risk.max_position_usd
ASSETS = {"btc": ("BTC", 3.0, 2000.0), "eth": ("ETH", 4.0, 1000.0), "sol": ("SOL", 6.0, 500.0)}


def _groups(loader: Any, parent: str = "") -> list[str]:
    found = []
    for name in loader.list_groups(parent):
        group = f"{parent}/{name}" if parent else name
        if group.split("/")[0] in ("hydra", SCHEMA_GROUP):  # Hydra's own; the schemas presets extend
            continue
        found.append(group)
        found.extend(_groups(loader, group))
    return found


def _primaries(loader: Any) -> list[str]:
    """The primary configs: root configs built on the ``botmm_schema`` root (run, backtest, ...)."""
    found = []
    for name in loader.get_group_options("", results_filter=ObjectType.CONFIG):
        if name.startswith("_") or (name.startswith("botmm_") and name.endswith("schema")):
            continue
        defaults = loader.compute_defaults_list(name, [], RunMode.RUN).defaults
        if any(d.config_path and d.config_path.startswith("botmm_") and d.config_path.endswith("schema")
               for d in defaults):
            found.append(name)
    return found


def _enumerate() -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """The primary configs, and (primary, group, override key, option) for every option of every non-Hydra
    group."""
    load_plugins()
    combos = []
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        groups = _groups(loader)
        primaries = _primaries(loader)
        for primary in primaries:
            defaults = loader.compute_defaults_list(primary, [], RunMode.RUN).defaults
            keys: dict[str, list[str]] = {}
            for d in defaults:
                if d.parent not in (primary, SHARED_DEFAULTS) or not d.config_path or "/" not in d.config_path:
                    continue
                group = d.config_path.rpartition("/")[0]
                # an option with its own defaults list appears as its _self_ entry, which has no override key
                key = d.override_key or (group if d.package == group.replace("/", ".") else f"{group}@{d.package}")
                keys.setdefault(group, []).append(key)
            for group in groups:
                options = loader.get_group_options(group, results_filter=ObjectType.CONFIG)
                for key in keys.get(group, [f"+{group}"]):
                    combos.extend((primary, group, key, option) for option in options)
    return primaries, combos


PRIMARY, COMBOS = _enumerate()
ASSET_OPTIONS = sorted({option for _, group, _, option in COMBOS if group == "asset"})


def compose_cfg(primary: str, overrides: list[str]) -> DictConfig:
    load_plugins()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=primary, overrides=overrides)


def test_enumeration_found_the_groups() -> None:
    assert set(KNOWN_PRIMARY) <= set(PRIMARY)
    assert "common" not in PRIMARY and SHARED_DEFAULTS not in PRIMARY
    groups = {group for _, group, _, _ in COMBOS}
    assert {"asset", "exchange", "feed", "fill_model", "quoter", "signal", "sizer", "strategy", "notifier"} <= groups
    assert {option for _, group, _, option in COMBOS if group == "feed"} >= {"synthetic", "synthetic_live",
                                                                              "candles_file"}
    assert ("backtest", "signal", "signal@signals.volatility", "volatility") in COMBOS
    assert not GlobalHydra.instance().is_initialized()


L2_FEEDS = ("l2_file", "synthetic_l2")
THROWAWAY_KEY = "0x" + "ab" * 32  # a made-up private key: building a venue only checks its format


def _l2_dataset(folder: Path) -> Path:
    """A small L2 event dataset (10 s of synthetic order flow), as ``botmm data convert`` writes them."""
    from botmm.data.l2 import write_l2
    from botmm.data.synthetic_l2 import SyntheticL2Params, synthetic_l2, synthetic_meta

    p = SyntheticL2Params(duration_s=10.0)
    write_l2(synthetic_l2(p), folder / "l2", synthetic_meta(p, "ETH"))
    return folder / "l2"


def _candles_dataset(folder: Path, cfg: DictConfig, csv: Path) -> Path:
    """A candles dataset root holding one month file of the series ``feed=candles`` reads (as ``botmm data fetch``
    writes them)."""
    from botmm.data.candles import read_candles, write_candles_parquet

    series = folder / "data" / "candles" / cfg.feed.venue / (cfg.feed.symbol or cfg.asset.symbol) / cfg.feed.interval
    series.mkdir(parents=True)
    write_candles_parquet(read_candles(csv), series / "2024-01.parquet")
    return folder / "data"


def _requirements(cfg: DictConfig, group: str, tmp_path: Path, candles_csv) -> list[str]:
    """The overrides an option cannot run without, as a user would give them: data for file-backed feeds, a feed
    of the kind the fill model reads (or, when the feed is under test, the fill model for it), a key file (and the
    mainnet confirmation) for Hyperliquid. Never an override of the group under test."""
    extra = []
    feed = cfg.feed.name
    if cfg.fill_model.name == "orderbook" and feed not in L2_FEEDS:
        if group == "feed":
            extra.append("fill_model=candle")
        else:
            extra.append("feed=synthetic_l2")
            feed = "synthetic_l2"
    if feed == "candles_file":
        extra.append(f"feed.path={candles_csv()}")
    elif feed == "candles":
        extra.append(f"feed.root={_candles_dataset(tmp_path, cfg, candles_csv())}")
    elif feed == "l2_file":
        extra.append(f"feed.path={_l2_dataset(tmp_path)}")
    if cfg.exchange.name == "hyperliquid":
        key_file = tmp_path / "hl.key"
        key_file.write_text(THROWAWAY_KEY + "\n")
        key_file.chmod(0o600)
        extra += [f"exchange.key_file={key_file}", "exchange.confirm_mainnet=true"]
    return extra


@pytest.mark.parametrize(("primary", "group", "key", "option"), COMBOS,
                         ids=[f"{p}-{k}={o}" for p, _, k, o in COMBOS])
def test_every_option_composes_and_builds(primary: str, group: str, key: str, option: str, tmp_path: Path,
                                          candles_csv) -> None:
    overrides = [f"{key}={option}"]
    cfg = compose_cfg(primary, overrides)
    extra = _requirements(cfg, group, tmp_path, candles_csv)
    if extra:
        cfg = compose_cfg(primary, overrides + extra)
    if cfg.exchange.name == "paper" and cfg.fill_model.name != "candle":
        # the paper venue fills against bars: an order-book fill model is refused in one line, naming both
        with pytest.raises(ConfigError, match=rf"^fill_model={cfg.fill_model.name}: exchange=paper fills against"):
            build_components(cfg)
        return
    if cfg.fill_model.name == "candle" and cfg.feed.name in L2_FEEDS:
        # bars are filled from a bar feed: an L2 feed there is refused in one line, pointing at the replay
        with pytest.raises(ConfigError, match=rf"^feed={cfg.feed.name}: an L2 feed needs the order-book replay"):
            build_components(cfg)
        return
    if option == "hl_mainnet":
        # real money: the limits must be this run's command line (Hydra's record of it); a config built outside a
        # run has none, so it is refused in one line
        with pytest.raises(ConfigError, match=r"^risk.max_order_usd: Hyperliquid mainnet needs explicit risk limits"):
            build_components(cfg)
        return
    parts = build_components(cfg)

    assert isinstance(parts, Components)
    assert isinstance(parts.asset, AssetConfig)
    assert "volatility" in parts.signals
    package = key.partition("@")[2] or group.replace("/", ".")
    node = OmegaConf.select(cfg, package)
    if group in KINDS:
        made_by = component(group, node.name).factory  # the node names an installed component
        if option in registry(group).components:
            assert node.name == option
        built = parts.signals[package.split(".")[-1]] if group == "signal" else getattr(parts, COMPONENT_FIELD[group])
        if group not in ("exchange", "fill_model"):  # sim and paper venues are botmm.sim's (CandleVenue, ReplayVenue)
            assert type(built).__module__ == made_by.__module__
    if group == "asset":
        assert parts.asset.symbol == ASSETS.get(option, (option.upper(),))[0]
    elif group == "exchange":
        if node.name in ("sim", "paper") and cfg.fill_model.name == "candle":
            assert parts.venue.wall_clock is (node.name == "paper")
            assert parts.venue.speed == cfg.exchange.get("speed", 1.0)
        elif node.name in ("sim", "paper"):
            assert type(parts.venue).__module__.startswith("botmm.sim.")
        else:
            assert type(parts.venue).__module__.startswith(made_by.__module__)
    elif group == "feed":
        if node.name == "candles_file":
            assert Path(parts.feed.params.path).parent == tmp_path
        elif node.name == "l2_file":
            assert Path(parts.feed.path).parent == tmp_path
        elif node.name == "candles":
            assert tmp_path in Path(parts.feed.directory).parents
        elif option == "synthetic":
            assert parts.feed.n_bars == 43_200 and parts.feed.params.bar_seconds == 60  # the default month
        elif option == "synthetic_live":
            assert parts.feed.n_bars is None  # endless
    elif group == "fill_model":
        assert cfg.fill_model.name == option


def _asset_values(option: str) -> tuple[str, float, float]:
    """symbol, spread_bps and max_position_usd as conf/asset/<option>.yaml states them (the spread under
    ``asset.quote`` or, in the older layout, ``quoter``)."""
    own = OmegaConf.create((resources.files(CONFIG_MODULE) / "asset" / f"{option}.yaml").read_text())
    spread = OmegaConf.select(own, "asset.quote.spread_bps", default=OmegaConf.select(own, "quoter.spread_bps"))
    return own.asset.symbol, spread, own.risk.max_position_usd


@pytest.mark.parametrize("primary", PRIMARY)
@pytest.mark.parametrize("option", ASSET_OPTIONS)
def test_asset_sets_symbol_and_overrides_quoter_and_risk(primary: str, option: str) -> None:
    symbol, spread, max_position = _asset_values(option)
    assert spread is not None, f"conf/asset/{option}.yaml sets no spread_bps"
    if option in ASSETS:
        assert (symbol, spread, max_position) == ASSETS[option]
    cfg = compose_cfg(primary, [f"asset={option}"])
    assert cfg.asset.symbol == symbol
    assert cfg.quoter.spread_bps == spread
    assert cfg.risk.max_position_usd == max_position
    parts = build_components(cfg)
    assert parts.asset.symbol == symbol
    assert parts.quoter.params.spread_bps == spread
    assert parts.limits.max_position_usd == max_position


def test_assets_differ_from_each_other() -> None:
    assert {"btc", "eth", "sol"} <= set(ASSET_OPTIONS)
    composed = [compose_cfg("backtest", [f"asset={option}"]) for option in ASSET_OPTIONS]
    for key in ("asset.symbol", "asset.tick_size", "quoter.spread_bps", "risk.max_position_usd"):
        values = [OmegaConf.select(cfg, key) for cfg in composed]
        assert len(set(values)) == len(ASSET_OPTIONS), f"{key}: {values}"


@pytest.mark.parametrize("primary", PRIMARY)
def test_command_line_beats_asset(primary: str) -> None:
    cfg = compose_cfg(primary, ["asset=btc", "quoter.spread_bps=7.5", "risk.max_position_usd=123"])
    assert cfg.asset.symbol == "BTC"
    assert cfg.quoter.spread_bps == 7.5
    assert cfg.risk.max_position_usd == 123


CONF = Path(str(resources.files(CONFIG_MODULE)))


def _preset_node(kind: str, path: Path) -> tuple[str, dict[str, Any]]:
    """The component a preset of ``kind`` extends (following its defaults list to ``/_schema/<kind>/<name>``) and
    the values the preset itself sets."""
    raw = OmegaConf.to_container(OmegaConf.load(path))
    parents = [d for d in raw.pop("defaults", []) if isinstance(d, str) and d != "_self_"]
    values = raw.get(kind, {}) if path.read_text().startswith("# @package _global_") else raw
    schema = [d for d in parents if d.startswith(f"/{SCHEMA_GROUP}/{kind}/")]
    if schema:
        return schema[0].split("/")[-1].split("@")[0], values
    assert len(parents) == 1, f"conf/{kind}/{path.name}: extends no schema (/{SCHEMA_GROUP}/{kind}/<name>)"
    return _preset_node(kind, path.with_name(parents[0] + ".yaml"))[0], values


def _restated(values: dict[str, Any], defaults: dict[str, Any], path: str = "") -> list[str]:
    """The keys of ``values`` equal to their default."""
    found = []
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            found += _restated(value, defaults[key], f"{path}{key}.")
        elif key in defaults and value == defaults[key] and key != "name":
            found.append(f"{path}{key}={value}")
    return found


PRESETS = sorted((kind, path.stem) for kind in KINDS for path in (CONF / kind).glob("*.yaml"))


@pytest.mark.parametrize(("kind", "preset"), PRESETS, ids=[f"{k}/{p}" for k, p in PRESETS])
def test_a_preset_holds_only_what_differs_from_its_schema(kind: str, preset: str) -> None:
    name, values = _preset_node(kind, CONF / kind / f"{preset}.yaml")
    defaults = asdict(component(kind, name).schema(name=name))
    assert _restated(values, defaults) == [], f"conf/{kind}/{preset}.yaml restates defaults of {kind} {name}"
    assert set(values) <= set(defaults), f"conf/{kind}/{preset}.yaml sets keys {kind} {name} does not have"


def test_the_restated_check_finds_defaults() -> None:
    defaults = {"name": "x", "a": 1.0, "nested": {"b": "1h", "c": None}}
    assert _restated({"name": "x", "a": 1, "nested": {"b": "1h", "c": 2}}, defaults) == ["a=1", "nested.b=1h"]


def test_every_built_in_component_has_a_visible_preset() -> None:
    infos = plugin_infos()
    missing = [f"conf/{kind}/{name}.yaml" for kind in KINDS for name, c in registry(kind).components.items()
               if infos[c.plugin].distribution == "botmm" and not (CONF / kind / f"{name}.yaml").is_file()]
    assert missing == []


def test_adaptive_composes_every_field_of_its_schema() -> None:
    cfg = compose_cfg("backtest", ["strategy=adaptive"])
    schema = component("strategy", "adaptive").schema
    assert OmegaConf.to_container(cfg.strategy) == asdict(schema(name="adaptive"))
    assert cfg.sizer.name == "dynamic" and set(cfg.signals) == {"volatility", "toxicity", "imbalance", "signal"}


def test_completion_offers_no_schema_group() -> None:
    """The schemas presets extend are not options a user picks: shell completion does not offer them."""
    env = {**os.environ, "_BOTMM_COMPLETE": "bash_complete", "COMP_WORDS": "botmm backtest ", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "botmm"], env=env, capture_output=True, text=True, check=True)
    offered = [item.split(",", 1)[1] for item in out.stdout.split()]
    assert "quoter=" in offered and not [o for o in offered if SCHEMA_GROUP in o]
