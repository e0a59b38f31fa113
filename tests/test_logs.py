"""Logging set up by botmm.logs: the output-dir file and an extra path, rotation, JSON lines, colours by level, and
a symbol on every record (bound per asyncio task and carried into worker threads)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from botmm.errors import ConfigError
from botmm.logs import COLORS, RESET, bind_symbol, setup_logging, symbol_context, with_symbol

log = logging.getLogger("botmm.test")


pytestmark = pytest.mark.usefixtures("restore_root_logger")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _parse(line: str) -> tuple[str, ...]:
    """(level, symbol, logger, message) of a text log line."""
    match = re.fullmatch(r"\S+ \S+ (\w+) +(\S+) (\S+): (.*)", line)
    assert match, line
    return match.groups()


def test_the_output_dir_file_names_the_symbol_of_every_line(tmp_path: Path) -> None:
    setup_logging({"console": False}, tmp_path, "ETH")
    log.info("default symbol")
    with symbol_context("BTC"):
        log.warning("bound symbol")
    log.info("explicit", extra={"symbol": "SOL"})
    lines = _lines(tmp_path / "botmm.log")
    assert [_parse(line) for line in lines] == [
        ("INFO", "ETH", "botmm.test", "default symbol"), ("WARNING", "BTC", "botmm.test", "bound symbol"),
        ("INFO", "SOL", "botmm.test", "explicit")]


def test_json_lines_in_the_output_dir_and_an_extra_path(tmp_path: Path) -> None:
    extra = tmp_path / "logs" / "bot.log"
    setup_logging({"console": False, "json": True, "path": str(extra)}, tmp_path / "job", "ETH")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed", extra={"event": "error"})
    for path in (tmp_path / "job" / "botmm.log", extra):
        (entry,) = [json.loads(line) for line in _lines(path)]
        assert {k: entry[k] for k in ("level", "logger", "symbol", "message", "event")} == {
            "level": "ERROR", "logger": "botmm.test", "symbol": "ETH", "message": "failed", "event": "error"}
        assert entry["ts"].endswith("+00:00") and "ValueError: bad" in entry["exc"]


def test_files_rotate_at_max_bytes(tmp_path: Path) -> None:
    setup_logging({"console": False, "max_bytes": 2000, "backups": 2}, tmp_path, "ETH")
    for i in range(100):
        log.info("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["botmm.log", "botmm.log.1", "botmm.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert _lines(tmp_path / "botmm.log")[-1].endswith("line 099 " + "x" * 40)


def test_console_colours_by_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging({"file": None, "color": True, "stream": "stderr"}, tmp_path, "ETH")
    log.info("fine")
    log.error("broken")
    err = capsys.readouterr().err.splitlines()
    assert f"{COLORS[logging.INFO]}INFO{RESET}" in err[0] and err[0].endswith(" ETH botmm.test: fine")
    assert err[1].startswith(COLORS[logging.ERROR]) and err[1].endswith(f"broken{RESET}")
    assert not list(tmp_path.iterdir())  # file: null writes no file
    setup_logging({"file": None, "color": False}, tmp_path, "ETH")
    log.warning("plain")
    assert "\033[" not in capsys.readouterr().out


def test_levels_and_per_logger_levels(tmp_path: Path) -> None:
    setup_logging({"console": False, "level": "WARNING", "levels": {"botmm.test.chatty": "DEBUG"}}, tmp_path, "ETH")
    log.info("dropped")
    logging.getLogger("botmm.test.chatty").debug("kept")
    assert [_parse(line)[3] for line in _lines(tmp_path / "botmm.log")] == ["kept"]
    with pytest.raises(ConfigError, match=r"^logging\.level=LOUD: must be DEBUG"):
        setup_logging({"level": "LOUD"}, tmp_path, "ETH")


def test_asyncio_tasks_and_their_threads_keep_their_symbol(tmp_path: Path) -> None:
    setup_logging({"console": False}, tmp_path, "ETH+BTC")

    async def ticker(symbol: str) -> None:
        bind_symbol(symbol)
        for _ in range(3):
            log.info("tick")
            await asyncio.to_thread(log.info, "step in a worker thread")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(ticker("ETH"), ticker("BTC"))
        log.info("both done")

    asyncio.run(main())
    with ThreadPoolExecutor(2) as pool:
        pool.submit(with_symbol, "SOL", log.info, "stopping").result()
    symbols = [_parse(line)[1] for line in _lines(tmp_path / "botmm.log")]
    assert symbols.count("ETH") == 6 and symbols.count("BTC") == 6
    assert symbols[-2:] == ["ETH+BTC", "SOL"]
