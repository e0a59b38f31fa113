"""The status server inside real runs: ``botmm run`` on the paper venue read back from headless Chromium against
``result.json``, and ``/healthz`` through a data outage of the loopback exchange (tests/hl_server.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from hl_server import TEST_KEY, HLServer
from jobs import BOTMM, cli_env, compose_job, wait_for
from test_status import field, get, number

from botmm.runners.live import run

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
DOCS_SHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "status_page.png"
URL = re.compile(r"status page at (http://[\d.:]+/)")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120)


def feed_ended(url: str) -> bool:
    """No bar for over a second (they come every 0.1 s): the paper feed is exhausted and nothing moves."""
    age = json.loads(get(url + "api/status")[1])["assets"][0]["data_age_s"]
    return age is not None and age > 1.0


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs the Debian package)")
def test_status_page_in_chromium_equals_the_result(tmp_path: Path) -> None:
    """A paper run on 40 bars (4 s at 600x): once the feed has ended nothing moves, so the page Chromium renders
    must show the position, PnL, fills and resting orders the run then writes to result.json."""
    log = tmp_path / "stdout.txt"
    with log.open("w") as stdout:
        proc = subprocess.Popen([*BOTMM, "run", "feed.bars=40", "exchange.speed=600", "interval=0.1s",
                                 "risk.max_data_age=600s", "server.port=0", f"hydra.run.dir={tmp_path / 'out'}"],
                                cwd=tmp_path, env=cli_env(), stdout=stdout, stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: URL.search(log.read_text()) is not None, 60), log.read_text()
            url = URL.search(log.read_text()).group(1)
            assert wait_for(lambda: feed_ended(url), 60, every=0.2), log.read_text()
            before = json.loads(get(url + "api/status")[1])["assets"][0]
            shot = tmp_path / "status_page.png"
            dom = chromium("--window-size=1100,1500", f"--screenshot={shot}", "--dump-dom", url)
            page = dom.stdout
            after = json.loads(get(url + "api/status")[1])["assets"][0]
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "data-field" in page, dom.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert before["fills"] == after["fills"] == result["fills"] > 0
    assert number(field(page, "position")) == pytest.approx(result["final_position"], abs=1e-9)
    assert int(field(page, "fills")) == result["fills"]
    assert number(field(page, "pnl_start_total")) == pytest.approx(result["pnl"], abs=5e-5)
    assert number(field(page, "pnl_start_realized")) == pytest.approx(result["realized_pnl"], abs=5e-5)
    assert number(field(page, "pnl_start_fees")) == pytest.approx(result["fees"], abs=5e-5)
    assert number(field(page, "pnl_today_total")) == pytest.approx(result["pnl"], abs=5e-5)  # the run began today
    # the orders on the page are the venue's: the stop cancelled exactly those (and nothing was cancelled since)
    rows = re.findall(r'<tr data-oid="(\d+)"><td data-field="side">(\w+)</td><td data-field="price">([\d,.]+)<', page)
    assert [(int(oid), side, number(price)) for oid, side, price in rows] == [
        (o["oid"], o["side"], round(o["price"], 4)) for o in after["open_orders"]]
    assert len(rows) >= 1
    assert result["orders_cancelled"] - after["orders_cancelled"] == len(rows)
    assert field(page, "orders") == (f"{result['orders_placed']} / {result['orders_modified']} / "
                                     f"{after['orders_cancelled']}")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("BOTMM_DOCS_SCREENSHOTS"):  # refresh the picture docs/operations.md shows
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, DOCS_SHOT)


class UrlCatcher(logging.Handler):
    """Catches the status server's "status page at <url>" log line of an in-process run."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.url: Optional[str] = None

    def emit(self, record: logging.LogRecord) -> None:
        found = URL.search(record.getMessage())
        if found:
            self.url = found.group(1)


def test_healthz_turns_503_within_max_data_age_of_an_outage_and_recovers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_PRIVATE_KEY", TEST_KEY)
    server = HLServer(step_s=0.4, move_prob=0.6).start()
    catcher, logger = UrlCatcher(), logging.getLogger("botmm.status")
    logger.addHandler(catcher)
    level = logger.level
    logger.setLevel(logging.INFO)
    limit = 2.0
    seen: dict[str, Any] = {}
    finished = threading.Event()

    def outage() -> None:
        try:
            assert wait_for(lambda: catcher.url is not None, 30)
            health = catcher.url + "healthz"
            seen["healthy_before"] = wait_for(lambda: get(health)[0] == 200, 30)
            bodies = [get(catcher.url + path)[1] for path in ("", "fragment", "api/status", "metrics", "healthz")]
            seen["bodies"] = bodies
            fault = server.inject("5xx", path="/info", types=("l2Book",), times=10**6)
            began = time.monotonic()
            seen["unhealthy"] = wait_for(lambda: get(health)[0] == 503, 3 * limit, every=0.02)
            seen["took"] = time.monotonic() - began
            seen["reason"] = get(health)[1]
            fault.times = fault.fired  # the exchange answers again
            began = time.monotonic()
            seen["recovered"] = wait_for(lambda: get(health)[0] == 200, 15)
            seen["recovery"] = time.monotonic() - began
        finally:
            if not finished.is_set():  # (the duration is only a backstop)
                os.kill(os.getpid(), signal.SIGINT)  # the runner stops as on Ctrl-C

    cfg = compose_job("exchange=hl_testnet", "exchange.websocket=false",
                      f"exchange.base_url={server.url}", "asset=eth", "duration=120s",
                      "interval=0.2s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", "exchange.timeout_s=0.5",
                      "risk.cooldown_seconds=0.5", f"risk.max_data_age={limit}s", "server.port=0", name="run")
    watcher = threading.Thread(target=outage, daemon=True)
    try:
        watcher.start()
        result = run(cfg, tmp_path)
        finished.set()
        watcher.join(5)
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(level)
        server.stop()
    assert seen["healthy_before"]
    assert seen["unhealthy"], seen
    assert seen["took"] <= limit + 0.5, f"503 only {seen['took']:.2f}s into the outage"
    assert seen["reason"].startswith("ETH: market data") and f"(max {limit:g}s)" in seen["reason"]
    assert seen["recovered"], seen
    assert result["venue_errors"] > 0
    bare = TEST_KEY.removeprefix("0x").lower()
    for body in seen["bodies"]:
        assert bare not in body.lower()
    assert '"position"' in seen["bodies"][2] and "botmm_position" in seen["bodies"][3]


def test_record_serves_its_data_age_and_rows(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families
    from ws_server import HLWsServer, synthetic_messages

    from botmm.runners.record import record

    stream, backfill = synthetic_messages({"BTC": 100_000.0}, 400, 0, 1000)
    ws = HLWsServer(stream, backfill, interval_s=0.01, live_times=True)
    catcher, logger = UrlCatcher(), logging.getLogger("botmm.status")
    logger.addHandler(catcher)
    level = logger.level
    logger.setLevel(logging.INFO)
    seen: dict[str, Any] = {}

    def watch() -> None:
        assert wait_for(lambda: catcher.url is not None, 30)
        api = catcher.url + "api/status"
        seen["recording"] = wait_for(lambda: json.loads(get(api)[1])["assets"][0]["rows"] > 0, 30)
        seen["healthz"] = get(catcher.url + "healthz")
        seen["page"] = get(catcher.url)[1]
        seen["metrics"] = {s.name: s.value for f in text_string_to_metric_families(get(catcher.url + "metrics")[1])
                           for s in f.samples}

    cfg = compose_job(f"ws_url={ws.start()}", f"root={tmp_path / 'data'}", "asset=btc", "duration=4s",
                      "flush_seconds=0.2",  # rows are counted as they are written: several flushes in the run
                      "server.enabled=true", "server.port=0", name="record")
    watcher = threading.Thread(target=watch, daemon=True)
    try:
        watcher.start()
        result = record(cfg, tmp_path / "out")
        watcher.join(10)
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(level)
        ws.stop()
    assert seen["recording"] and seen["healthz"] == (200, "ok\n")
    assert 'data-asset="BTC"' in seen["page"] and 'data-field="rows"' in seen["page"]
    assert 0 < seen["metrics"]["botmm_recorded_rows_total"] <= result["rows"]["BTC"]
    assert 0 <= seen["metrics"]["botmm_data_age_seconds"] < 45
