"""botmm's build: pyproject.toml holds the metadata; this adds the optional compiled core (:mod:`botmm.speedups`).

Where mypy (a build requirement) and a C compiler are at hand, mypyc compiles the modules of a tick's hot path; where
either is missing, the compilation fails, or ``BOTMM_PURE_PYTHON`` is set, botmm installs as pure Python, which runs
the same and gives the same results, only slower.
"""

import os
import runpy
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

speedups = runpy.run_path(os.path.join("botmm", "speedups.py"))
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}  # not egg_info, dist_info, sdist


def say(message: str) -> None:
    print(f"botmm: {message}: installing the pure-Python core", file=sys.stderr)


def compiled_core() -> list:
    if os.environ.get(speedups["PURE_ENV"], "0") != "0" or not BUILDS & set(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        say("mypyc is not installed")
        return []
    try:
        return mypycify([*speedups["MODULES"], "--ignore-missing-imports", "--follow-imports=silent"],
                        opt_level="3")
    except (Exception, SystemExit) as exc:  # mypy's type errors end in SystemExit
        say(f"mypyc could not compile it ({exc})")
        return []


class OptionalBuildExt(build_ext):
    """Build every compiled module or none: on a compiler error, remove what was built and go on without it."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            for built in self.get_outputs():
                if os.path.exists(built):
                    os.remove(built)
            say(f"the C compiler failed ({exc})")


setup(ext_modules=compiled_core(), cmdclass={"build_ext": OptionalBuildExt})
