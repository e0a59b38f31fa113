"""The running Hydra job's config composed again, once per asset: how ``botmm run 'asset=[eth,btc]'``,
``botmm record 'asset=[eth,btc]'`` and ``botmm supervise assets=[...]`` get one config per asset, and which of the
job's overrides ``botmm reoptimize`` hands on to its sweep. One place, so every one keeps the plugins' YAML presets
(``hydra.searchpath``) and drops the same keys."""

from __future__ import annotations

from typing import Sequence

from omegaconf import DictConfig


def override_key(override: str) -> str:
    """The key an override sets: ``+signal@signals.x=toxicity`` -> ``signal@signals.x``."""
    return override.split("=", 1)[0].lstrip("+~")


def job_overrides(*dropped: str) -> list[str]:
    """The running job's command-line overrides, without those on a ``dropped`` key (``"asset"``) or under a dropped
    prefix (``"allocation."``)."""
    from hydra.core.hydra_config import HydraConfig

    def kept(override: str) -> bool:
        key = override_key(override)
        return not any(key == d or (d.endswith(".") and key.startswith(d)) for d in dropped)

    return [o for o in HydraConfig.get().overrides.task if kept(o)]


def asset_list() -> list[str]:
    """The assets of an ``asset=[a,b,...]`` override of the running Hydra job ([] when there is none)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return []
    for override in OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task)):
        if override.get_key_element() == "asset" and isinstance(override.value(), list):
            return [str(v) for v in override.value()]
    return []


def compose_for_asset(asset: str, *dropped: str, extra: Sequence[str] = ()) -> DictConfig:
    """The running job's primary config for ``asset``: its overrides but ``asset`` and ``dropped`` (see
    :func:`job_overrides`), with the search path of the plugins' YAML presets, then ``extra``."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    searchpath = [o for o in hydra.overrides.hydra if o.startswith("hydra.searchpath=")]
    return compose(config_name=hydra.job.config_name,
                   overrides=[*job_overrides("asset", *dropped), *searchpath, f"asset={asset}", *extra])
