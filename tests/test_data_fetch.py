"""``botmm data fetch`` against loopback Hyperliquid and Bybit servers that answer in each venue's real format
(:mod:`candle_servers`): the dataset written, resuming, idempotence, retries, one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from botmm.cli import cli
from botmm.data.dataset import dataset_dir
from botmm.data.fetch import FetchResult, Retry, _Transient, fetch_candles
from botmm.errors import ConfigError, DataError
from candle_servers import BYBIT_SYMBOLS, HL_COINS, BybitCandleServer, CandleServer, HLCandleServer, bar, run_botmm

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE, DAY = 60_000, 86_400_000
FEB = T0 + 31 * DAY
VENUES = {"hyperliquid": ("BTC", HL_COINS["BTC"][0]), "bybit": ("BTCUSDT", BYBIT_SYMBOLS["BTCUSDT"])}


@pytest.fixture
def hl() -> CandleServer:
    with HLCandleServer() as server:
        yield server


@pytest.fixture
def bybit() -> CandleServer:
    with BybitCandleServer() as server:
        yield server


@pytest.fixture
def servers(hl: CandleServer, bybit: CandleServer) -> dict[str, CandleServer]:
    return {"hyperliquid": hl, "bybit": bybit}


def fetch(server: CandleServer, venue: str, root: Path, start: int, end: int, **kwargs) -> FetchResult:
    symbol = kwargs.pop("symbol", VENUES[venue][0])
    return fetch_candles(venue, symbol, kwargs.pop("interval", "1m"), start, end, root, base_url=server.url,
                         backoff_s=0.0, **kwargs)


def stored(root: Path, venue: str) -> pa.Table:
    folder = dataset_dir(root, venue, VENUES[venue][0], "1m")
    return pa.concat_tables([pq.read_table(path) for path in sorted(folder.glob("*.parquet"))])


def assert_stored_bars(root: Path, venue: str, start: int, end: int) -> None:
    """The dataset holds exactly the server's bars in [start, end), once each, with the server's values."""
    table = stored(root, venue)
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    np.testing.assert_array_equal(ts, np.arange(start, end, MINUTE))
    rows = [bar(VENUES[venue][1], MINUTE, int(t)) for t in ts]
    for i, name in enumerate(("open", "high", "low", "close", "volume")):
        np.testing.assert_array_equal(table.column(name).to_numpy(), [float(r[i]) for r in rows], err_msg=name)


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def test_hyperliquid_fetch_pages_through_candle_snapshot(hl: CandleServer, tmp_path: Path) -> None:
    start, end = FEB - 2 * DAY, FEB + 2 * DAY  # 5760 bars across a month boundary
    result = fetch(hl, "hyperliquid", tmp_path, start, end)
    assert (result.wanted, result.stored_before, result.added, result.missing) == (5760, 0, 5760, 0)
    assert result.requests == 2 and hl.meta_requests == 1
    assert hl.candle_requests == [
        {"coin": "BTC", "interval": "1m", "startTime": start, "endTime": start + 4999 * MINUTE},
        {"coin": "BTC", "interval": "1m", "startTime": start + 5000 * MINUTE, "endTime": end - MINUTE},
    ]
    folder = dataset_dir(tmp_path, "hyperliquid", "BTC", "1m")
    assert [p.name for p in result.files] == ["2024-01.parquet", "2024-02.parquet"]
    assert [pq.read_metadata(folder / name).num_rows for name in ("2024-01.parquet", "2024-02.parquet")] == [2880] * 2
    assert_stored_bars(tmp_path, "hyperliquid", start, end)


def test_bybit_fetch_pages_through_klines_newest_first(bybit: CandleServer, tmp_path: Path) -> None:
    start, end = T0, T0 + 2500 * MINUTE
    result = fetch(bybit, "bybit", tmp_path, start, end)
    assert (result.wanted, result.added, result.requests, result.missing) == (2500, 2500, 3, 0)
    assert bybit.candle_requests[0] == {"category": "linear", "symbol": "BTCUSDT", "interval": "1",
                                        "start": str(start), "end": str(start + 999 * MINUTE), "limit": "1000"}
    assert [int(q["start"]) for q in bybit.candle_requests] == [start, start + 1000 * MINUTE, start + 2000 * MINUTE]
    assert bybit.candle_requests[-1]["end"] == str(end - MINUTE)
    assert_stored_bars(tmp_path, "bybit", start, end)


@pytest.mark.parametrize("venue", VENUES)
def test_second_run_requests_nothing_and_changes_no_file(
    venue: str, servers: dict[str, CandleServer], tmp_path: Path
) -> None:
    server = servers[venue]
    start, end = FEB - DAY, FEB + DAY
    fetch(server, venue, tmp_path, start, end)
    before, asked = snapshot(tmp_path), len(server.candle_requests)
    again = fetch(server, venue, tmp_path, start, end)
    assert (again.requests, again.added, again.replaced, again.files) == (0, 0, 0, [])
    assert (again.wanted, again.stored_before, again.missing) == (2880, 2880, 0)
    assert len(server.candle_requests) == asked
    assert snapshot(tmp_path) == before


def test_a_wider_range_fetches_only_the_new_bars(bybit: CandleServer, tmp_path: Path) -> None:
    fetch(bybit, "bybit", tmp_path, T0 + DAY, T0 + 2 * DAY)
    bybit.candle_requests.clear()
    result = fetch(bybit, "bybit", tmp_path, T0, T0 + 3 * DAY)
    assert (result.stored_before, result.added) == (1440, 2880)
    assert [int(q["start"]) for q in bybit.candle_requests] == [
        T0, T0 + 1000 * MINUTE, T0 + 2 * DAY, T0 + 2 * DAY + 1000 * MINUTE]  # the stored day is skipped
    assert_stored_bars(tmp_path, "bybit", T0, T0 + 3 * DAY)


@pytest.mark.parametrize(
    ("venue", "bars", "good_pages", "kept"), [("hyperliquid", 7000, 1, 5000), ("bybit", 4500, 2, 2000)]
)
def test_interrupted_fetch_resumes_without_duplicates(
    venue: str, bars: int, good_pages: int, kept: int, servers: dict[str, CandleServer], tmp_path: Path
) -> None:
    server = servers[venue]
    start, end = FEB - DAY, FEB - DAY + bars * MINUTE
    server.fail(500, after=good_pages, times=None)  # the server breaks down mid-way and stays down
    with pytest.raises(DataError) as info:
        fetch(server, venue, tmp_path, start, end, retries=1)
    assert str(info.value).endswith("HTTP 500; gave up after 2 attempt(s)")
    assert len(server.candle_requests) == good_pages + 2
    assert stored(tmp_path, venue).num_rows == kept
    server.heal()
    server.candle_requests.clear()
    result = fetch(server, venue, tmp_path, start, end)
    assert (result.stored_before, result.added, result.missing) == (kept, bars - kept, 0)
    assert len(server.candle_requests) == -(-(bars - kept) // (5000 if venue == "hyperliquid" else 1000))
    assert_stored_bars(tmp_path, venue, start, end)


def test_hyperliquid_retries_429_and_500(hl: CandleServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hl.fail(429, times=2)
    hl.fail(500, after=2)
    with caplog.at_level(logging.WARNING, logger="botmm.data.fetch"):
        result = fetch(hl, "hyperliquid", tmp_path, T0, T0 + 100 * MINUTE)
    assert (result.added, result.requests) == (100, 1)
    assert len(hl.candle_requests) == 4
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split(": ", 1)[1] for m in messages] == [
        "HTTP 429 (rate limited); retry 1 of 6 in 0.00 s", "HTTP 429 (rate limited); retry 2 of 6 in 0.00 s",
        "HTTP 500; retry 3 of 6 in 0.00 s"]
    assert messages[0].startswith("hyperliquid BTC 1m 2024-01-01T00:00Z..2024-01-01T01:39Z: ")
    assert_stored_bars(tmp_path, "hyperliquid", T0, T0 + 100 * MINUTE)


def test_bybit_retries_429_500_and_too_many_visits(
    bybit: CandleServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bybit.fail(429)
    bybit.fail(10006, after=1)
    bybit.fail(503, after=2)
    with caplog.at_level(logging.WARNING, logger="botmm.data.fetch"):
        result = fetch(bybit, "bybit", tmp_path, T0, T0 + 100 * MINUTE)
    assert (result.added, result.requests, len(bybit.candle_requests)) == (100, 1, 4)
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "HTTP 429; retry 1 of 6 in 0.00 s", "retCode 10006 (Too many visits!); retry 2 of 6 in 0.00 s",
        "HTTP 503; retry 3 of 6 in 0.00 s"]
    assert_stored_bars(tmp_path, "bybit", T0, T0 + 100 * MINUTE)


def test_retry_waits_double_up_to_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("botmm.data.fetch.time.sleep", waits.append)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 9:
            raise _Transient("HTTP 429")
        return "ok"

    assert Retry(retries=8, backoff_s=0.5).call(flaky, "x") == "ok"
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    calls.clear()
    with pytest.raises(DataError, match=r"^x: HTTP 429; gave up after 3 attempt\(s\)$"):
        Retry(retries=2, backoff_s=0.5).call(flaky, "x")


def test_bars_the_venue_lacks_are_reported_and_asked_for_again(
    hl: CandleServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hl.holes.update({T0 + 10 * MINUTE, T0 + 11 * MINUTE, T0 + 50 * MINUTE})
    with caplog.at_level(logging.WARNING, logger="botmm.data.fetch"):
        result = fetch(hl, "hyperliquid", tmp_path, T0, T0 + 100 * MINUTE)
    assert (result.added, result.missing) == (97, 3)
    assert result.summary("hyperliquid BTC 1m").endswith("97 of 100 bars stored in "
                                                         f"{result.directory}; 3 not available from the venue")
    assert caplog.records[-1].getMessage() == (
        "hyperliquid BTC 1m: 3 bar(s) between 2024-01-01T00:00Z and 2024-01-01T01:40Z are not available "
        "(Hyperliquid keeps only the latest 5000 bars of an interval)")
    before = snapshot(tmp_path)
    hl.candle_requests.clear()
    again = fetch(hl, "hyperliquid", tmp_path, T0, T0 + 100 * MINUTE)
    assert hl.candle_requests == [{"coin": "BTC", "interval": "1m", "startTime": T0 + 10 * MINUTE,
                                   "endTime": T0 + 50 * MINUTE}]
    assert (again.added, again.missing) == (0, 3)
    assert snapshot(tmp_path) == before


def test_only_closed_bars_are_fetched(bybit: CandleServer, tmp_path: Path) -> None:
    result = fetch(bybit, "bybit", tmp_path, T0, T0 + DAY, now_ms=T0 + 10 * MINUTE + 30_000)
    assert (result.wanted, result.added) == (10, 10)
    assert_stored_bars(tmp_path, "bybit", T0, T0 + 10 * MINUTE)


def test_start_is_rounded_up_to_the_next_bar(hl: CandleServer, tmp_path: Path) -> None:
    result = fetch(hl, "hyperliquid", tmp_path, T0 + 30_000, T0 + 5 * MINUTE)
    assert result.wanted == 4
    assert_stored_bars(tmp_path, "hyperliquid", T0 + MINUTE, T0 + 5 * MINUTE)


# --- one-line errors through the CLI ---


def run_fetch(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["data", "fetch", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("venue", "symbol", "interval", "message", "candle_requests"),
    [
        ("hyperliquid", "DOGEX", "1m", "hyperliquid: no perpetual named 'DOGEX'; listed: BTC, ETH, kPEPE, ...", 0),
        ("hyperliquid", "btc", "1m", "hyperliquid: no perpetual named 'btc'; did you mean 'BTC'?", 0),
        ("hyperliquid", "BTC", "6h", "hyperliquid has no '6h' candles; choose one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, "
                                     "8h, 12h, 1d", 0),
        ("bybit", "BTCUSD", "1m", "bybit BTCUSD 1m: Not supported symbols (retCode 10001)", 1),
        ("bybit", "BTCUSDT", "8h", "bybit has no '8h' candles; choose one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, "
                                   "12h, 1d", 0),
        ("bybit", "BTCUSDT", "7m", "interval '7m' is not supported; choose one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, "
                                   "6h, 8h, 12h, 1d", 0),
    ],
)
def test_bad_symbol_or_interval_is_one_line(
    venue: str, symbol: str, interval: str, message: str, candle_requests: int, servers: dict[str, CandleServer],
    tmp_path: Path,
) -> None:
    server = servers[venue]
    code, out, err = run_fetch("--venue", venue, "--symbol", symbol, "--interval", interval, "--start", "2024-01-01",
                               "--end", "2024-01-02", "--root", str(tmp_path), "--base-url", server.url)
    assert (code, out, err) == (1, "", f"botmm: {message}\n")
    assert len(server.candle_requests) == candle_requests
    assert not (tmp_path / "candles").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--start", "2024-01-02", "--end", "2024-01-01"], "--end=2024-01-01 must be after --start=2024-01-02"),
     (["--start", "Jan 1"], "--start=Jan 1: expected an ISO date or time")],
)
def test_bad_dates_are_one_line(args: list[str], message: str, bybit: CandleServer, tmp_path: Path) -> None:
    code, out, err = run_fetch("--venue", "bybit", "--symbol", "BTCUSDT", "--root", str(tmp_path),
                               "--base-url", bybit.url, *args)
    assert code == 1 and out == "" and err.startswith(f"botmm: {message}") and err.count("\n") == 1
    assert bybit.candle_requests == []


def test_python_api_refuses_an_unknown_venue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="venue 'ftx' is not supported; choose one of hyperliquid, bybit"):
        fetch_candles("ftx", "BTC", "1m", T0, T0 + DAY, tmp_path)


def test_cli_fetch_twice_then_backtest_the_dataset(hl: CandleServer, tmp_path: Path) -> None:
    fetch_args = ["data", "fetch", "--venue", "hyperliquid", "--symbol", "BTC", "--interval", "1m",
                  "--start", "2024-01-31T12:00", "--end", "2024-02-01T12:00", "--base-url", hl.url]
    first = run_botmm(tmp_path, {"fetch": fetch_args})["fetch"]
    assert first.returncode == 0, first.stderr
    folder = Path("data") / "candles" / "hyperliquid" / "BTC" / "1m"
    summary = f"hyperliquid BTC 1m: 1440 new bar(s) from 1 request(s); 1440 of 1440 bars stored in {folder}\n"
    assert first.stdout == summary
    before = snapshot(tmp_path / "data")
    runs = run_botmm(tmp_path, {
        "again": fetch_args,
        "backtest": ["backtest", "feed=candles", "feed.root=data", "feed.venue=hyperliquid", "feed.symbol=BTC",
                     "feed.interval=1m", "asset=btc", "hydra.run.dir=out"],
    })
    assert runs["again"].stdout.startswith("hyperliquid BTC 1m: 0 new bar(s) from 0 request(s); 1440 of 1440")
    assert len(hl.candle_requests) == 1 and hl.meta_requests == 1
    assert runs["backtest"].returncode == 0, runs["backtest"].stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert (result["ticks"], result["symbol"]) == (1440, "BTC")
    assert result["start_ms"] == FEB - 12 * 3_600_000 + MINUTE
    assert snapshot(tmp_path / "data") == before


@pytest.mark.parametrize("venue", ["hyperliquid", "bybit"])
def test_a_host_that_does_not_resolve_is_one_line_at_once_not_retried(tmp_path, monkeypatch, venue) -> None:
    """Offline (name resolution fails: simulated, no packet leaves): no retry could help, so no backoff is waited."""
    import socket

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    with pytest.raises(DataError, match=r"^http://api\.example\.invalid.*: cannot resolve the host name"):
        fetch_candles(venue, "BTC" if venue == "hyperliquid" else "BTCUSDT", "1m", T0, T0 + DAY, tmp_path,
                      base_url="http://api.example.invalid", retries=6, backoff_s=60.0)


@pytest.mark.parametrize("venue", ["hyperliquid", "bybit"])
def test_an_address_where_nothing_listens_is_one_line_at_once_not_retried(tmp_path, caplog, venue) -> None:
    """A refused connection (a loopback port nobody listens on) fails at the first request, not after the backoff."""
    import socket

    with socket.socket() as probe:  # a free port, closed again: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = rf"^http://127\.0\.0\.1:{port}.*: connection refused"
    with caplog.at_level(logging.WARNING, logger="botmm.data.fetch"), pytest.raises(DataError, match=refused):
        fetch_candles(venue, "BTC" if venue == "hyperliquid" else "BTCUSDT", "1m", T0, T0 + DAY, tmp_path,
                      base_url=f"http://127.0.0.1:{port}", retries=6, backoff_s=60.0)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]  # no backoff waited
