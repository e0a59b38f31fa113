"""Secrets through the real ``botmm run`` CLI in a subprocess: a full run against the loopback Hyperliquid server
(tests/hl_server.py, the real SDK over HTTP) leaves the key in no file of its output directory, no log and no captured
output, in any spelling; every refusal (a key pasted into a config value, an invalid key, a key file open to others,
mainnet without confirmation or explicit limits) is one line without the key, before any network call and before
Hydra writes the job's output directory; Hydra's own output is masked too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer

from botmm.secrets import SECP256K1_ORDER

BOTMM = [sys.executable, "-c", "from botmm.cli import main; main()"]
USER = Account.from_key(TEST_KEY).address.lower()
KEY_HELP = "a key goes in the environment variable named by exchange.key_env or the file named by exchange.key_file"


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HL_PRIVATE_KEY", "HYDRA_FULL_ERROR")}
    base.update(COLUMNS="250", PYTHONUNBUFFERED="1", **extra)
    return base


def botmm(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOTMM, "run", *args], cwd=cwd, env=env(**extra), capture_output=True, text=True,
                          timeout=120)


def assert_absent(key: str, texts: dict[str, str]) -> None:
    """No spelling of ``key`` (with and without 0x, lower and upper case) in any of ``texts``."""
    bare = key[2:] if key[:2].lower() == "0x" else key
    spellings = {bare.lower(), bare.upper(), "0x" + bare.lower(), "0x" + bare.upper()}
    for name, text in texts.items():
        found = [s for s in spellings if s in text] + ([bare.lower()] if bare.lower() in text.lower() else [])
        assert not found, f"the key leaked into {name}"


def files_of(folder: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def proxy() -> Iterator[HLServer]:
    """Every HTTP(S) request of a refused run would go through this server: it must see none."""
    server = HLServer().start()
    yield server
    server.stop()


def test_a_full_run_leaves_the_key_nowhere(tmp_path: Path) -> None:
    server = HLServer(step_s=0.5, move_prob=0.5, seed=11).start()
    try:
        proc = botmm(tmp_path, "exchange=hl_testnet", "exchange.websocket=false",
                     f"exchange.base_url={server.url}", "asset=eth", "duration=3s",
                     "interval=0.25s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", "logging.level=DEBUG",
                     f"logging.path={tmp_path / 'logs' / 'bot.log'}", "logging.json=true",
                     f"hydra.run.dir={tmp_path / 'out'}", HL_PRIVATE_KEY=TEST_KEY.upper().replace("0X", "0x"))
        assert proc.returncode == 0, proc.stderr
        assert [e for e in server.order_log if e["user"] == USER], "the run quoted with the key"
    finally:
        server.stop()
    out = files_of(tmp_path / "out")
    names = {Path(name).name for name in out}
    assert {"config.yaml", "overrides.yaml", "hydra.yaml", "botmm.log", "result.json", "fills.parquet"} <= names
    assert json.loads((tmp_path / "out" / "result.json").read_text())["ticks"] >= 6
    assert "DEBUG" in out[str(tmp_path / "out" / "botmm.log")]
    logs = files_of(tmp_path / "logs")
    assert_absent(TEST_KEY, {"stdout": proc.stdout, "stderr": proc.stderr, **out, **logs})
    assert not any(bytes.fromhex(TEST_KEY[2:]).decode("latin-1") in text for text in (*out.values(), *logs.values()))


LEAK = "0x" + "7d" * 32
CASES = {
    "pasted-account-address": (
        ["exchange=hl_testnet", f"exchange.account_address={LEAK}"], {"HL_PRIVATE_KEY": TEST_KEY}, LEAK,
        f"botmm: exchange.account_address: holds what looks like a private key; refused before anything is written or "
        f"printed: {KEY_HELP}"),
    "interpolated-from-the-environment": (
        ["exchange=hl_testnet", "exchange.account_address=${oc.env:BOTMM_LEAK}"], {"BOTMM_LEAK": LEAK}, LEAK,
        "botmm: exchange.account_address: holds what looks like a private key"),
    "key-at-the-curve-order": (
        ["exchange=hl_testnet"], {"HL_PRIVATE_KEY": f"0x{SECP256K1_ORDER:064x}"}, f"{SECP256K1_ORDER:064x}",
        "botmm: exchange.key_env=HL_PRIVATE_KEY: is not a valid secp256k1 private key (zero, or not below the curve "
        "order); use the key your wallet exported"),
    "mainnet-trailing-dot-and-port": (
        ["exchange=hl_testnet", "exchange.base_url=https://API.hyperliquid.xyz.:443"], {"HL_PRIVATE_KEY": TEST_KEY},
        TEST_KEY, "botmm: exchange.confirm_mainnet=false: https://api.hyperliquid.xyz is Hyperliquid mainnet and "
                  "trades real money; add exchange.confirm_mainnet=true to confirm"),
    "mainnet-with-preset-limits-only": (
        ["exchange=hl_mainnet", "exchange.confirm_mainnet=true", "risk.max_order_usd=100"],
        {"HL_PRIVATE_KEY": TEST_KEY}, TEST_KEY,
        "botmm: risk.max_position_usd: Hyperliquid mainnet needs explicit risk limits; add "
        "risk.max_position_usd=<USD> to the command line"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_refusal_is_one_line_without_the_key_before_any_request_or_output_dir(tmp_path: Path, proxy: HLServer,
                                                                                case: str) -> None:
    args, extra, key, message = CASES[case]
    before = len(proxy.requests)
    routed = {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url, "NO_PROXY": ""}
    proc = botmm(tmp_path, *args, f"hydra.run.dir={tmp_path / 'out'}", **routed, **extra)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proxy.requests) == before  # nothing connected
    assert not (tmp_path / "out").exists() and not (tmp_path / "outputs").exists()  # Hydra wrote nothing
    assert_absent(key, {"stdout": proc.stdout, "stderr": proc.stderr})


def test_a_key_file_open_to_others_is_refused_naming_the_file_and_the_fix(tmp_path: Path, proxy: HLServer) -> None:
    key_file = tmp_path / "hl.key"
    key_file.write_text(TEST_KEY + "\n")
    key_file.chmod(0o644)
    proc = botmm(tmp_path, "exchange=hl_testnet", f"exchange.key_file={key_file}", f"hydra.run.dir={tmp_path / 'out'}",
                 HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"botmm: exchange.key_file={key_file}: is accessible by group or others (mode 0644), "
                           f"refused as ssh refuses such a key file; run: chmod 600 {key_file}\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["job", "error"])
def test_hydra_own_output_is_masked(tmp_path: Path, mode: str) -> None:
    """``--cfg job --resolve`` skips botmm's checks and has Hydra print the resolved config itself, or Hydra's own
    error report when a resolved value does not fit its field."""
    field = "exchange.account_address" if mode == "job" else "exchange.timeout_s"
    proc = botmm(tmp_path, "--cfg", "job", "--resolve", "exchange=hl_testnet", f"{field}=${{oc.env:BOTMM_LEAK}}",
                 BOTMM_LEAK=LEAK)
    assert_absent(LEAK, {"stdout": proc.stdout, "stderr": proc.stderr})
    if mode == "job":
        assert proc.returncode == 0 and "account_address: '***'" in proc.stdout, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 1 and "***" in proc.stderr, proc.stderr
