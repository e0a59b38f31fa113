"""The guardian: a process outside the bot that cancels the bot's orders when the bot stops beating.

An exchange-side dead man's switch (Hyperliquid's ``scheduleCancel``) cancels every order when the bot stops
re-arming it. When the exchange refuses it (Hyperliquid refuses accounts with little traded volume), ``botmm run``
starts a guardian instead: ``python -m <GuardianSpec.module>`` in a session of its own (so a Ctrl-C sent to the
terminal's process group does not reach it), with the spec's settings as one JSON line on its standard input.

* The bot writes ``beat`` on that pipe after every tick that saw fresh market data (:meth:`Guardian.beat`).
* The guardian cancels the bot's orders (only those carrying the bot's client order id prefix) and keeps checking
  until none of them rests, when
  - its standard input closes without ``stop``: the bot's process is gone (``kill -9``, a crash, out of memory);
    it cancels at once, so orders rest at most one round trip after the bot died;
  - no ``beat`` arrives for ``timeout_s``: the bot's loop hangs or its market data is stale; it then goes on
    watching (a bot that recovers and beats again quotes again).
* ``stop`` (a clean shutdown, sent after the bot itself verified that none of its orders rests) ends it at once.

What it cannot cover: the machine dying or losing its network takes the guardian with the bot. Only the exchange's
own dead man's switch covers that, so keep an account that it accepts for anything beyond small sizes.

An exchange plugin provides the guardian's module: a ``main()`` that calls :func:`serve` with a function that
builds, from the settings, the callable that cancels the bot's orders and returns how many still rest.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from botmm.errors import ConfigError
from botmm.protocols import GuardianSpec

log = logging.getLogger("botmm.guardian")

BEAT, STOP = "beat", "stop"
RETRY_S = 0.5  # between cancel attempts while orders may still rest
GIVE_UP_S = 600.0  # a guardian whose bot is gone keeps cancelling this long, then exits with an error
LOG_NAME = "guardian.log"

Canceller = Callable[[], int]  # cancels the bot's orders; how many of them still rest afterwards


class Guardian:
    """The bot's handle on its guardian process (see the module docstring)."""

    def __init__(self, process: subprocess.Popen, timeout_s: float):
        self.process, self.timeout_s = process, timeout_s
        self._lock = threading.Lock()
        self._lost = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def beat(self) -> None:
        """Tell the guardian the bot is alive and saw fresh data. A guardian that died is reported once."""
        self._send(BEAT)

    def stop(self, wait_s: float = 5.0) -> None:
        """End the guardian without it acting: call only once no order of the bot rests."""
        self._send(STOP)
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self.process.stdin.write(line + "\n")
                self.process.stdin.flush()
            except (OSError, ValueError):
                if not self._lost:
                    self._lost = True
                    log.error("the guardian process (pid %d) is gone (exit %s): nothing cancels the bot's orders "
                              "if it dies now", self.process.pid, self.process.poll())


def start_guardian(spec: GuardianSpec, timeout_s: float, log_dir: Path) -> Guardian:
    """Start ``spec.module`` as the bot's guardian; it logs into ``log_dir/guardian.log``. The environment variables
    ``spec.env`` names must be set (one-line ConfigError otherwise): the guardian reads its key from them."""
    missing = [name for name in spec.env if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"guardian: environment variable {missing[0]} is not set; the guardian needs it to cancel "
                          "the bot's orders")
    log_dir.mkdir(parents=True, exist_ok=True)
    settings = {**spec.settings, "beat_timeout_s": timeout_s, "log_file": str(log_dir / LOG_NAME)}
    process = subprocess.Popen([sys.executable, "-m", spec.module], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    guardian = Guardian(process, timeout_s)
    guardian._send(json.dumps(settings))
    log.info("guardian started (pid %d): it cancels the bot's orders %gs after the last fresh tick, or at once if "
             "this process dies", process.pid, timeout_s)
    return guardian


def serve(make_canceller: Callable[[dict[str, Any]], Canceller], stdin: Optional[TextIO] = None) -> int:
    """The guardian process's main loop: read the settings line, then watch the beats; the exit status."""
    stdin = stdin or sys.stdin
    first = stdin.readline()
    if not first:
        return 2
    settings = json.loads(first)
    _log_to(settings.get("log_file"))
    try:
        cancel = make_canceller(settings)
    except Exception as exc:
        log.error("guardian cannot start: %s", exc)
        return 2
    return Watch(cancel, float(settings["beat_timeout_s"]), stdin).run()


class Watch:
    """Reads beats from ``stdin`` in a thread and cancels when they stop (see the module docstring)."""

    def __init__(self, cancel: Canceller, timeout_s: float, stdin: TextIO):
        self.cancel, self.timeout_s = cancel, timeout_s
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, args=(stdin,), daemon=True).start()

    def _read(self, stdin: TextIO) -> None:
        for line in stdin:
            self.lines.put(line.strip())
        self.lines.put(None)  # end of input: the bot's process is gone (or closed the pipe after "stop")

    def run(self) -> int:
        log.info("watching: cancel %gs after the last beat, or when the bot's process ends", self.timeout_s)
        while True:
            try:
                line = self.lines.get(timeout=self.timeout_s)
            except queue.Empty:
                log.error("no beat for %gs: the bot hangs or is blind; cancelling its orders", self.timeout_s)
                self._cancel_until_none_rests(stop_on_beat=True)
                continue
            if line == STOP:
                log.info("stopped by the bot")
                return 0
            if line is None:
                log.error("the bot's process is gone; cancelling its orders")
                return 0 if self._cancel_until_none_rests(stop_on_beat=False) else 1

    def _cancel_until_none_rests(self, stop_on_beat: bool) -> bool:
        """Cancel until none of the bot's orders rests (True), or give up after ``GIVE_UP_S`` (False). With
        ``stop_on_beat`` a beat ends the attempt (the bot recovered); a ``stop`` or the end of input is kept for
        the main loop."""
        deadline = time.monotonic() + GIVE_UP_S
        while True:
            try:
                resting = self.cancel()
            except Exception as exc:
                log.error("cancel failed: %s", exc)
                resting = -1
            if resting == 0:
                log.info("none of the bot's orders rests")
                return True
            if time.monotonic() >= deadline:
                log.error("gave up after %gs: orders of the bot may still rest; cancel them by hand", GIVE_UP_S)
                return False
            if stop_on_beat:
                try:
                    line = self.lines.get(timeout=RETRY_S)
                except queue.Empty:
                    continue
                if line == BEAT:
                    log.info("the bot beats again")
                    return False
                self.lines.put(line)  # stop or end of input: handled by the main loop after this attempt
                stop_on_beat = False
            else:
                time.sleep(RETRY_S)


def _log_to(path: Optional[str]) -> None:
    """Log the guardian's records to ``path`` (its own file: the bot's log handlers are not in this process), with
    anything shaped like a key masked, as in the bot."""
    from botmm.secrets import install_redaction, redact_output

    redact_output()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s guardian[%(process)d]: %(message)s"))
    root.addHandler(handler)
    install_redaction()
