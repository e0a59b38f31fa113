"""Private keys: read from an environment variable or a key file named in the config (never from the config
itself), checked before anything connects, held in a :class:`Secret` that never prints its value, and masked in
everything the process prints or logs.

The config names *where* the key is (``exchange.key_env``, ``exchange.key_file``), so ``.hydra/config.yaml`` and
``overrides.yaml`` never contain it; a config value or command-line argument that looks like a key is refused
(:func:`refuse_keys_in_arguments`, :func:`refuse_keys_in_config`) before Hydra writes anything. Errors about a key
name the variable or file, never the value.

Redaction does not depend on which keys were loaded: :func:`redact` masks every run of 64 or more hex digits (with
or without ``0x``, any case, also inside a URL or a dict repr; decimal renderings of a 256-bit number are such runs
too), plus the exact values registered with ``REDACTOR.add`` (a webhook URL, a loaded key's raw-bytes repr). It is
applied by a filter on every handler of the root logger (:func:`install_redaction`), by botmm's log formatters, and
by :func:`redact_output`, which the ``botmm`` command installs on ``sys.stdout`` and ``sys.stderr`` first thing, so
one-line errors, Hydra's own error reports and tracebacks are masked too.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Optional, TextIO

from omegaconf import DictConfig, ListConfig, OmegaConf

from botmm.errors import ConfigError

KEY_SHAPED = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64,}")  # a private key, or a longer hex run that may hold one
HEX_DIGITS = "0123456789abcdefABCDEF"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # valid keys: 1 .. order - 1
MASK = "***"
KEY_HELP = "a key goes in the environment variable named by exchange.key_env or the file named by exchange.key_file"


class Secret:
    """A secret string that shows as ``Secret(***)`` in reprs, f-strings and logs; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __reduce__(self) -> tuple:
        raise TypeError("a Secret cannot be pickled")


class RedactingFilter(logging.Filter):
    """Masks key-shaped text and every registered secret in a record's message, traceback and stack text."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, value: str) -> None:
        """Mask ``value`` exactly (and, for a private key, its raw-bytes repr) from now on. A key's decimal rendering
        is a digit run the pattern masks already; a short one (a toy key) would mask ordinary numbers."""
        self.secrets.add(value)
        bare = value[2:] if value[:2].lower() == "0x" else value
        if len(bare) == 64 and KEY_SHAPED.fullmatch(bare):
            self.secrets.add(repr(bytes.fromhex(bare))[2:-1])

    def redact(self, text: str) -> str:
        text = KEY_SHAPED.sub(MASK, text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it (handleError), through redacted output
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = RedactingFilter()


def redact(text: str) -> str:
    """``text`` with every key-shaped run and registered secret replaced by ``***``."""
    return REDACTOR.redact(text)


def install_redaction() -> None:
    """Attach the redacting filter to the root logger and each of its handlers (idempotent; call again after a
    logging reconfiguration, as :func:`botmm.logs.setup_logging` does)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if REDACTOR not in target.filters:
            target.addFilter(REDACTOR)


class RedactingStream:
    """A text stream that masks what is written through it before passing it on. A trailing run of hex digits (and
    its ``0x``) is held back until the next write or flush, so a key written in pieces is still masked whole."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._pending = ""
        self._lock = threading.RLock()  # threads share the stream; reentrant for a signal handler that logs

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")  # click probes with bytes
        with self._lock:
            data, self._pending = self._pending + text, ""
            kept = data.rstrip(HEX_DIGITS)
            cut = len(kept) - 2 if kept.endswith(("0x", "0X")) else len(kept)
            self._pending = data[cut:]
            if cut:
                self._stream.write(redact(data[:cut]))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, ""
            if pending:
                self._stream.write(redact(pending))
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ... of the wrapped stream
        return getattr(self._stream, name)


def redact_output() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in a :class:`RedactingStream` (idempotent), for the whole process:
    what the interpreter prints for an uncaught exception and flushes at exit goes through them too."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


def _refusal(where: str) -> ConfigError:
    return ConfigError(f"{redact(where)}: holds what looks like a private key; refused before anything is written or "
                       f"printed: {KEY_HELP}")


def refuse_keys_in_arguments(args: list[str]) -> None:
    """Raise a one-line :class:`ConfigError` naming the key of the first command-line argument (``key=value``) that
    holds something shaped like a private key, without echoing it."""
    for arg in args:
        if KEY_SHAPED.search(arg):
            raise _refusal(arg.split("=", 1)[0] if "=" in arg else "a command-line argument")


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}" if path else str(key), key
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, node


def refuse_keys_in_config(cfg: DictConfig | ListConfig) -> None:
    """Raise a one-line :class:`ConfigError` naming the first config key whose value (as written, and as resolved:
    ``${oc.env:...}`` included) is shaped like a private key. Values are written into the run's ``.hydra/`` directory
    and may be printed, so none may hold a key."""
    containers = [OmegaConf.to_container(cfg, resolve=False)]
    try:
        containers.append(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))
    except Exception:  # an interpolation that does not resolve: the job's own checks report it
        pass
    for container in containers:
        for path, value in _leaves(container, ""):
            if isinstance(value, str) and KEY_SHAPED.search(value):
                raise _refusal(path)


def _checked(value: str, source: str) -> str:
    """``value`` if it is a usable secp256k1 private key, else a one-line ConfigError naming ``source`` only."""
    if not re.fullmatch(r"(0[xX])?[0-9a-fA-F]{64}", value):
        raise ConfigError(f"{source}: does not hold a private key (expected 64 hex digits, optionally 0x-prefixed)")
    if not 0 < int(value, 16) < SECP256K1_ORDER:
        raise ConfigError(f"{source}: is not a valid secp256k1 private key (zero, or not below the curve order); "
                          "use the key your wallet exported")
    return value


def _read_key_file(key_file: str, path: str) -> str:
    """The key file's text, refused (as ssh refuses a private key file) when group or others may access it."""
    file = Path(key_file).expanduser()
    source = f"{path}.key_file={key_file}"
    if not file.is_file():
        raise ConfigError(f"{source}: no such file")
    mode = stat.S_IMODE(file.stat().st_mode)
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{source}: is accessible by group or others (mode {mode:04o}), refused as ssh refuses "
                          f"such a key file; run: chmod 600 {file}")
    try:
        return file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror})") from None


def load_key(key_env: Optional[str], key_file: Optional[str], path: str = "exchange") -> Secret:
    """The private key from ``key_file`` when set, else from the environment variable ``key_env``.

    Raises a one-line :class:`ConfigError` naming the variable or file (never the value) when the key is missing,
    is not 32 bytes of hex, is not a valid secp256k1 key (zero or >= the group order), or its file is open to group
    or others. Registers the key with the redacting filter.
    """
    for name, value in (("key_env", key_env), ("key_file", key_file)):
        if value and KEY_SHAPED.search(value):
            raise ConfigError(f"{path}.{name}: holds what looks like a private key; it must name an environment "
                              "variable or a file, never the key itself")
    if key_file:
        value = _read_key_file(key_file, path)
        source = f"{path}.key_file={key_file}"
    elif key_env:
        value = os.environ.get(key_env, "").strip()
        if not value:
            raise ConfigError(f"{path}.key_env={key_env}: environment variable {key_env} is not set; export it or "
                              f"set {path}.key_file=<file holding the key>")
        source = f"{path}.key_env={key_env}"
    else:
        raise ConfigError(f"{path}.key_env: no key source; set {path}.key_env or {path}.key_file")
    value = _checked(value, source)
    REDACTOR.add(value)
    install_redaction()
    return Secret("0x" + value[-64:])
