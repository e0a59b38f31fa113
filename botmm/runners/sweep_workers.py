"""Start a joblib sweep's worker processes while the CLI still checks the sweep's configs.

Hydra's joblib launcher starts its workers only when it launches the jobs, and a worker then imports Hydra, numpy,
pyarrow, the plugins and the job's runner before its first job: about a second, after the CLI's own start-up and
pre-validation, in which no job runs. joblib keeps its process pool between calls when a call asks for the same
settings, so a first call with the launcher's settings, made from a thread at the start of ``botmm -m``, starts the
pool and imports the job's modules in it, and the launcher's call finds the workers ready. When the settings cannot
be read from the command line, or joblib makes a new pool anyway, the sweep runs as it would have: only sooner or
not.
"""

from __future__ import annotations

import threading
from typing import Any

LAUNCHER = "hydra/launcher=joblib"
SETTING = "hydra.launcher."


def start_workers(name: str, overrides: list[str]) -> threading.Thread | None:
    """Start the pool of the ``hydra/launcher=joblib`` given in ``overrides`` (None when there is none, or only one
    worker: joblib runs that in this process) and have each worker import what job ``name`` needs; join the thread
    before Hydra launches the jobs."""
    if LAUNCHER not in overrides:
        return None
    settings = _joblib_settings([o.removeprefix(SETTING) for o in overrides if o.startswith(SETTING)])
    if settings is None:
        return None
    from joblib import effective_n_jobs

    workers = effective_n_jobs(settings["n_jobs"])
    if workers < 2:
        return None
    thread = threading.Thread(target=_start, args=(settings, name, workers), name="sweep-workers", daemon=True)
    thread.start()
    return thread


def _joblib_settings(dotlist: list[str]) -> dict[str, Any] | None:
    """The keyword arguments the launcher will give ``joblib.Parallel`` for these ``hydra.launcher`` settings."""
    from omegaconf import OmegaConf

    try:
        from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

        conf = OmegaConf.structured(JobLibLauncherConf)
        conf.merge_with_dotlist(dotlist)
        settings = OmegaConf.to_container(conf)
    except Exception:  # not installed, or a bad setting: Hydra reports either
        return None
    assert isinstance(settings, dict)
    del settings["_target_"]
    settings["backend"] = "loky"  # as the launcher sets it
    process_joblib_cfg(settings)
    return settings


def _start(settings: dict[str, Any], name: str, workers: int) -> None:
    from joblib import Parallel, delayed

    try:
        Parallel(**settings)(delayed(prepare)(name) for _ in range(workers))
    except Exception:  # a worker that cannot start fails the launcher's own call, which reports it
        pass


def prepare(name: str) -> None:
    """In a worker: import what a job of command ``name`` imports before it runs."""
    from hydra_plugins.hydra_joblib_launcher import _core  # noqa: F401  (the launcher's job function)

    from botmm.job_commands import _runner
    from botmm.registry import load_plugins

    load_plugins()
    _runner(name)
