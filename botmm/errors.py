"""Errors a user can act on. Each carries a one-line message naming the bad key, file or value; the CLI prints
exactly that line and exits non-zero, without a traceback."""


class BotmmError(Exception):
    """Base of every error botmm reports to the user as one line."""


class ConfigError(BotmmError):
    """An invalid config value, key or component name."""


class DataError(BotmmError):
    """A market-data file that is missing or malformed."""


class PluginError(BotmmError):
    """A plugin that cannot be loaded or registers a name twice."""


class VenueError(BotmmError):
    """An exchange call that failed (error response, timeout, rate limit). The pipeline counts these for the risk
    manager's error breaker and keeps running."""


def os_error_line(exc: OSError) -> str:
    """A file-system error as one line naming the path: ``<path>: <reason>`` (pyarrow's errors name it in the
    message itself)."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename2 is None:
        reason = f"{reason} (a file is in the way of a folder to create)"
    return f"{paths}: {reason}" if paths else reason
