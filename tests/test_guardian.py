"""The guardian process (botmm.runners.guardian): a real child process that cancels the bot's orders when the bot's
process dies or stops beating, and does nothing after a clean stop. Its cancel here is tests/guardian_fake.py's,
which records each call; the Hyperliquid guardian's own filter is tested on a real frontendOpenOrders shape."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from jobs import wait_for

from botmm.errors import ConfigError
from botmm.plugins.exchanges.hyperliquid.guardian import own_orders
from botmm.protocols import GuardianSpec
from botmm.runners.guardian import start_guardian

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def importable_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def spec(record: Path, **settings: object) -> GuardianSpec:
    return GuardianSpec("guardian_fake", {"record": str(record), **settings})


def cancels(record: Path) -> int:
    return record.read_text().count("cancel") if record.exists() else 0


def test_a_clean_stop_ends_it_without_cancelling(tmp_path: Path) -> None:
    guardian = start_guardian(spec(tmp_path / "record"), 30.0, tmp_path)
    for _ in range(5):
        guardian.beat()
    guardian.stop()
    assert guardian.process.returncode == 0
    assert cancels(tmp_path / "record") == 0
    assert "stopped by the bot" in (tmp_path / "guardian.log").read_text()


def test_no_beat_for_the_timeout_cancels_and_goes_on_watching(tmp_path: Path) -> None:
    record = tmp_path / "record"
    guardian = start_guardian(spec(record), 0.5, tmp_path)
    assert wait_for(lambda: cancels(record) >= 1, 10)
    assert "no beat for 0.5s: the bot hangs or is blind" in (tmp_path / "guardian.log").read_text()
    assert guardian.process.poll() is None  # still watching: a hung bot may recover and quote again
    guardian.stop()
    assert guardian.process.returncode == 0


def test_it_retries_until_none_of_the_orders_rests(tmp_path: Path) -> None:
    record = tmp_path / "record"
    guardian = start_guardian(spec(record, rests=3), 0.3, tmp_path)
    assert wait_for(lambda: cancels(record) == 4, 15)  # 3 answers "1 still rests", then 0
    guardian.stop()
    assert cancels(record) == 4


BOT = """
import sys, time
from pathlib import Path
from botmm.protocols import GuardianSpec
from botmm.runners.guardian import start_guardian
out = Path(sys.argv[1])
guardian = start_guardian(GuardianSpec("guardian_fake", {"record": str(out / "record")}), 60.0, out)
(out / "pid").write_text(str(guardian.pid))
while True:
    guardian.beat()
    time.sleep(0.1)
"""


def test_a_killed_bot_is_covered_at_once(tmp_path: Path) -> None:
    """kill -9 of the bot: the guardian's input ends, and it cancels long before its 60 s beat timeout."""
    bot = subprocess.Popen([sys.executable, "-c", BOT, str(tmp_path)], env=os.environ.copy())
    try:
        assert wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text() != "", 30)
        guardian_pid = int((tmp_path / "pid").read_text())
        assert cancels(tmp_path / "record") == 0
        bot.send_signal(signal.SIGKILL)
        bot.wait()
        assert wait_for(lambda: cancels(tmp_path / "record") == 1, 10)
        assert wait_for(lambda: not _alive(guardian_pid), 10)  # it exits once none rests
        assert "the bot's process is gone" in (tmp_path / "guardian.log").read_text()
    finally:
        if bot.poll() is None:
            bot.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the killed bot, reparented: gone for our purpose once it has exited
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def test_a_missing_key_variable_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMM_TEST_GUARDIAN_KEY", raising=False)
    with pytest.raises(ConfigError, match="^guardian: environment variable BOTMM_TEST_GUARDIAN_KEY is not set"):
        start_guardian(GuardianSpec("guardian_fake", {}, env=["BOTMM_TEST_GUARDIAN_KEY"]), 1.0, tmp_path)


def test_the_hyperliquid_guardian_touches_only_the_bots_orders_of_its_coins() -> None:
    orders = [  # frontendOpenOrders entries (other fields left out)
        {"coin": "ETH", "oid": 1, "cloid": "0xb0770000000000000000000000000001"},
        {"coin": "ETH", "oid": 2, "cloid": None},  # placed by hand
        {"coin": "ETH", "oid": 3, "cloid": "0x12345678000000000000000000000002"},  # another bot
        {"coin": "BTC", "oid": 4, "cloid": "0xB0770000000000000000000000000003"},  # ours, upper case
        {"coin": "SOL", "oid": 5, "cloid": "0xb0770000000000000000000000000004"},  # ours, another coin
    ]
    assert own_orders(orders, {"ETH", "BTC"}, "b0770000") == [("ETH", 1), ("BTC", 4)]
