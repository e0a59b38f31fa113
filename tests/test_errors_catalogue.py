"""The catalogue of bad inputs (``docs/errors.md``): each runs as a user would type it and must end in one line on
stderr naming what is wrong, exit non-zero, leave no ``result.json`` and fail fast.

Fast is checked twice. The process's own CPU time must stay under ``CPU_LIMIT_S`` (2 s; 3.5 s for the few cases that
build the order-book replay, whose numba kernels load, or read a candle file, where pyarrow's first array imports
pandas): that is what a user waits for on an idle machine, and the machine's load does not count against it. The
wall-clock time must stay under ``WALL_LIMIT_S`` (20 s): generous, so a loaded 2-core CI machine running the suite
beside it holds it, and the network cases must end within ``NETWORK_LIMIT_S`` more than the slowest case that makes
no network call. When anything but the measured figures changed, the test rewrites ``docs/errors.md`` from what it
saw, with the figures of that run, and fails, so the page is never stale.

Slow (77 processes: about 70 s on 2 idle cores, too much for the default suite's budget): ``python -m pytest -m slow
tests/test_errors_catalogue.py``."""

from __future__ import annotations

import gzip
import os
import re
import socket
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from jobs import BOTMM, cli_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "errors.md"
CPU_LIMIT_S = 2.0
HEAVY_CPU_LIMIT_S = 3.5  # the order-book replay (numba) and candle files (pyarrow imports pandas)
WALL_LIMIT_S = 20.0
NETWORK_LIMIT_S = 10.0
FIGURES = "Measured when this page was generated"  # the line of the page the test leaves out of its comparison


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    names: str  # what the line must contain: the bad key, value, file or option
    network: bool = False
    heavy: bool = False  # builds the order-book replay or reads a candle file: HEAVY_CPU_LIMIT_S

    @property
    def cpu_limit_s(self) -> float:
        return HEAVY_CPU_LIMIT_S if self.heavy else CPU_LIMIT_S


def case(command: str, names: str, network: bool = False) -> Case:
    heavy = command.startswith("replay") or "feed=synthetic_l2" in command or "feed=candles_file" in command
    return Case(tuple(command.split()), names, network, heavy)


CASES = [
    # numbers: finite, in range, of the right type
    case("backtest quoter.spread_bps=-1", "quoter.spread_bps=-1.0"),
    case("backtest quoter.spread_bps=inf", "quoter.spread_bps=inf"),
    case("backtest quoter.spread_bps=nan", "quoter.spread_bps=nan"),
    case("backtest quoter.spread_bps=abc", "quoter.spread_bps"),
    case("backtest quoter.order_size_usd=inf", "quoter.order_size_usd=inf"),
    case("backtest quoter.order_size_usd=0", "quoter.order_size_usd=0"),
    case("backtest quoter.num_levels=0", "quoter.num_levels=0"),
    case("backtest quoter.num_levels=1.5", "quoter.num_levels"),
    case("backtest quoter.vol_multiplier=-1", "quoter.vol_multiplier"),
    case("backtest quoter.inventory_skew_factor=nan", "quoter.inventory_skew_factor=nan"),
    case("backtest quoter.bias_strength=-inf", "quoter.bias_strength=-inf"),
    case("backtest capital=nan", "capital=nan"),
    case("backtest capital=inf", "capital=inf"),
    case("backtest capital=0", "capital=0"),
    case("backtest capital=-5", "capital=-5"),
    case("backtest risk.max_position_usd=inf", "risk.max_position_usd=inf"),
    case("backtest risk.max_daily_loss_pct=150", "risk.max_daily_loss_pct"),
    case("backtest risk.max_open_orders=1", "risk.max_open_orders"),
    case("backtest risk.cooldown_seconds=nan", "risk.cooldown_seconds=nan"),
    case("backtest asset.tick_size=0", "asset.tick_size"),
    case("backtest asset.lot_size=-1", "asset.lot_size"),
    case("backtest asset.min_notional=nan", "asset.min_notional=nan"),
    case("backtest asset.quote.spread_bps=inf", "asset.quote.spread_bps=inf"),
    case("backtest asset.quote.nope=1", "asset.quote"),
    case("backtest exchange.maker_fee=0.5", "exchange.maker_fee"),
    case("backtest exchange.maker_fee=nan", "exchange.maker_fee=nan"),
    case("backtest exchange.funding_hours=0", "exchange.funding_hours"),
    case("backtest fill_model.volume_cap=inf", "fill_model.volume_cap=inf"),
    case("backtest order_manager.modify_threshold_bps=-1", "order_manager.modify_threshold_bps"),
    case("backtest backtest.split=2", "backtest.split"),
    case("backtest feed.bars=0", "feed.bars"),
    # durations mean the same in every mode
    case("backtest duration=abc", "duration=abc"),
    case("backtest duration=-5s", "duration=-5s"),
    case("backtest duration=0", "duration=0"),
    case("backtest interval=xyz", "interval=xyz"),
    case("run duration=abc", "duration=abc"),
    case("run interval=0s", "interval=0s"),
    # names: options, keys, groups
    case("backtest asset=nope", "asset=nope"),
    case("backtest quoter=nope", "quoter=nope"),
    case("backtest exchange=nope", "exchange=nope"),
    case("backtest strategy=nope", "strategy=nope"),
    case("backtest quoter.bad_key=1", "bad_key"),
    case("backtest signal=microprice", "+signal@signals.<slot>=microprice"),
    case("backtest hydra/launcher=nope", "hydra/launcher=nope"),
    case("backtest feed=synthetic_l2", "feed=synthetic_l2"),
    case("run feed=synthetic_l2", "feed=synthetic_l2"),
    case("replay feed=synthetic", "feed=synthetic"),
    case("replay fill_model.queue=nope", "fill_model.queue"),
    case("-m run", "botmm -m run"),
    case("run hydra.mode=MULTIRUN", "botmm -m run"),
    case("backtest --cfg job --info", "--cfg"),
    # files and folders
    case("backtest strategy.params_file={tmp}/missing.yaml", "{tmp}/missing.yaml"),
    case("backtest feed=candles_file feed.path={tmp}/missing.csv", "{tmp}/missing.csv"),
    case("backtest feed=candles_file feed.path={tmp}/bad.csv", "{tmp}/bad.csv"),
    case("backtest feed=candles_file feed.path={tmp}/empty.csv", "{tmp}/empty.csv"),
    case("backtest feed=candles_file feed.path={tmp}/afile", "{tmp}/afile"),
    case("backtest hydra.run.dir={tmp}/afile/out", "{tmp}/afile"),
    case("backtest feed.bars=50 logging.path={tmp}/afile/bot.log", "{tmp}/afile"),
    case("replay feed.path={tmp}/missing", "{tmp}/missing"),
    case("replay feed.path={tmp}/fake.parquet", "{tmp}/fake.parquet"),
    case("data convert binance {tmp}/truncated.gz", "{tmp}/truncated.gz"),
    case("data convert binance {tmp}/notjson.gz", "{tmp}/notjson.gz"),
    case("data convert binance {tmp}/nosnapshot.gz", "{tmp}/nosnapshot.gz"),
    case("data convert hyperliquid {tmp}/notjson.gz", "{tmp}/notjson.gz"),
    case("data convert hyperliquid {tmp}/hyperliquid.gz --out {tmp}/afile/out", "{tmp}/afile"),
    case("data convert tardis {tmp}/bad.csv", "{tmp}/bad.csv"),
    # command-line options
    case("data fetch --venue hyperliquid --symbol BTC --start 2024-13-01", "--start"),
    case("data fetch --venue hyperliquid --symbol BTC --start 2024-01-02 --end 2024-01-01", "--end"),
    case("data fetch --venue bybit --symbol BTCUSDT --interval 7m --start 2024-01-01", "7m"),
    case("record ws_url=http://127.0.0.1:1", "ws_url"),
    case("record duration=abc", "duration=abc"),
    case("record --timeout=abc", "--timeout=abc"),
    # the network: a deadline and one line
    case("data fetch --venue hyperliquid --symbol BTC --start 2024-01-01 --retries 0 --base-url {refused}",
         "hyperliquid meta", network=True),
    case("data fetch --venue bybit --symbol BTCUSDT --start 2024-01-01 --retries 0 --timeout 1 --base-url {silent}",
         "bybit BTCUSDT", network=True),
    case("record ws_url={refused_ws}", "ws_url=", network=True),
    case("record ws_url={silent_ws} --timeout 1", "ws_url=", network=True),
    case("record asset=[eth,btc] ws_url=ws://nonexistent.invalid/ws --timeout 2", "nonexistent.invalid", network=True),
]


def _write_inputs(tmp: Path) -> None:
    """The bad files the cases name."""
    (tmp / "afile").write_text("a file where a folder is expected\n")
    (tmp / "bad.csv").write_text("ts,open,high,low,close,volume\n1704067200000,1,2,0.5,oops,3\n")
    (tmp / "empty.csv").write_text("")
    (tmp / "fake.parquet").write_text("not parquet\n")
    snapshot = b'1 {"lastUpdateId": 5, "E": 1, "T": 1, "bids": [["100.0", "1"]], "asks": [["101.0", "1"]]}\n'
    diff = (b'2 {"stream": "btcusdt@depth", "data": {"e": "depthUpdate", "E": 2, "T": 2, "U": 5, "u": 6, "pu": 4, '
            b'"b": [["100.0", "2"]], "a": []}}\n')
    with gzip.open(tmp / "full.gz", "wb") as f:
        f.write(snapshot + diff * 20_000)
    (tmp / "truncated.gz").write_bytes((tmp / "full.gz").read_bytes()[:200])
    with gzip.open(tmp / "notjson.gz", "wb") as f:
        f.write(b"1 {not json\n")
    with gzip.open(tmp / "nosnapshot.gz", "wb") as f:
        f.write(diff)
    book = (b'1737918843000000000 {"channel": "l2Book", "data": {"coin": "BTC", "time": 1737918843000, "levels": '
            b'[[{"px": "100.0", "sz": "1.0", "n": 1}], [{"px": "101.0", "sz": "1.0", "n": 1}]]}}\n')
    with gzip.open(tmp / "hyperliquid.gz", "wb") as f:
        f.write(book)


class SilentServer:
    """A loopback TCP server that accepts connections and never answers: a deadline must end the wait."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@dataclass
class Outcome:
    case: Case
    argv: list[str]
    names: str
    code: int
    stdout: str
    stderr: str
    cpu_s: float
    wall_s: float
    results: list[Path]


def _run(case: Case, tmp: Path, places: dict[str, str]) -> Outcome:
    argv = [arg.format(tmp=tmp, **places) for arg in case.args]
    cwd = tmp / f"cwd_{CASES.index(case)}"
    cwd.mkdir()
    out, err = cwd / ".stdout", cwd / ".stderr"
    start = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([*BOTMM, *argv], cwd=cwd, env=cli_env(), stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time, whatever else the machine runs
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    results = [*cwd.rglob("result.json"), *tmp.glob("afile*/**/result.json")]
    return Outcome(case, argv, case.names.format(tmp=tmp), proc.returncode, out.read_text(), err.read_text(),
                   usage.ru_utime + usage.ru_stime, wall, results)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    tmp = tmp_path_factory.mktemp("bad_inputs")
    _write_inputs(tmp)
    silent = SilentServer()
    refused = _refused_port()
    places = {"refused": f"http://127.0.0.1:{refused}", "silent": f"http://127.0.0.1:{silent.port}",
              "refused_ws": f"ws://127.0.0.1:{refused}", "silent_ws": f"ws://127.0.0.1:{silent.port}"}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            ran = list(pool.map(lambda c: _run(c, tmp, places), CASES))
    finally:
        silent.close()
    _write_page(ran, tmp, {refused: "<port>", silent.port: "<port>"})
    return ran


@pytest.fixture(scope="module")
def startup_s(outcomes: list[Outcome]) -> float:
    """Wall-clock time of the slowest case that makes no network call: what start-up takes on this machine now."""
    return max(o.wall_s for o in outcomes if not o.case.network)


@pytest.fixture(scope="module")
def page_before() -> str:
    """docs/errors.md as committed, read before the catalogue rewrites it."""
    return PAGE.read_text() if PAGE.is_file() else ""


def _write_page(ran: list[Outcome], tmp: Path, ports: dict[int, str]) -> None:
    """docs/errors.md from what the cases printed, the test's folder and ports replaced by placeholders."""

    def shown(text: str) -> str:
        text = text.replace(str(tmp), "<tmp>")
        for port, placeholder in ports.items():
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{placeholder}")
            text = text.replace(f"'127.0.0.1', {port})", f"'127.0.0.1', {placeholder})")
        return text

    entries = [f"$ botmm {shown(' '.join(o.argv))}\n{shown(o.stderr.rstrip())}" for o in ran]
    page = (
        "# What a bad input gets\n\n"
        "Each command below is a mistake a user can make; each stops before anything trades, with one line on stderr\n"
        "naming the bad key, value, file or option, exits non-zero and writes no `result.json`. `<tmp>` is a folder\n"
        "holding the bad files. Generated by `tests/test_errors_catalogue.py` (`python -m pytest -m slow\n"
        "tests/test_errors_catalogue.py`), which rewrites this page: do not edit it by hand.\n\n"
        f"Each exits in under {CPU_LIMIT_S:g} s of CPU time ({HEAVY_CPU_LIMIT_S:g} s when it builds the order-book "
        f"replay or reads a\ncandle file), under {WALL_LIMIT_S:g} s of wall-clock time, the network cases within "
        f"{NETWORK_LIMIT_S:g} s more.\n{_figures(ran)}\n\n"
        "```\n" + "\n\n".join(entries) + "\n```\n")
    before = PAGE.read_text() if PAGE.is_file() else ""
    if _without_figures(page) != _without_figures(before):  # the figures alone change on every run: kept
        PAGE.write_text(page)


def _figures(ran: list[Outcome]) -> str:
    """The line of measured times (median and slowest, CPU and wall-clock) the page records."""
    local = [o for o in ran if not o.case.network]
    cpu, wall = sorted(o.cpu_s for o in local), sorted(o.wall_s for o in local)
    slowest = max(local, key=lambda o: o.cpu_s)
    network = max(o.wall_s for o in ran if o.case.network)
    return (f"{FIGURES} (two cases at a time): median {statistics.median(cpu):.2f} s of CPU and "
            f"{statistics.median(wall):.2f} s wall-clock, slowest {cpu[-1]:.2f} s of CPU (`botmm "
            f"{' '.join(slowest.case.args).replace('{tmp}', '<tmp>')}`) and {wall[-1]:.2f} s wall-clock; slowest network case {network:.2f} s.")


def _without_figures(page: str) -> str:
    return re.sub(rf"{FIGURES}.*", "", page)


def test_the_page_was_current(page_before: str, outcomes: list[Outcome]) -> None:
    assert _without_figures(PAGE.read_text()) == _without_figures(page_before), \
        "docs/errors.md was stale; it has been rewritten: review and commit it"


def test_there_are_at_least_60_distinct_bad_inputs() -> None:
    assert len({c.args for c in CASES}) == len(CASES) >= 60


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(c.args) for c in CASES])
def test_each_bad_input_is_one_line_fast_and_runs_nothing(outcomes: list[Outcome], startup_s: float,
                                                          index: int) -> None:
    outcome = outcomes[index]
    report = f"{outcome.argv}: exit {outcome.code}\n{outcome.stdout[-2000:]}\n{outcome.stderr[-2000:]}"
    assert outcome.code != 0, report
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmm: "), report
    assert "Traceback" not in outcome.stdout
    assert outcome.names in lines[0], report
    assert outcome.results == [], report
    if outcome.case.network:
        assert outcome.wall_s < startup_s + NETWORK_LIMIT_S, f"{outcome.wall_s:.2f} s\n{report}"
    else:
        assert outcome.cpu_s < outcome.case.cpu_limit_s, f"{outcome.cpu_s:.2f} s of CPU\n{report}"
        assert outcome.wall_s < WALL_LIMIT_S, f"{outcome.wall_s:.2f} s wall-clock\n{report}"
