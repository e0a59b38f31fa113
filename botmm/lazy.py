"""Lazy re-exports for the public engine packages (:mod:`botmm.sim`, :mod:`botmm.data`): a plugin imports a name
from the package, and the module defining it (some compile numba kernels) loads only when the name is first used."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``where`` (name -> defining module) on
    first access."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__
