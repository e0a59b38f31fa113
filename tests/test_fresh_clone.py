"""The README's two commands, as a new user runs them: a fresh clone, a fresh virtual environment, the quick start
(``pip install -e . && botmm run duration=20s``) and the test command (``pip install -e '.[test,validate]' &&
python -m pytest``). Part of the default run, so CI runs it.

The test command's install runs verbatim; its ``python -m pytest`` runs on less than the whole suite, which this very
run is already executing: ``--collect-only`` (every test module imports in the new venv, with only what the extras
install: a missing dependency fails here) and three files that need the fresh install itself
(:data:`NESTED_TESTS`: a wheel built and run in yet another venv, the plugins found through the new install's entry
points, hypothesis from the test extra). ``BOTMM_FRESH_CLONE`` is set in the nested run, where this test skips itself,
so it never recurses. About 40 s of wall-clock time, most of it the quick start's 20 s run.

No network: the new venv sees this interpreter's site-packages through a ``.pth`` path line, so pip finds every
dependency already installed (``PIP_NO_INDEX``), and builds without an isolated build environment
(``PIP_NO_BUILD_ISOLATION=0``). The installs build the pure-Python core (``BOTMM_PURE_PYTHON=1``): the compiled one
is what this run's own install built (its test: tests/test_compiled_core.py), and compiling it twice more would add
a minute and a half."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA_ENV, shared_folder
from jobs import venv_on_these_packages

ROOT = Path(__file__).resolve().parents[1]
QUICK_START = "pip install -e . && botmm run duration=20s"
TEST_COMMAND = "pip install -e '.[test,validate]' && python -m pytest"
NESTED_ENV = "BOTMM_FRESH_CLONE"  # set in the nested run: this test does not run itself again
NESTED_TESTS = ["tests/test_packaging.py", "tests/test_registry.py", "tests/test_inventory.py"]


def _readme_commands() -> list[str]:
    """The commands of the README's quick start, in order."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Usage")]
    return re.findall(r"```\n(.+?)\n```", quick_start)


def _fresh_venv(where: Path) -> dict[str, str]:
    """A new venv whose dependencies come from this interpreter's site-packages; the environment to run in it."""
    python = venv_on_these_packages(where)
    # pip itself runs from this interpreter's install, on the new venv (pip --python)
    shim = where / "bin" / "pip"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m pip --python {python} \"$@\"\n")
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "HYDRA_FULL_ERROR")}
    env.update(PATH=f"{where / 'bin'}:{env.get('PATH', '')}", VIRTUAL_ENV=str(where), PIP_NO_BUILD_ISOLATION="0",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", COLUMNS="200", BOTMM_PURE_PYTHON="1")
    env[SHARED_DATA_ENV] = str(shared_folder())
    return env


def test_the_readme_names_the_two_commands_this_test_runs() -> None:
    assert _readme_commands() == [QUICK_START, TEST_COMMAND]


@pytest.mark.skipif(NESTED_ENV in os.environ, reason="the fresh-clone run itself: no recursion")
def test_the_readme_commands_work_in_a_fresh_venv_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "botmm"
    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True, capture_output=True)
    env = _fresh_venv(tmp_path / "venv")

    quick = subprocess.run(QUICK_START, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert quick.returncode == 0, quick.stdout[-3000:] + quick.stderr[-3000:]
    assert "botmm run ETH" in quick.stdout
    (result,) = clone.glob("outputs/run/*/result.json")
    run = json.loads(result.read_text())
    assert run["mode"] == "run" and run["ticks"] >= 10
    where = subprocess.run([tmp_path / "venv" / "bin" / "python", "-c", "import botmm; print(botmm.__file__)"],
                           cwd=tmp_path / "venv", env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(clone), where  # the clone's code ran, not this checkout's

    install, _, pytest_command = TEST_COMMAND.partition(" && ")
    installed = subprocess.run(install, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    env[NESTED_ENV] = "1"
    collected = _pytest(pytest_command, ["--collect-only", "-q", "-n", "0"], clone, env)
    count = re.search(r"^(\d+)/\d+ tests collected", collected, re.MULTILINE)  # N/total: slow ones deselected
    assert count and int(count.group(1)) > 500 and "error" not in collected.splitlines()[-1], collected[-3000:]
    summary = _pytest(pytest_command, NESTED_TESTS, clone, env).splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"failed|error|skipped", summary), summary


def _pytest(command: str, args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """The test command's ``python -m pytest`` with ``args``, which must pass; its output."""
    proc = subprocess.run(f"{command} {' '.join(args)}", shell=True, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    return proc.stdout.strip()
