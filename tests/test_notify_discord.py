"""notifier=discord against a loopback stand-in for Discord: bursts batched within the rate limit, 429s honoured,
and a dead webhook that never slows or stops trading."""

from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from botmm.model import Fill, Side
from botmm.notify import Notification
from botmm.pipeline import Run
from botmm.plugins.notifiers.discord import MAX_CONTENT, DiscordNotifier, DiscordParams, pack
from discord_server import DiscordServer
from jobs import backtest_strategy, wait_for

ENV = "BOTMM_TEST_WEBHOOK"


def _run(mode: str = "run") -> Run:
    return Run(OmegaConf.create({}), mode, "ETH", Path("out"))


def _notifier(**params) -> DiscordNotifier:
    return DiscordNotifier(DiscordParams(name="discord", webhook_env=ENV, **params))




@pytest.fixture
def discord(monkeypatch: pytest.MonkeyPatch):
    server = DiscordServer()
    monkeypatch.setenv(ENV, server.start())
    yield server
    server.stop()


def test_a_burst_of_100_fills_is_batched_within_the_rate_limit(discord: DiscordServer) -> None:
    notifier = _notifier(batch_seconds=1.0)
    run = _run()
    began = time.perf_counter()
    notifier.botmm_run_start(run=run)
    for i in range(100):
        side = Side.BUY if i % 4 else Side.SELL
        notifier.botmm_fill(run=run, fill=Fill(i, i, side, 3000.0 + i % 7, 0.01, 0.001, True))
    queued_in = time.perf_counter() - began
    assert queued_in < 0.5  # the trading side only queues
    assert wait_for(lambda: notifier.stats["posted"] >= 1, 5)
    notifier.close(5)
    assert discord.violations == 0
    assert len(discord.messages) == 1  # start and the whole burst: one message
    (message,) = discord.messages
    assert message.splitlines()[0] == "`ETH` run started (output: out)"
    summary = message.splitlines()[1]
    assert re.fullmatch(r"`ETH` 100 fills: 75 buys 0\.75 @ avg 300\d\.\d+, 25 sells 0\.25 @ avg 300\d\.\d+; "
                        r"fees 0\.100000", summary), summary
    assert notifier.stats["queued"] == 101 and notifier.stats["dropped"] == 0


def test_bursts_larger_than_a_message_are_split_and_paced_by_the_bucket(discord: DiscordServer) -> None:
    notifier = _notifier(batch_seconds=0.2, max_per_minute=30)
    run = _run()
    for i in range(60):
        notifier.botmm_event(run=run, event="params_rejected", data={"file": f"p{i}.yaml", "error": "x" * 200})
    notifier.close(20)
    assert len(discord.messages) >= 7 and all(len(m) <= MAX_CONTENT for m in discord.messages)
    assert sum(m.count("params file p") for m in discord.messages) == 60
    assert discord.violations == 0  # X-RateLimit-Remaining: 0 made the sender wait for the bucket's reset
    accepted = [p.at for p in discord.posts if p.status == 204]
    assert accepted[5] - accepted[0] >= discord.bucket_s - 0.05


def test_notifiers_of_one_webhook_share_its_rate_limit(discord: DiscordServer) -> None:
    eth, btc = _notifier(batch_seconds=0.0, max_per_minute=3), _notifier(batch_seconds=0.0, max_per_minute=3)
    for i in range(3):
        for notifier, symbol in ((eth, "ETH"), (btc, "BTC")):
            notifier.botmm_event(run=Run(OmegaConf.create({}), "run", symbol, Path("out")), event="venue_error",
                                 data={"error": f"e{i}"})
            time.sleep(0.05)  # one message per notification
    assert wait_for(lambda: eth.stats["posted"] + btc.stats["posted"] == 3, 10)
    assert len(discord.posts) == 3
    assert eth.limiter is btc.limiter
    assert eth.limiter.acquire() > 50  # the next post waits for the minute's window to open
    for notifier in (eth, btc):
        notifier.close(0)


def test_a_429_is_retried_after_its_retry_after(discord: DiscordServer) -> None:
    discord.script = [429]
    discord.scripted_retry_after = 0.6
    notifier = _notifier(batch_seconds=0.0)
    notifier.botmm_event(run=_run(), event="circuit_break", data={"reason": "5 API errors"})
    assert wait_for(lambda: len(discord.messages) == 1, 5)
    first, second = discord.posts
    assert (first.status, second.status) == (429, 204)
    assert second.at - first.at >= 0.6  # the JSON retry_after, not the 9 s Retry-After header
    assert second.at - first.at < 3
    assert first.body["content"] == second.body["content"] == \
        "`ETH` circuit break: every order cancelled, quoting paused (5 API errors)"
    assert second.body["allowed_mentions"] == {"parse": []}
    assert notifier.stats["rate_limited"] == 1
    notifier.close(1)


def test_a_failing_post_is_retried_then_the_webhook_recovers(discord: DiscordServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    discord.script = [500]
    notifier = _notifier(batch_seconds=0.0)
    with caplog.at_level(logging.INFO, logger="botmm.notify.discord"):
        notifier.botmm_event(run=_run(), event="venue_error", data={"error": "HTTP 502"})
        # "posted" counts after the recovery line is logged; the server sees the message a moment earlier
        assert wait_for(lambda: notifier.stats["posted"] == 1, 5)
    assert [p.status for p in discord.posts] == [500, 204]
    assert "discord webhook failed" in caplog.text and "reachable again" in caplog.text
    notifier.close(1)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhook"


def test_an_unreachable_webhook_is_logged_and_costs_nothing(monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(ENV, _closed_port_url())
    notifier = _notifier(batch_seconds=0.0, max_retries=1)
    run = _run()
    with caplog.at_level(logging.WARNING, logger="botmm.notify.discord"):
        began = time.perf_counter()
        for i in range(200):
            notifier.botmm_fill(run=run, fill=Fill(i, i, Side.BUY, 3000.0, 0.01, 0.0, True))
        assert time.perf_counter() - began < 0.5
        assert wait_for(lambda: notifier.stats["failed_posts"] >= 2, 5)
        began = time.perf_counter()
        notifier.botmm_run_end(run=run, result={"pnl": 0.0, "fills": 200, "symbol": "ETH"})
        assert time.perf_counter() - began < 0.5  # no waiting on a webhook that is failing
    assert caplog.text.count("discord webhook failed") == 1  # logged once per failing streak
    assert notifier.failing and notifier.stats["posted"] == 0


def test_without_a_webhook_notifications_are_only_logged(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(ENV, raising=False)
    notifier = _notifier()
    with caplog.at_level(logging.INFO):
        notifier.botmm_event(run=_run(), event="foreign_order", data={"coin": "ETH", "oid": 2})
        notifier.botmm_event(run=_run(), event="foreign_order", data={"coin": "ETH", "oid": 3})
    assert caplog.text.count(f"environment variable {ENV} is not set") == 1
    assert "ETH order 3 is not the bot's: left untouched" in caplog.text
    assert notifier.queue.empty()


def test_pack_keeps_order_and_sums_up_only_the_busy_symbols_fills() -> None:
    def fill(symbol: str, side: int) -> Notification:
        return Notification("fill", symbol, "run", 20, "fill", data={"side": side, "size": 1.0, "price": 10.0,
                                                                      "fee": 0.0})

    notes = [Notification("start", "ETH", "run", 20, "run started"), *(fill("ETH", 1) for _ in range(3)),
             fill("BTC", -1), Notification("stop", "ETH", "run", 20, "run ended")]
    assert pack(notes, max_fill_lines=2) == [
        "`ETH` run started\n`ETH` 3 fills: 3 buys 3 @ avg 10; fees 0.000000\n`BTC` fill\n`ETH` run ended"]


def test_a_dead_webhook_never_changes_a_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blackhole = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)
    monkeypatch.setenv(ENV, f"http://127.0.0.1:{blackhole.getsockname()[1]}/webhook")
    try:
        quiet = backtest_strategy(tmp_path / "console", "feed.bars=3000").outcome
        began = time.perf_counter()
        loud = backtest_strategy(tmp_path / "discord", "feed.bars=3000", "notifier=discord",
                                 f"notifier.webhook_env={ENV}", "notifier.fills=true", "notifier.timeout_s=0.3",
                                 "notifier.log_events=false").outcome
        took = time.perf_counter() - began
    finally:
        blackhole.close()
    assert loud["fills"] > 50
    assert loud == quiet
    assert took < 10
