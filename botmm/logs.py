"""Logging of every job, configured by the ``logging`` node of ``conf/common.yaml`` (Hydra's own job logging is off).

* Console: one line per record, coloured by level when the console is a terminal (``logging.color`` forces it on or
  off; ``NO_COLOR`` turns it off).
* Files: ``logging.file`` (``botmm.log``) in the job's output dir, and optionally ``logging.path`` anywhere else
  (an always-on log of a bot across runs, say); both rotate at ``max_bytes`` keeping ``backups`` old files.
  ``logging.json: true`` writes them as JSON lines (ts, level, logger, symbol, message, exc).
* Every record carries a ``symbol``: the one bound to the current task or thread (:func:`bind_symbol`,
  :func:`symbol_context`, :func:`with_symbol`), else an explicit ``extra={"symbol": ...}``, else the job's default
  (:func:`set_default_symbol`: the asset's symbol, or ``ETH+BTC`` for a multi-asset job). Bindings live in a
  context variable, so asyncio tasks and ``asyncio.to_thread`` calls inherit them.
* Anything shaped like a private key is masked in every line (:mod:`botmm.secrets`): botmm's formatters redact what
  they write, and the redacting filter is put on every handler, also ones other code adds before the next setup.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, TypeVar

from botmm.config import require, to_params
from botmm.secrets import install_redaction, redact

T = TypeVar("T")

_SYMBOL: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("botmm_log_symbol", default=None)
_DEFAULT = {"symbol": "-"}
_OURS = "_botmm_handler"  # attribute marking the handlers this module installed

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(symbol)s %(name)s: %(message)s"
COLORS = {logging.DEBUG: "\033[2m", logging.INFO: "\033[32m", logging.WARNING: "\033[33m",
          logging.ERROR: "\033[31m", logging.CRITICAL: "\033[1;31m"}
RESET = "\033[0m"


def _is_level(name: Any) -> bool:
    return isinstance(logging.getLevelName(str(name).upper()), int)


@dataclass
class LoggingConfig:
    """The ``logging`` node of every primary config."""

    level: str = "INFO"  # root level
    console: bool = True  # log to the console
    stream: str = "stdout"  # stdout | stderr
    color: Optional[bool] = None  # None: when the console is a terminal and NO_COLOR is unset
    file: Optional[str] = "botmm.log"  # log file in the job's output dir (null: none)
    path: Optional[str] = None  # another log file, anywhere (e.g. logs/eth-bot.log), kept across runs
    json: bool = False  # log files as JSON lines instead of text
    max_bytes: int = 10_000_000  # a log file rotates beyond this size ...
    backups: int = 5  # ... keeping this many old files (botmm.log.1, ...)
    levels: Dict[str, str] = field(default_factory=dict)  # per-logger levels, e.g. {websockets: WARNING}

    def __post_init__(self) -> None:
        levels = "DEBUG, INFO, WARNING, ERROR or CRITICAL"
        require(_is_level(self.level), self, "level", f"must be {levels}")
        bad = [f"{name}={value}" for name, value in self.levels.items() if not _is_level(value)]
        require(not bad, self, "levels", f"{', '.join(bad)}: must be {levels}")
        require(self.stream in ("stdout", "stderr"), self, "stream", "must be stdout or stderr")
        require(self.max_bytes > 0, self, "max_bytes", "must be > 0")
        require(self.backups >= 0, self, "backups", "must be >= 0")


class SymbolFilter(logging.Filter):
    """Gives every record a ``symbol`` attribute (see the module docstring) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "symbol", None):
            record.symbol = _SYMBOL.get() or _DEFAULT["symbol"]
        return True


class RedactingFormatter(logging.Formatter):
    """Text lines with every key-shaped run and registered secret masked (message, traceback, stack, extras)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class ConsoleFormatter(RedactingFormatter):
    """Text lines, the level name (and for warnings and errors the whole line) coloured when ``color``."""

    def __init__(self, color: bool):
        super().__init__(TEXT_FORMAT)
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.color:
            return text
        code = COLORS.get(record.levelno, "")
        if record.levelno >= logging.WARNING:
            return f"{code}{text}{RESET}"
        return text.replace(record.levelname, f"{code}{record.levelname}{RESET}", 1)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, symbol, message, and exc when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "symbol": getattr(record, "symbol", _DEFAULT["symbol"]),
            "message": record.getMessage(),
        }
        if getattr(record, "event", None):
            entry["event"] = record.event
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return redact(json.dumps(entry, default=str))


class ConsoleHandler(logging.StreamHandler):
    """Writes each record to ``sys.stdout`` or ``sys.stderr`` as they are at that moment: a live rich progress display
    redirects both, and so prints log lines above its spinner instead of gluing them onto it."""

    def __init__(self, stream_name: str):
        super().__init__(getattr(sys, stream_name))
        self.stream_name = stream_name

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = getattr(sys, self.stream_name)
        super().emit(record)


def _use_color(config: LoggingConfig, stream: Any) -> bool:
    if config.color is not None:
        return config.color
    return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())


def _file_handler(path: Path, config: LoggingConfig) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=config.max_bytes, backupCount=config.backups,
                                                   encoding="utf-8")
    handler.setFormatter(JsonFormatter() if config.json else RedactingFormatter(TEXT_FORMAT))
    return handler


def setup_logging(node: Any, output_dir: Optional[Path], symbol: str = "-") -> LoggingConfig:
    """Replace the root logger's handlers by those ``node`` (the ``logging`` config node, or None for the defaults)
    asks for; ``output_dir`` is where ``logging.file`` goes (None: no file there). ``symbol`` is the default symbol
    of records logged outside any binding. Returns the checked config; a bad value is a one-line ConfigError."""
    config = to_params(LoggingConfig, node if node is not None else {}, "logging")
    handlers: list[logging.Handler] = []
    if config.console:
        stream = sys.stdout if config.stream == "stdout" else sys.stderr
        console = ConsoleHandler(config.stream)
        console.setFormatter(ConsoleFormatter(_use_color(config, stream)))
        handlers.append(console)
    if config.file and output_dir is not None:
        handlers.append(_file_handler(Path(output_dir) / config.file, config))
    if config.path:
        handlers.append(_file_handler(Path(config.path).expanduser(), config))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, _OURS, False):
            old.close()
    symbols = SymbolFilter()
    for handler in handlers:
        handler.addFilter(symbols)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(config.level.upper())
    for name, level in config.levels.items():
        logging.getLogger(name).setLevel(str(level).upper())
    set_default_symbol(symbol)
    install_redaction()
    return config


def set_default_symbol(symbol: str) -> None:
    """The symbol of records logged outside any binding (the job's asset, or ``ETH+BTC`` for several)."""
    _DEFAULT["symbol"] = symbol


def bind_symbol(symbol: str) -> None:
    """Name ``symbol`` on every record of the current asyncio task or thread from now on (and of the tasks and
    ``asyncio.to_thread`` calls it starts)."""
    _SYMBOL.set(symbol)


@contextmanager
def symbol_context(symbol: str) -> Iterator[None]:
    """Name ``symbol`` on every record logged inside the ``with`` block."""
    token = _SYMBOL.set(symbol)
    try:
        yield
    finally:
        _SYMBOL.reset(token)


def with_symbol(symbol: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with ``symbol`` bound: for ``ThreadPoolExecutor.submit``, which does not carry the
    caller's context into its threads."""
    with symbol_context(symbol):
        return fn(*args, **kwargs)
