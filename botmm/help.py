"""``botmm <command> --help``: the command's config groups and every option, each with its default as the job would
see it (interpolations resolved) and the description written beside its field in the config dataclass that checks it
(:func:`botmm.config.field_docs`). Overrides on the command line apply, so ``botmm run quoter=glft --help`` shows
the GLFT quoter's options."""

from __future__ import annotations

import importlib
from dataclasses import is_dataclass
from typing import Any, Iterator, get_type_hints

from omegaconf import DictConfig, ListConfig, OmegaConf

from botmm.config import QuoteParams, field_docs

ROOT_SCHEMAS = {"record": "botmm.runners.record:params_schema"}
"""Primary configs whose root is not a structured config: the dataclass their root keys are checked against, or a
function of the composed config returning it (``botmm record``'s is its ``venue``'s recorder's)."""
NODE_SCHEMAS = {
    "asset": "botmm.config:AssetConfig",  # typed in every job but ``record``
    "risk": "botmm.config:RiskLimits",
    "logging": "botmm.logs:LoggingConfig",
    "server": "botmm.status.server:ServerParams",
    "fill_model.candle": "botmm.sim.candle_params:CandleFillParams",
    "fill_model.orderbook": "botmm.sim.replay:OrderBookFillParams",
}
"""Untyped nodes (``Any`` in the root schema) that their runners check against a dataclass; ``<node>.<name>`` when
the node's ``name`` picks it."""
SWEEPS = ("run", "record")  # commands without a multirun: `botmm -m <command>` is refused
EXAMPLES = {"run": "botmm run asset=btc quoter.spread_bps=6 duration=5m (one bot per process)",
            "record": "botmm record 'asset=[eth,btc]' duration=1h (one recorder per process)"}
OPTION_WIDTH = 44  # descriptions start two columns after this, or after a longer option


def help_page(name: str, summary: str, cfg: DictConfig, groups: str) -> str:
    """The help page of ``botmm <name>`` for the composed ``cfg``; ``groups`` lists the config groups and options."""
    sweep = "" if name in SWEEPS else f"; botmm -m {name} key=a,b,c sweeps the values"
    lines = [f"Usage: botmm {name} [key=value | group=option] ...", "", summary, "",
             f"Overrides are key=value or group=option{sweep}. --cfg job prints the composed config, --info Hydra's "
             "view of it.", "", "== Config groups (pick one with group=option) ==", groups.rstrip(), "",
             "== Options (key=default: description) =="]
    for key, value, doc in options(cfg, _root_schema(name, cfg)):
        lines.append(f"{f'  {key}={value}':<{OPTION_WIDTH}}  {doc}".rstrip())
    example = EXAMPLES.get(name, f"botmm {name} asset=btc quoter.spread_bps=6 | "
                                 f"botmm -m {name} quoter.spread_bps=2,4,6")
    return "\n".join([*lines, "", f"Example: {example}"]) + "\n"


def options(node: DictConfig, schema: type | None, prefix: str = "", doc: str = "") -> Iterator[tuple[str, str, str]]:
    """``(key, resolved default, description)`` of every leaf under ``node``, ``schema`` the dataclass that checks
    ``node``; without one (a free-form dict such as ``logging.levels``) each leaf gets ``doc``, the dict's own."""
    docs = field_docs(schema) if schema is not None else {}
    for key in node:
        path = f"{prefix}{key}"
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            inner = _child_schema(path, child, schema, str(key))
            yield from options(child, inner, f"{path}.", docs.get(str(key), ""))
            continue
        yield path, _shown(node, key, child), docs.get(str(key), "") if schema is not None else doc


def _shown(node: DictConfig, key: Any, child: Any) -> str:
    """A leaf's value as the job sees it: resolved; ``???`` when it must be given; the raw text when it cannot be
    resolved outside a job."""
    if OmegaConf.is_missing(node, key):
        return "??? (required)"
    try:
        value = node[key]
    except Exception:
        return str(child._value())
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _root_schema(name: str, cfg: DictConfig) -> type | None:
    if name in ROOT_SCHEMAS:
        found = _load(ROOT_SCHEMAS[name])
        return found if is_dataclass(found) else found(cfg)
    schema = OmegaConf.get_type(cfg)
    return schema if is_dataclass(schema) else None


def _child_schema(path: str, child: DictConfig, parent: type | None, key: str) -> type | None:
    """The dataclass that checks ``child``: its structured type, its component's params (a node of a component kind,
    or a ``signals`` slot, whose ``name`` picks the component), or one of :data:`NODE_SCHEMAS`."""
    from botmm.registry import KINDS, component

    schema = OmegaConf.get_type(child)
    if is_dataclass(schema):
        return schema
    try:
        declared = get_type_hints(parent).get(key) if parent is not None else None
    except NameError:  # an annotation naming a type imported only for type checkers
        declared = None
    if is_dataclass(declared):
        return declared  # a dataclass field of an untyped node (a component's params)
    if path == "asset.quote":
        return QuoteParams  # the asset's own values of the shared quoting knobs
    picked = child.get("name") if "name" in child else None
    kind = "signal" if path.startswith("signals.") else path
    if kind in KINDS and isinstance(picked, str):
        try:
            return component(kind, picked).schema
        except Exception:
            return None
    target = NODE_SCHEMAS.get(f"{path}.{picked}") or NODE_SCHEMAS.get(path)
    return _load(target) if target is not None else None


def _load(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
