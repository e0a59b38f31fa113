"""The ``botmm`` command end to end, in subprocesses run from tmp_path (Hydra's outputs/ and multirun/ land there).

Covers the acceptance points of the CLI: single backtests and their files, multiruns and their ranked summary
(sequential, ``-m`` anywhere in the line, joblib launcher, a failing job), mode conflicts, Hydra's ``--cfg``,
``--info`` and ``--help`` passing through, one-line config errors that run nothing, real FTX data, and wall-clock
paper runs ended by their duration, SIGINT or SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from jobs import BOTMM, cli_env, wait_for
from jobs import cli as botmm
from omegaconf import OmegaConf
from test_status import get

from botmm.registry import load_plugins
from conftest import shared_file

STATUS_URL = re.compile(r"status page at (http://[\d.:]+/)")

FTX_FILE = "candles/ftx_btc-perp_20211231-20220201_1m.csv"
RESULT_KEYS = {"pnl", "return_pct", "sharpe", "max_drawdown", "fills", "volume", "fees"}
DEFAULT_CAPITAL = 10_000.0


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def only_dir(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def result_of(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "result.json").read_text())


def printed(stdout: str, key: str) -> str:
    """The value in the printed result table's row ``key``."""
    match = re.search(rf"^\W*{re.escape(key)}\s*│\s*(\S+)", stdout, re.MULTILINE)
    assert match, f"no {key!r} row in:\n{stdout}"
    return match.group(1)


def sweep_dir(tmp_path: Path, name: str = "backtest") -> Path:
    return only_dir(tmp_path / "multirun" / name)


def summary_rows(sweep: Path) -> list[dict[str, Any]]:
    csv_rows = pcsv.read_csv(sweep / "summary.csv").to_pylist()
    parquet_rows = pq.read_table(sweep / "summary.parquet").to_pylist()
    for key in ("rank", "job", "status", "overrides"):
        assert [str(r[key]) for r in csv_rows] == [str(r[key]) for r in parquet_rows]
    return parquet_rows


def expected_score(result: dict[str, Any]) -> float:
    # default summary weights (conf: summary.sharpe=1.0, summary.return_pct=0.1, summary.max_drawdown_pct=0.5)
    # a Sharpe that is n/a (fewer than MIN_DAYS days) counts as 0
    return (result["sharpe"] or 0.0) + 0.1 * result["return_pct"] - 0.5 * result["max_drawdown_pct"]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *names: str) -> str:
    assert proc.returncode != 0, output(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), output(proc)
    assert "Traceback" not in proc.stdout + proc.stderr
    for name in names:
        assert name in lines[0], output(proc)
    return lines[0]


def assert_nothing_ran(tmp_path: Path) -> None:
    assert not (tmp_path / "outputs").exists()
    assert not (tmp_path / "multirun").exists()


# --- single backtests --------------------------------------------------------------------------------------------


def test_default_backtest_writes_result_fills_and_equity(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest")
    assert proc.returncode == 0, output(proc)
    job = only_dir(tmp_path / "outputs" / "backtest")
    result = result_of(job)

    assert RESULT_KEYS <= result.keys()
    assert result["mode"] == "backtest" and result["symbol"] == "ETH"
    assert result["ticks"] == 43_200  # the default synthetic month of 1-minute bars
    assert result["fills"] > 0
    assert result["volume"] > 0 and result["fees"] > 0  # default maker fee 1.5 bps is a cost
    assert result["return_pct"] == pytest.approx(100 * result["pnl"] / DEFAULT_CAPITAL, abs=1e-5)
    assert result["max_drawdown"] >= max(0.0, -result["pnl"]) - 1e-6

    fills = pq.read_table(job / "fills.parquet")
    assert fills.num_rows == result["fills"]
    assert {"ts", "oid", "side", "price", "size", "fee", "maker"} <= set(fills.column_names)
    assert sum(fills.column("fee").to_pylist()) == pytest.approx(result["fees"], abs=1e-4)
    equity = pq.read_table(job / "equity.parquet")
    assert equity.num_rows == result["ticks"]
    assert equity.column("equity").to_pylist()[-1] - DEFAULT_CAPITAL == pytest.approx(result["pnl"], abs=1e-4)

    assert printed(proc.stdout, "pnl") == f"{result['pnl']:,.4f}"
    assert printed(proc.stdout, "sharpe") == f"{result['sharpe']:,.4f}"
    assert printed(proc.stdout, "fills") == str(result["fills"])
    assert re.search(r"^\W*max_drawdown\w*\s*│", proc.stdout, re.MULTILINE), proc.stdout


# --- multiruns ---------------------------------------------------------------------------------------------------


def test_multirun_sweep_ranks_jobs_in_summary(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "-m", "backtest", "quoter.spread_bps=2,4,6", "feed.bars=3000")
    assert proc.returncode == 0, output(proc)
    sweep = sweep_dir(tmp_path)
    jobs = {p.name: result_of(p) for p in sweep.iterdir() if (p / "result.json").is_file()}
    assert sorted(jobs) == ["0", "1", "2"]
    assert all(r["ticks"] == 3000 for r in jobs.values())
    outcomes = {(r["pnl"], r["fills"]) for r in jobs.values()}
    assert len(outcomes) == 3, f"spread_bps=2,4,6 gave identical results: {outcomes}"

    rows = summary_rows(sweep)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["status"] for r in rows] == ["ok"] * 3
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert sorted(r["overrides"] for r in rows) == [f"quoter.spread_bps={s} feed.bars=3000" for s in (2, 4, 6)]
    for row in rows:
        job = jobs[str(row["job"])]
        assert row["pnl"] == job["pnl"] and row["fills"] == job["fills"]
        assert row["score"] == pytest.approx(expected_score(job), abs=1e-5)

    assert "sweep summary" in proc.stdout
    for row in rows:
        assert re.search(rf"│\s*{row['rank']}\s*│\s*{re.escape(row['overrides'])}\s*│\s*ok", proc.stdout), proc.stdout


def test_multirun_flag_is_lifted_from_mid_line(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest", "quoter.spread_bps=2,4", "-m", "feed.bars=2000")
    assert proc.returncode == 0, output(proc)
    assert not (tmp_path / "outputs").exists()
    sweep = sweep_dir(tmp_path)
    assert sorted(p.name for p in sweep.iterdir() if (p / "result.json").is_file()) == ["0", "1"]
    rows = summary_rows(sweep)
    assert sorted(r["overrides"] for r in rows) == [f"quoter.spread_bps={s} feed.bars=2000" for s in (2, 4)]
    assert all(result_of(sweep / str(r["job"]))["ticks"] == 2000 for r in rows)


def test_multirun_with_joblib_launcher_runs_jobs_in_parallel(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "-m", "backtest", "quoter.spread_bps=2,4", "feed.bars=2000", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, output(proc)
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr, output(proc)
    sweep = sweep_dir(tmp_path)
    launcher = OmegaConf.load(sweep / "multirun.yaml").hydra.launcher
    assert "joblib" in launcher._target_.lower() and launcher.n_jobs == 2
    rows = summary_rows(sweep)
    assert [r["rank"] for r in rows] == [1, 2]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for row in rows:
        assert result_of(sweep / str(row["job"]))["fills"] == row["fills"]


def test_sweep_with_a_failing_job_still_writes_summary(tmp_path: Path, candles_dataset) -> None:
    good, bad = candles_dataset("good"), candles_dataset("bad", broken=True)  # only reading its month file fails
    proc = botmm(tmp_path, "-m", "backtest", "feed=candles", f"feed.root={good},{bad}", "asset=eth")
    assert proc.returncode != 0, output(proc)
    month = bad / "candles" / "hyperliquid" / "ETH" / "1m" / "2024-01.parquet"
    assert f"{month}: cannot read parquet" in proc.stdout + proc.stderr, output(proc)
    rows = summary_rows(sweep_dir(tmp_path))
    assert [(r["rank"], r["status"].partition(":")[0]) for r in rows] == [(1, "ok"), (None, "failed")]
    assert rows[1]["status"].startswith(f"failed: DataError: {month}: cannot read parquet")
    assert f"feed.root={good}" in rows[0]["overrides"] and f"feed.root={bad}" in rows[1]["overrides"]
    assert rows[0]["fills"] > 0 and rows[0]["score"] is not None
    assert rows[1]["fills"] is None and rows[1]["score"] is None


def test_a_sweep_over_a_bad_candle_file_is_refused_before_any_job(tmp_path: Path, candles_csv) -> None:
    """The file is read when its feed is built, so the up-front check finds its bad row (and the job reuses it)."""
    good, bad = candles_csv("good.csv"), candles_csv("bad.csv", bad_close_row=5)
    proc = botmm(tmp_path, "-m", "backtest", "feed=candles_file", f"feed.path={good},{bad}")
    assert_one_line_error(proc, f"{bad}: column 'close' row 5: non-numeric value 'oops'")
    assert not (tmp_path / "multirun").exists()


# --- modes and Hydra pass-through --------------------------------------------------------------------------------


def test_hydra_mode_multirun_is_the_same_sweep_as_dash_m(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest", "hydra.mode=MULTIRUN", "feed.bars=200", "quoter.spread_bps=2,4")
    assert proc.returncode == 0, output(proc)
    rows = summary_rows(sweep_dir(tmp_path))
    assert sorted(r["overrides"] for r in rows) == [f"feed.bars=200 quoter.spread_bps={s}" for s in (2, 4)]
    assert [r["status"] for r in rows] == ["ok", "ok"]


def test_multirun_of_run_is_refused(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "-m", "run")
    assert_one_line_error(proc, "-m run")
    assert_nothing_ran(tmp_path)


def test_conflicting_modes_are_refused(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "-m", "backtest", "--cfg", "job")
    assert_one_line_error(proc, "--cfg", "-m")
    assert_nothing_ran(tmp_path)


def test_cfg_job_prints_composed_config(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest", "--cfg", "job")
    assert proc.returncode == 0, output(proc)
    assert "spread_bps" in proc.stdout
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.asset.symbol == "ETH"
    assert cfg.quoter.spread_bps == 4.0  # conf/asset/eth.yaml
    assert "hydra" not in cfg
    assert cfg.exchange.name == "sim" and cfg.feed.name == "synthetic"
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("result.json"))


def test_info_passes_through_to_hydra(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest", "--info")
    assert proc.returncode == 0, output(proc)
    assert "Hydra 1.3" in proc.stdout
    assert "Installed Hydra Plugins" in proc.stdout
    assert "JoblibLauncher" in proc.stdout
    assert not any(tmp_path.rglob("result.json"))


def help_options(stdout: str) -> dict[str, tuple[str, str]]:
    """``key -> (default, description)`` from the options section of ``botmm <command> --help``."""
    section = stdout.split("== Options", 1)[1]
    rows = re.findall(r"^  (\S+?)=(.*?)(?: {2,}(.*))?$", section, re.MULTILINE)
    return {key: (default.strip(), doc.strip()) for key, default, doc in rows}


def test_run_help_lists_config_groups_and_options(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "run", "--help")
    assert proc.returncode == 0, output(proc)
    section = proc.stdout.split("== Config groups", 1)[1].split("== Options", 1)[0]
    groups = dict(re.findall(r"^(\w+): (.+)$", section, re.MULTILINE))
    assert {"btc", "eth", "sol"} <= set(groups["asset"].split(", "))
    assert "avellaneda" in groups["quoter"].split(", ")
    assert {"paper", "sim"} <= set(groups["exchange"].split(", "))
    assert {"candles_file", "synthetic", "synthetic_live"} <= set(groups["feed"].split(", "))
    assert "volatility" in groups["signal"].split(", ")
    assert "hydra" not in groups
    assert help_options(proc.stdout)["exchange.name"][0] == "paper"  # the run config's default venue
    assert not any(tmp_path.rglob("result.json"))


def test_help_shows_each_options_resolved_default_and_its_field_doc(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "run", "asset=btc", "--help")
    assert proc.returncode == 0, output(proc)
    shown = help_options(proc.stdout)
    # the quoter's knobs default to the asset's own values through ${oc.select:...}: shown resolved (btc's spread)
    assert shown["quoter.spread_bps"] == ("3.0", "minimum full spread, in bps of mid")
    assert shown["quoter.order_size_usd"] == ("200.0", "notional per level")
    assert shown["risk.max_position_usd"] == (
        "2000.0", "|position| * mid beyond which the growing side stops quoting")  # conf/asset/btc.yaml's
    assert shown["duration"][0] == "null" and shown["duration"][1].startswith("stop after this long")
    port = os.environ.get("BOTMM_STATUS_PORT", "8787")  # ${oc.env:BOTMM_STATUS_PORT,8787}, resolved
    assert shown["server.port"] == (port, "0: any free port (the log line says which)")
    assert shown["logging.levels.websockets"] == ("WARNING", "per-logger levels, e.g. {websockets: WARNING}")
    assert shown["strategy.auto_tune.window"][0] == "1h" and shown["strategy.auto_tune.window"][1]
    assert "${" not in proc.stdout
    assert [key for key, (_, doc) in shown.items() if not doc] == []  # every option is described
    assert "botmm -m" not in proc.stdout  # a multirun of run is refused: not suggested
    assert not any(tmp_path.rglob("result.json"))


def test_help_follows_the_overrides_and_suggests_a_sweep_where_one_runs(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "backtest", "quoter=glft", "quoter.spread_bps=7", "--help")
    assert proc.returncode == 0, output(proc)
    shown = help_options(proc.stdout)
    assert shown["quoter.name"][0] == "glft" and shown["quoter.spread_bps"][0] == "7.0"
    assert shown["feed.bar_seconds"][0] == "60"
    assert "botmm -m backtest" in proc.stdout
    record = botmm(tmp_path, "record", "--help")
    assert record.returncode == 0, output(record)
    assert help_options(record.stdout)["open_timeout_s"][1].startswith("deadline of each connection attempt")
    assert [key for key, (_, doc) in help_options(record.stdout).items() if not doc] == []
    assert [key for key, (_, doc) in shown.items() if not doc] == []
    bad = botmm(tmp_path, "backtest", "quoter=nope", "--help")
    assert bad.returncode == 2 and bad.stderr.startswith("botmm: quoter=nope: no such option"), output(bad)


# --- one-line config errors: nothing runs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["quoter.spread_bps=-1"], ["quoter.spread_bps", "> 0"]),
        (["asset=nope"], ["asset=nope", "btc"]),
        (["quoter=nope"], ["quoter=nope", "avellaneda"]),
        (["feed=candles_file", "feed.path={tmp}/missing.csv"], ["feed.path", "missing.csv"]),
        (["quoter.bad_key=1"], ["bad_key"]),
        (["risk.max_open_orders=1"], ["risk.max_open_orders"]),
        (["exchange=nope"], ["exchange=nope", "sim"]),
    ],
    ids=["negative-spread", "unknown-asset", "unknown-quoter", "missing-file", "unknown-key", "risk-limit",
         "unknown-exchange"],
)
def test_config_errors_are_one_line_and_run_nothing(tmp_path: Path, overrides: list[str], names: list[str]) -> None:
    args = [o.replace("{tmp}", str(tmp_path)) for o in overrides]
    proc = botmm(tmp_path, "backtest", *args)
    assert_one_line_error(proc, *names)
    assert_nothing_ran(tmp_path)


# --- real data ---------------------------------------------------------------------------------------------------


def test_backtest_on_real_ftx_candles(tmp_path: Path) -> None:
    path = shared_file(FTX_FILE)
    proc = botmm(tmp_path, "backtest", "feed=candles_file", f"feed.path={path}", "feed.volume_unit=quote",
                 "asset=btc")
    assert proc.returncode == 0, output(proc)
    result = result_of(only_dir(tmp_path / "outputs" / "backtest"))
    assert result["symbol"] == "BTC"
    assert result["ticks"] == 45_031
    assert result["fills"] > 0
    assert result["sharpe_basis"] == "daily"  # a month of data: daily returns


# --- wall-clock paper runs ---------------------------------------------------------------------------------------

def test_paper_run_stops_after_duration(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = botmm(tmp_path, "run", "interval=0.5s", "duration=8s", timeout=40)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, output(proc)
    assert 8 <= elapsed < 25
    job = only_dir(tmp_path / "outputs" / "run")
    result = result_of(job)
    assert result["mode"] == "run" and result["symbol"] == "ETH"
    assert result["ticks"] >= 10
    assert (result["end_ms"] - result["start_ms"]) / 1000 == pytest.approx(7.0, abs=1.5)
    assert list(job.glob("*.log")), sorted(p.name for p in job.iterdir())
    assert "botmm run ETH" in proc.stdout
    assert printed(proc.stdout, "fills") == str(result["fills"])
    assert result["fills"] > 0, result
    # seconds of data: no annualised ratio to show (not the -3,912.9 a per-tick Sharpe gave), and it says so
    assert result["sharpe"] is None and result["sortino"] is None and result["days"] == 1
    assert printed(proc.stdout, "sharpe") == "n/a" and "n/a under 7 days" in proc.stdout




def test_a_multi_asset_run_prints_one_table_with_a_column_per_asset_and_the_total(tmp_path: Path) -> None:
    proc = botmm(tmp_path, "run", "asset=[eth,btc]", "interval=0.5s", "duration=3s", timeout=60)
    assert proc.returncode == 0, output(proc)
    result = result_of(only_dir(tmp_path / "outputs" / "run"))
    header = next(line for line in proc.stdout.splitlines() if "figure" in line)
    assert re.findall(r"\w+", header) == ["figure", "ETH", "BTC", "total"], header
    rows = {m.group(1): m.group(2).split() for m in re.finditer(r"^\W*(\w+)\s*│(.*)$", proc.stdout, re.MULTILINE)}
    cells = {key: [c for c in row if c != "│"] for key, row in rows.items()}
    eth, btc = result["assets"]["ETH"], result["assets"]["BTC"]
    assert cells["fills"][:3] == [str(eth["fills"]), str(btc["fills"]), str(result["fills"])]
    assert eth["fills"] + btc["fills"] == result["fills"]
    assert cells["pnl"][2] == f"{result['pnl']:,.4f}"  # four decimals, not the sum's float noise
    assert cells["final_position"][2] == "-"  # ETH and BTC positions do not add up
    assert cells["status"][:3] == ["ok", "ok", "ok"]
    assert "{" not in proc.stdout and "'ETH'" not in proc.stdout  # no raw dict


# --- botmm record --timeout: a deadline and one line -------------------------------------------------------------


def _record_fails(tmp_path: Path, *args: str) -> tuple[str, float]:
    """``botmm record <args>``, which must fail in one line and record nothing; the line and the wall-clock time."""
    start = time.monotonic()
    proc = botmm(tmp_path, "record", f"root={tmp_path}/data", *args, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, output(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmm: "), output(proc)
    assert not (tmp_path / "data").exists() and not any(tmp_path.rglob("result.json"))
    return lines[0], elapsed


def test_record_timeout_ends_a_silent_server_and_a_closed_port_in_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the kernel's backlog), never answers
        line, elapsed = _record_fails(tmp_path, f"ws_url=ws://127.0.0.1:{silent.getsockname()[1]}/ws", "--timeout",
                                      "1")
    assert "TimeoutError" in line and "nothing recorded" in line, line
    assert elapsed < 20, elapsed  # start-up and the one-second deadline, on a loaded machine
    with socket.create_server(("127.0.0.1", 0)) as sock:
        closed = sock.getsockname()[1]
    line, _ = _record_fails(tmp_path, f"ws_url=ws://127.0.0.1:{closed}/ws", "--timeout", "2")
    assert line.startswith(f"botmm: ws_url=ws://127.0.0.1:{closed}/ws: ConnectionRefusedError"), line


def test_record_on_a_name_that_does_not_resolve_ends_in_one_line(tmp_path: Path) -> None:
    # .invalid never resolves (RFC 6761); the suite has no network, so only the line and the exit are asserted
    line, _ = _record_fails(tmp_path, "asset=[eth,btc]", "ws_url=ws://nonexistent.invalid/ws", "--timeout=2")
    assert line.startswith("botmm: ws_url=ws://nonexistent.invalid/ws: ") and "nothing recorded" in line, line


def test_record_an_exchange_no_plugin_records_ends_in_one_line(tmp_path: Path) -> None:
    line, _ = _record_fails(tmp_path, "venue=binance")
    assert line == ("botmm: venue=binance: no plugin records this exchange (botmm_l2_recorder); is its plugin "
                    "installed, or disabled (BOTMM_DISABLE_PLUGINS)?")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf", "nan"])
def test_record_timeout_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    line, _ = _record_fails(tmp_path, f"--timeout={value}")
    assert line == f"botmm: --timeout={value}: expected a positive number of seconds"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_paper_run_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([*BOTMM, "run", "server.port=0"], cwd=tmp_path, env=cli_env(), stdout=stdout,
                                stderr=stderr, text=True)
        try:
            def status() -> Optional[dict[str, Any]]:
                found = STATUS_URL.search(out.read_text() + err.read_text())
                return json.loads(get(found.group(1) + "api/status")[1])["assets"][0] if found else None

            def quoting() -> bool:  # three ticks on 1-second bars, a bid and an ask resting
                now = status()
                return now is not None and now["ticks"] >= 3 and len(now["open_orders"]) == 2

            assert wait_for(quoting, 60, every=0.2), out.read_text() + err.read_text()
            assert proc.poll() is None, "the run ended before the signal"
            proc.send_signal(sig)
            sent = time.monotonic()
            code = proc.wait(timeout=30)
            assert time.monotonic() - sent < 10  # a generous bound for a loaded machine; idle, it is about 1 s
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 0, out.read_text() + err.read_text()
    assert "Traceback" not in out.read_text() + err.read_text()
    job = only_dir(tmp_path / "outputs" / "run")
    result = result_of(job)
    assert result["mode"] == "run"
    assert 3 <= result["ticks"] <= 15  # a few seconds of 1-second bars
    assert result["orders_placed"] >= 2  # a bid and an ask were resting
    assert result["orders_cancelled"] >= 1  # ...and were cancelled on the way out
    assert (job / "fills.parquet").is_file() and (job / "equity.parquet").is_file()
    log = "".join(p.read_text() for p in job.glob("*.log"))
    assert "run ended" in log
    assert "botmm run ETH" in out.read_text()


@pytest.mark.parametrize(
    ("sweep", "names"),
    [
        (["quoter.spread_bps=2,4,-1"], ["quoter.spread_bps=-1.0", "> 0"]),
        (["quoter.spread_bps=2,abc"], ["quoter.spread_bps=abc", "Float"]),
        (["quoter=avellaneda,nope"], ["quoter=nope", "avellaneda"]),
        (["quoter.spread_bps=2,3", "fill_model.volume_cap=0.1,2"], ["fill_model.volume_cap=2.0", "(0, 1]"]),
    ],
    ids=["bad-value-last", "text-for-a-number", "unknown-option", "bad-value-in-a-grid"],
)
def test_a_bad_swept_value_fails_the_sweep_in_one_line(tmp_path: Path, sweep: list[str], names: list[str]) -> None:
    proc = botmm(tmp_path, "-m", "backtest", "feed.bars=100", *sweep)
    assert_one_line_error(proc, *names)
    assert not (tmp_path / "multirun").exists()


@pytest.mark.parametrize(("base", "override"), [
    (["asset=btc", "quoter.spread_bps=2"], "quoter.spread_bps=7"),
    (["fill_model.volume_cap=0.5"], "fill_model.volume_cap=0.25"),
    (["feed=candles_file", "feed.path=x.csv"], "feed.path=a b.csv"),
    ([], "capital=50000"),
])
def test_prevalidation_sets_a_swept_value_exactly_as_composing_does(base: list[str], override: str) -> None:
    from botmm.job_commands import _compose, _with_value

    load_plugins()  # as the CLI does before composing: plugins' schemas and presets
    fast = _with_value(_compose("backtest", base), override)
    key = override.split("=")[0]
    composed = _compose("backtest", [*(o for o in base if not o.startswith(f"{key}=")), override])
    assert fast is not None
    assert OmegaConf.to_container(fast, resolve=True) == OmegaConf.to_container(composed, resolve=True)


def test_prevalidation_composes_config_groups_and_additions() -> None:
    from botmm.job_commands import _compose, _with_value

    load_plugins()
    first = _compose("backtest", [])
    assert _with_value(first, "quoter=glft") is None
    assert _with_value(first, "+quoter.extra=1") is None
    assert _with_value(first, "quoter.no_such_key=1") is None
