"""The optional compiled core: the modules of a tick's hot path that ``setup.py`` compiles with mypyc where mypy and
a C compiler are at hand, and the switch back to their Python source.

A compiled module runs the same code as its source and gives the same results (``tests/test_compiled_core.py`` runs
the reference backtests both ways, bit for bit), about twice as fast. botmm imports the sources instead when
``BOTMM_PURE_PYTHON`` is set, and when a source is newer than its compiled file, as after editing or pulling an
editable install (the compiled file would run the old code); it says so once, on stderr.

This module imports nothing of botmm: ``setup.py`` reads :data:`MODULES` from it before botmm is installed.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from typing import Sequence

MODULES = ("botmm/rounding.py", "botmm/core/inventory.py", "botmm/core/order_manager.py", "botmm/core/risk.py",
           "botmm/core/metrics.py", "botmm/sim/candle.py", "botmm/pipeline.py")
"""The compiled modules, as paths from the project's root (the form mypyc takes)."""
PURE_ENV = "BOTMM_PURE_PYTHON"
STALE_AFTER_S = 2.0  # an install writes a module's source and compiled file within this; an edit comes later
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compiled_file(path: str, root: str = ROOT) -> str | None:
    """The compiled file beside the source ``path`` (from ``root``), if one was built."""
    base = os.path.join(root, path[:-3])
    return next((base + suffix for suffix in EXTENSION_SUFFIXES if os.path.exists(base + suffix)), None)


def source_reason(root: str = ROOT) -> str | None:
    """Why the sources must be imported instead of the compiled files: "" when asked to, a line to print when a
    compiled file is stale, None when what is installed runs."""
    if os.environ.get(PURE_ENV, "0") != "0":
        return ""
    for path in MODULES:
        built = compiled_file(path, root)
        if built is not None and os.path.getmtime(os.path.join(root, path)) > os.path.getmtime(built) + STALE_AFTER_S:
            return (f"botmm: {path} changed after it was compiled: running the Python source of the compiled core "
                    f"(rebuild with pip install -e ., or set {PURE_ENV}=1 to silence this)")
    return None


class SourceFinder:
    """A meta path finder that imports the compiled modules from their ``.py`` files."""

    names = {path[:-3].replace("/", "."): path for path in MODULES}

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: object = None) -> ModuleSpec | None:
        source = self.names.get(name)
        return None if source is None else spec_from_file_location(name, os.path.join(ROOT, source))


def install() -> None:
    """Put :class:`SourceFinder` first when the sources must run; called by ``botmm/__init__`` before any import."""
    reason = source_reason()
    if reason is None or any(isinstance(finder, SourceFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, SourceFinder())
    if reason:
        print(reason, file=sys.stderr)


def describe() -> str:
    """Which core runs, for benchmarks' figures."""
    return "compiled core (mypyc)" if compiled() else "pure-Python core"


def compiled() -> bool:
    """Whether the compiled core is running (its modules imported from compiled files)."""
    import botmm.pipeline

    return not botmm.pipeline.__file__.endswith(".py")
