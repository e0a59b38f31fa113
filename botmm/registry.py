"""The plugin manager and the per-kind component registries.

Plugins are modules or objects with ``@hookimpl`` functions, found through the ``botmm`` entry-point group (botmm's
built-ins are entry points of its own distribution, exactly like a third-party ``botmm-foo``). :func:`load_plugins`
runs once per process: it registers every plugin, asks each for its components and stores each component's params
schema in Hydra's ConfigStore as ``_schema/<kind>/<name>`` (what YAML presets extend) and as ``<kind>/<name>``, so
``quoter=foo`` composes even when a plugin ships no YAML. When a YAML preset of the same name exists
(``conf/strategy/adaptive.yaml``), the preset is the config option and ``<kind>/<name>`` is not stored, so Hydra does
not merge the two (its deprecated "automatic schema matching"); the preset extends ``_schema/<kind>/<name>``. The
subcommands plugins add to ``botmm`` (``botmm_register_commands``) are collected at the same time.

``BOTMM_DISABLE_PLUGINS`` is a comma-separated list of plugin (entry-point) names to skip; ``*`` skips every plugin
not shipped by botmm itself.

Public for plugins: ``__all__`` (a plugin that composes other components, like ``exchange=sim`` asking for the job's
fill model, looks them up with :func:`component` and :func:`params`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from importlib import metadata, resources
from typing import Any, Callable

import click
import pluggy
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from botmm import hookspecs
from botmm.config import AssetConfig, ComponentParams, QuoteParams, to_params
from botmm.errors import ConfigError, PluginError

__all__ = ["BuildContext", "Component", "build", "component", "hookimpl", "params"]

hookimpl = pluggy.HookimplMarker("botmm")

KINDS = {  # kind -> the plural in its registration hook, botmm_register_<plural>
    "quoter": "quoters",
    "signal": "signals",
    "sizer": "sizers",
    "exchange": "exchanges",
    "fill_model": "fill_models",
    "notifier": "notifiers",
    "strategy": "strategies",
    "feed": "feeds",
}
ENTRY_POINT_GROUP = "botmm"
DISABLE_ENV = "BOTMM_DISABLE_PLUGINS"
SCHEMA_GROUP = "_schema"  # every component's schema, as _schema/<kind>/<name>: what a YAML preset extends


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    schema: type
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str


@dataclass
class BuildContext:
    """What a factory may need besides its own params: the whole job config, the asset and the market-data feed."""

    cfg: DictConfig
    asset: AssetConfig
    feed: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Registry:
    """The components of one kind, each remembered with the plugin that provided it. ``presets`` are the names of
    YAML options of the kind's config group, whose schemas stay out of the ConfigStore."""

    def __init__(self, kind: str, presets: frozenset[str] = frozenset()):
        self.kind = kind
        self.presets = presets
        self.components: dict[str, Component] = {}

    def register(self, name: str, factory: Callable[..., Any], schema: type | None = None, *, plugin: str) -> None:
        """Add component ``name`` built by ``factory(params, ctx)``; ``schema`` is its params dataclass."""
        base = QuoteParams if self.kind == "quoter" else ComponentParams
        schema = schema or base
        if not (isinstance(schema, type) and issubclass(schema, base)):
            raise PluginError(f"plugin {plugin!r}: schema of {self.kind} {name!r} must subclass {base.__name__}")
        if name in self.components:
            other = self.components[name].plugin
            raise PluginError(f"{self.kind} {name!r} from plugin {plugin!r} is already provided by plugin {other!r}")
        self.components[name] = Component(self.kind, name, factory, schema, plugin)
        node = OmegaConf.structured(schema(name=name))
        if self.kind == "quoter":
            _default_from_asset(node)
        ConfigStore.instance().store(group=f"{SCHEMA_GROUP}/{self.kind}", name=name, node=node, provider=plugin)
        if name not in self.presets:
            ConfigStore.instance().store(group=self.kind, name=name, node=node, provider=plugin)


class _State:
    pm: pluggy.PluginManager | None = None
    infos: dict[str, PluginInfo] = {}
    registries: dict[str, Registry] = {}
    commands: dict[str, tuple[click.Command, str]] = {}


def _builtin(ep: metadata.EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == "botmm"


def load_plugins() -> pluggy.PluginManager:
    """Load every plugin and registry once per process and return the plugin manager."""
    if _State.pm is not None:
        return _State.pm
    pm = pluggy.PluginManager("botmm")
    pm.add_hookspecs(hookspecs)
    disabled = {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}
    infos: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in disabled or ("*" in disabled and not _builtin(ep)) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        pm.register(plugin, name=ep.name)
        dist = ep.dist
        infos[ep.name] = PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?")
    search_path = ["pkg://botmm.conf", *(p for paths in pm.hook.botmm_conf_packages() for p in paths)]
    registries = {kind: Registry(kind, _yaml_options(search_path, kind)) for kind in KINDS}
    for kind, registry in registries.items():
        for impl in getattr(pm.hook, f"botmm_register_{KINDS[kind]}").get_hookimpls():
            impl.function(register=_registrar(registry, impl.plugin_name))
    commands: dict[str, tuple[click.Command, str]] = {}
    for impl in pm.hook.botmm_register_commands.get_hookimpls():
        impl.function(register=_command_registrar(commands, impl.plugin_name))
    _State.pm, _State.infos, _State.registries, _State.commands = pm, infos, registries, commands
    return pm


def _default_from_asset(node: DictConfig) -> None:
    """Make the shared quoting knobs default to the asset's values (``asset.quote.<knob>``) when the asset preset
    sets them, so the precedence is: schema default < asset < quoter preset YAML < command line."""
    for knob in fields(QuoteParams):
        if knob.name != "name":
            node[knob.name] = f"${{oc.select:asset.quote.{knob.name},{node[knob.name]}}}"


def _yaml_options(search_path: list[str], group: str) -> frozenset[str]:
    """Names of the YAML configs in ``group`` across the config search path (``pkg://`` and ``file://`` entries)."""
    names = set()
    for entry in search_path:
        scheme, _, location = entry.rpartition("://")
        folder = (Path(location) if scheme == "file" else resources.files(location)).joinpath(group)
        if folder.is_dir():
            names.update(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".yaml"))
    return frozenset(names)


def _registrar(registry: Registry, plugin: str) -> Callable[..., None]:
    def register(name: str, factory: Callable[..., Any], schema: type | None = None) -> None:
        registry.register(name, factory, schema, plugin=plugin)

    return register


def _command_registrar(commands: dict[str, tuple[click.Command, str]],
                       plugin: str) -> Callable[[click.Command], None]:
    def register(command: click.Command) -> None:
        if not isinstance(command, click.Command) or not command.name:
            raise PluginError(f"plugin {plugin!r}: register a named click.Command, not {command!r}")
        if command.name in commands:
            other = commands[command.name][1]
            raise PluginError(f"command {command.name!r} from plugin {plugin!r} is already provided by plugin "
                              f"{other!r}")
        commands[command.name] = (command, plugin)

    return register


def commands() -> dict[str, tuple[click.Command, str]]:
    """The subcommands plugins add (``botmm_register_commands``): name -> (command, plugin)."""
    load_plugins()
    return dict(_State.commands)


def registry(kind: str) -> Registry:
    load_plugins()
    return _State.registries[kind]


def plugin_infos() -> dict[str, PluginInfo]:
    load_plugins()
    return dict(_State.infos)


def component(kind: str, name: str) -> Component:
    """The component ``name`` of ``kind``, or a ConfigError listing the installed names."""
    components = registry(kind).components
    if name not in components:
        installed = ", ".join(sorted(components)) or "none"
        raise ConfigError(f"unknown {kind} {name!r}; installed {kind}s: {installed}")
    return components[name]


def params(kind: str, node: DictConfig | dict, path: str) -> Any:
    """Check a config node (``{name: ..., <params>}``) against its component's schema and return the params."""
    name = node.get("name") if node is not None else None
    if not name:
        raise ConfigError(f"{path}.name: missing; pick a {kind} with {path}=<name>")
    return to_params(component(kind, name).schema, node, path)


def build(kind: str, node: DictConfig | dict, ctx: BuildContext, path: str | None = None) -> Any:
    """Build the component a config node names, e.g. ``build("quoter", cfg.quoter, ctx)``."""
    checked = params(kind, node, path or kind)
    return component(kind, checked.name).factory(checked, ctx)
