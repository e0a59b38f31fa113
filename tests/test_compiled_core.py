"""The optional compiled core (botmm.speedups, setup.py): the reference runs give the same outputs compiled and in
pure Python, BOTMM_PURE_PYTHON switches to the sources, a compiled file older than its source is not run, and a
build whose compiler fails installs the pure-Python core."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from botmm import speedups

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          cwd=ROOT)


@pytest.mark.skipif(not speedups.compiled(), reason="the compiled core is not built here (no mypy or no C compiler "
                                                    "at install): the suite's own run is the pure-Python one")
def test_the_reference_runs_give_the_same_outputs_in_pure_python():
    """This run of the suite uses the compiled core; the reference outputs, bit for bit, in pure Python too."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "tests/test_reference_outputs.py"], env={**os.environ, speedups.PURE_ENV: "1"},
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1] and "skipped" not in proc.stdout.splitlines()[-1]


def test_botmm_pure_python_imports_the_sources():
    code = "import botmm.pipeline as p, botmm.sim.candle as c, botmm.speedups as s; print(p.__file__, c.__file__)"
    pure = _run(code, **{speedups.PURE_ENV: "1"})
    assert pure.returncode == 0, pure.stderr
    assert [Path(f).name for f in pure.stdout.split()] == ["pipeline.py", "candle.py"]
    assert pure.stderr == ""  # asked for: nothing to say
    default = _run(code, **{speedups.PURE_ENV: "0"})
    assert default.returncode == 0, default.stderr
    assert all(f.endswith(".py") != speedups.compiled() for f in default.stdout.split())


def test_a_compiled_file_older_than_its_source_is_not_run(tmp_path, monkeypatch):
    monkeypatch.delenv(speedups.PURE_ENV, raising=False)
    source = tmp_path / "botmm" / "pipeline.py"
    source.parent.mkdir()
    source.write_text("")
    built = tmp_path / "botmm" / f"pipeline{speedups.EXTENSION_SUFFIXES[0]}"
    built.write_bytes(b"")
    assert speedups.source_reason(str(tmp_path)) is None  # built with its source
    os.utime(source, (built.stat().st_mtime + 60,) * 2)  # edited or pulled a minute after the build
    reason = speedups.source_reason(str(tmp_path))
    assert reason is not None and "botmm/pipeline.py changed after it was compiled" in reason
    assert "pip install -e ." in reason and len(reason.splitlines()) == 1
    monkeypatch.setenv(speedups.PURE_ENV, "1")
    assert speedups.source_reason(str(tmp_path)) == ""  # the sources, without a word


def test_a_build_whose_compiler_fails_installs_the_pure_python_core(tmp_path):
    pytest.importorskip("mypyc", reason="mypy is not installed here: the build has no mypyc and is pure Python anyway")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "botmm", "plugins", "conf", "hydra_plugins"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy(ROOT / name, src / name)
    no_compiler = {**os.environ, "CC": "false", speedups.PURE_ENV: "0"}
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w",
                           tmp_path / "wheels", src], env=no_compiler, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "botmm: the C compiler failed" in proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "wheels").glob("botmm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "botmm/pipeline.py" in names and not [n for n in names if n.endswith(".so")]
