"""A ``botmm`` command line that pays its start-up once: run as a script, a fresh interpreter imports the CLI, loads
the plugins and imports Hydra's composition (what every Hydra command does first), prints ``ready`` with the CPU time
that took, then for each JSON request on stdin (``argv``, ``cwd``, ``stdout``, ``stderr``: file paths) forks a child
that runs ``botmm <argv>`` in ``cwd`` with its output in those files, and answers with the child's exit code, its
wall-clock time from fork to exit and its own CPU time. Each child starts from the state right after the start-up,
as a new ``botmm`` process would be, so cases stay isolated; what a case costs a user is the server's start-up
(measured by :class:`ForkCli`, from launch to ``ready``) plus the child's time.

The catalogue of bad inputs (``tests/test_errors_catalogue.py``) runs its cases through it: a subprocess per case
would pay the same start-up about 80 times."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CASE_DEADLINE_S = 60  # a case still running then is killed (SIGALRM), so a hang fails the test instead of stalling it


@dataclass(frozen=True)
class Ran:
    code: int
    wall_s: float  # fork to exit: the case's own time, without the start-up
    cpu_s: float


class ForkCli:
    """One fork server (a subprocess running this file); ``startup_s`` is its launch-to-ready wall-clock time,
    ``startup_cpu_s`` the CPU time it spent on it."""

    def __init__(self, env: dict[str, str]) -> None:
        start = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True)
        assert self.proc.stdout is not None
        ready, cpu = self.proc.stdout.readline().split()
        assert ready == "ready"
        self.startup_s, self.startup_cpu_s = time.monotonic() - start, float(cpu)

    def run(self, argv: list[str], cwd: Path, stdout: Path, stderr: Path) -> Ran:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"argv": argv, "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return Ran(**json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _child(request: dict) -> None:
    """Become ``botmm <argv>`` in ``cwd`` with stdout and stderr in the request's files; never returns."""
    from botmm.cli import main

    signal.alarm(CASE_DEADLINE_S)
    os.chdir(request["cwd"])
    for fd, key in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.argv = ["botmm", *request["argv"]]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve() -> None:
    """Import what every Hydra command imports first (the CLI, the plugins, Hydra's composition), then serve."""
    import hydra.compose  # noqa: F401
    import hydra.core.override_parser.overrides_parser  # noqa: F401

    import botmm.cli  # noqa: F401
    from botmm.registry import load_plugins

    load_plugins()
    print("ready", time.process_time(), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status, usage = os.wait4(pid, 0)
        answer = {"code": os.waitstatus_to_exitcode(status), "wall_s": time.monotonic() - start,
                  "cpu_s": usage.ru_utime + usage.ru_stime}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve()
