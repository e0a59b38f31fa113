"""``botmm run`` on Hyperliquid end to end: the CLI in a subprocess, the real SDK over HTTP, the loopback server
(tests/hl_server.py) checking every order server-side.

* a timed run: every order passes the rounding rules and carries the wallet's signature, unchanged quotes are not
  re-sent, each fill reaches the result once, nothing rests afterwards, and the key appears in no output;
* SIGTERM: every order cancelled and verified, exit within 5 s;
* several assets in one process;
* mainnet without a key or without confirmation: one line, non-zero, before any network call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer

BOTMM = [sys.executable, "-c", "from botmm.cli import main; main()"]
USER = Account.from_key(TEST_KEY).address.lower()
TIGHT = ["quoter.spread_bps=1", "quoter.vol_multiplier=0"]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HL_PRIVATE_KEY", "HYDRA_FULL_ERROR")}
    base.update(COLUMNS="250", PYTHONUNBUFFERED="1", **extra)
    return base


def botmm_run(cwd: Path, *args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOTMM, "run", *args], cwd=cwd, env=env(**extra), capture_output=True, text=True,
                          timeout=timeout)


def output(proc: Any) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, HLServer, Path]]:
    """One 6-second run on ETH against a moving book."""
    tmp = tmp_path_factory.mktemp("hl_run")
    server = HLServer(step_s=0.5, move_prob=0.5, seed=3).start()
    try:
        proc = botmm_run(tmp, "exchange=hl_testnet", "exchange.websocket=false",
                         f"exchange.base_url={server.url}", "asset=eth", "duration=6s",
                         "interval=0.25s", *TIGHT, f"hydra.run.dir={tmp / 'out'}", HL_PRIVATE_KEY=TEST_KEY)
        yield proc, server, tmp
    finally:
        server.stop()


def test_run_quotes_with_valid_signed_orders_only(timed_run) -> None:
    proc, server, _ = timed_run
    assert proc.returncode == 0, output(proc)
    orders = [e for e in server.order_log if e["user"] == USER]
    assert len(orders) >= 4
    assert server.rule_failures == [], server.rule_failures[:3]  # every price and size checked server-side
    assert server.violations == []  # ALO only, recoverable signatures, increasing nonces
    assert set(server.signers) == {USER}
    assert server.rate_limited == 0


def test_unchanged_quotes_are_not_resent(timed_run) -> None:
    proc, server, tmp = timed_run
    result = json.loads((tmp / "out" / "result.json").read_text())
    modifies = [e for e in server.order_log if e["what"] == "modify"]
    assert all((e["px"], e["sz"]) != (e["old_px"], e["old_sz"]) for e in modifies if "old_px" in e)
    sent = len(server.order_log)
    assert result["ticks"] >= 18
    assert sent < result["ticks"], f"{sent} orders for {result['ticks']} ticks"
    assert result["calls_saved"] > 0


def test_every_fill_is_recorded_exactly_once(timed_run) -> None:
    proc, server, tmp = timed_run
    server_fills = Counter((f["oid"], float(f["px"]), float(f["sz"]), 1 if f["side"] == "B" else -1)
                           for f in server.fills(USER))
    rows = pq.read_table(tmp / "out" / "fills.parquet").to_pylist()
    ours = Counter((r["oid"], r["price"], r["size"], r["side"]) for r in rows)
    assert sum(server_fills.values()) >= 1, "the moving book traded through a quote"
    assert ours == server_fills
    result = json.loads((tmp / "out" / "result.json").read_text())
    assert result["fills"] == len(rows)
    signed = sum((1 if f["side"] == "B" else -1) * float(f["sz"]) for f in server.fills(USER))
    assert result["final_position"] == pytest.approx(signed)


def test_nothing_rests_after_the_run_and_the_switch_is_disarmed(timed_run) -> None:
    proc, server, _ = timed_run
    assert server.resting(USER) == []
    assert server.accounts[USER].schedule is None
    assert server.triggers == 0


def test_key_never_appears_in_output_logs_or_hydra_files(timed_run) -> None:
    proc, server, tmp = timed_run
    bare = TEST_KEY[2:]
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    files = [p for p in (tmp / "out").rglob("*") if p.is_file()]
    assert any(p.parent.name == ".hydra" for p in files) and any(p.suffix == ".log" for p in files)
    for path in files:
        texts[str(path)] = path.read_bytes().decode("latin-1")
    for name, text in texts.items():
        assert bare.lower() not in text.lower(), f"the key leaked into {name}"
    assert "HL_PRIVATE_KEY" in (tmp / "out" / ".hydra" / "config.yaml").read_text()  # only its name


def test_sigterm_cancels_every_order_and_exits_within_5s(tmp_path: Path) -> None:
    server = HLServer(step_s=0.5, move_prob=0.5, seed=5).start()
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    try:
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen([*BOTMM, "run", "exchange=hl_testnet", "exchange.websocket=false",
                                     f"exchange.base_url={server.url}",
                                     "asset=eth", "interval=0.25s", *TIGHT, f"hydra.run.dir={tmp_path / 'out'}"],
                                    cwd=tmp_path, env=env(HL_PRIVATE_KEY=TEST_KEY), stdout=stdout, stderr=stderr)
            try:
                assert wait_for(lambda: len(server.resting(USER)) >= 2, 30), err.read_text()
                time.sleep(1.5)
                assert proc.poll() is None
                proc.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                code = proc.wait(timeout=10)
                took = time.monotonic() - sent
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert server.resting(USER) == []
    finally:
        server.stop()
    logs = out.read_text() + err.read_text()
    assert code == 0, logs
    assert took < 5.0, f"exit took {took:.1f}s"
    assert "SIGTERM received" in logs and "none resting" in logs and "Traceback" not in logs
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["orders_cancelled"] >= 1
    assert "botmm run ETH" in out.read_text()


def test_several_assets_in_one_process(tmp_path: Path) -> None:
    server = HLServer(step_s=0.5, move_prob=0.5, seed=7).start()
    try:
        proc = botmm_run(tmp_path, "asset=[eth,btc]", "exchange=hl_testnet", "exchange.websocket=false",
                         f"exchange.base_url={server.url}",
                         "capital=20000", "duration=3s", "interval=0.25s", *TIGHT, f"hydra.run.dir={tmp_path / 'out'}",
                         HL_PRIVATE_KEY=TEST_KEY)
        assert proc.returncode == 0, output(proc)
        assert {e["coin"] for e in server.order_log} == {"ETH", "BTC"}
        assert server.resting(USER) == [] and server.rule_failures == []
        assert [r["type"] for r in server.requests].count("meta") == 1  # one client for the account
    finally:
        server.stop()
    combined = json.loads((tmp_path / "out" / "result.json").read_text())
    per_asset = {name: json.loads((tmp_path / "out" / name / "result.json").read_text()) for name in ("eth", "btc")}
    assert combined["symbol"] == "ETH+BTC" and set(combined["assets"]) == {"ETH", "BTC"}
    assert combined["fills"] == sum(r["fills"] for r in per_asset.values())
    assert combined["return_pct"] == pytest.approx(100 * combined["pnl"] / 20000, abs=1e-6)
    assert "botmm run ETH+BTC" in proc.stdout


@pytest.mark.parametrize(("args", "key", "message"), [
    ([], TEST_KEY, "botmm: exchange.confirm_mainnet=false: https://api.hyperliquid.xyz is Hyperliquid mainnet and "
                   "trades real money; add exchange.confirm_mainnet=true to confirm"),
    (["exchange.confirm_mainnet=true"], None,
     "botmm: exchange.key_env=HL_PRIVATE_KEY: environment variable HL_PRIVATE_KEY is not set"),
], ids=["without-confirmation", "without-key"])
def test_mainnet_refuses_before_any_network_call(tmp_path: Path, args: list[str], key, message: str) -> None:
    proxy = HLServer().start()  # every HTTP(S) request of the process would go through it
    try:
        extra = {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url, "NO_PROXY": ""}
        if key:
            extra["HL_PRIVATE_KEY"] = key
        proc = botmm_run(tmp_path, "exchange=hl_mainnet", *args, **extra)
        assert proxy.requests == []
        probe = "import requests\ntry: requests.post('https://api.hyperliquid.xyz/info', json={}, timeout=3)\n" \
                "except requests.RequestException: pass"
        subprocess.run([sys.executable, "-c", probe], env=env(**extra), timeout=30)
        assert [r["path"] for r in proxy.requests] == ["api.hyperliquid.xyz:443"]  # the proxy would have seen it
    finally:
        proxy.stop()
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), output(proc)
    assert not (tmp_path / "outputs").exists()
    assert TEST_KEY[2:] not in proc.stdout + proc.stderr
from jobs import wait_for
