"""Private keys: read from an environment variable or a key file named in the config (never from the config
itself), held in a :class:`Secret` that never prints its value, and masked in every log record.

The config names *where* the key is (``exchange.key_env``, ``exchange.key_file``), so ``.hydra/config.yaml`` and
``overrides.yaml`` never contain it. Errors about a key name the variable or file, never the value.
:func:`install_redaction` adds a filter to every handler of the root logger that replaces any loaded key (with or
without ``0x``, in either case) by ``***`` in messages and tracebacks, as defence in depth.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Optional

from botmm.errors import ConfigError

KEY_PATTERN = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
MASK = "***"
log = logging.getLogger("botmm.secrets")


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
    """Masks every registered secret in a record's message, arguments and traceback text."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, value: str) -> None:
        bare = value[2:] if value[:2].lower() == "0x" else value
        self.secrets.update({value, bare, bare.lower(), bare.upper()})

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):  # "0x<hex>" before "<hex>"
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


REDACTOR = RedactingFilter()


def install_redaction() -> None:
    """Attach the redacting filter to the root logger and each of its handlers (idempotent; call again after a
    logging reconfiguration, as Hydra does when a job starts)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if REDACTOR not in target.filters:
            target.addFilter(REDACTOR)


def load_key(key_env: Optional[str], key_file: Optional[str], path: str = "exchange") -> Secret:
    """The private key from ``key_file`` when set, else from the environment variable ``key_env``.

    Raises a one-line :class:`ConfigError` naming the variable or file (never the value) when the key is missing
    or is not 32 bytes of hex. Registers the key with the redacting filter.
    """
    for name, value in (("key_env", key_env), ("key_file", key_file)):
        if value and KEY_PATTERN.match(value.strip()):
            raise ConfigError(f"{path}.{name}: holds what looks like a private key; it must name an environment "
                              "variable or a file, never the key itself")
    if key_file:
        file = Path(key_file).expanduser()
        if not file.is_file():
            raise ConfigError(f"{path}.key_file={key_file}: no such file")
        try:
            value = file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{path}.key_file={key_file}: cannot be read ({exc.strerror})") from None
        source = f"{path}.key_file={key_file}"
        if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s is readable by other users; chmod 600 it", key_file)
    elif key_env:
        value = os.environ.get(key_env, "").strip()
        if not value:
            raise ConfigError(f"{path}.key_env={key_env}: environment variable {key_env} is not set; export it or "
                              f"set {path}.key_file=<file holding the key>")
        source = f"{path}.key_env={key_env}"
    else:
        raise ConfigError(f"{path}.key_env: no key source; set {path}.key_env or {path}.key_file")
    if not KEY_PATTERN.match(value):
        raise ConfigError(f"{source}: does not hold a private key (expected 64 hex digits, optionally 0x-prefixed)")
    REDACTOR.add(value)
    install_redaction()
    return Secret(value if value.startswith("0x") else f"0x{value}")
