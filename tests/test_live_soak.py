"""``botmm run 'asset=[eth,btc,sol]'`` at default settings against the loopback server (tests/hl_server.py), the CLI
in a subprocess:

* a short run: the three assets share one rate budget, whose figures in result.json and the summary are the
  server's own count of the weight it charged, with no 429 and no address refusal, and at start they read the
  account (fills, funding, open orders) once, not once each; each asset reports how fast it answered the pushed
  books (``reaction``);
* the 10-minute soak (``-m slow``), issue 12's acceptance: zero 429s, budget use under 50 %, and no fill missing or
  counted twice against the server's fills by trade id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from eth_account import Account
from hl_server import TEST_KEY, HLServer
from hl_ws import HLWebsocket
from jobs import cli_env

USER = Account.from_key(TEST_KEY).address.lower()
ASSETS = ("eth", "btc", "sol")


def run_three(tmp: Path, duration: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], HLServer,
                                                                 HLWebsocket]:
    """The three assets at defaults (only the exchange's addresses and the duration given) on a moving book that
    now and then jumps 30 ticks (through the bot's quotes: fills), with the exchange's HTTP and websocket sides."""
    server = HLServer(step_s=0.5, move_prob=0.5, seed=11, jump_prob=0.01, jump_ticks=30).start()
    ws = HLWebsocket(server).start()
    try:
        proc = subprocess.run([sys.executable, "-m", "botmm", "run", f"asset=[{','.join(ASSETS)}]",
                               "exchange=hl_testnet", f"exchange.base_url={server.url}", f"exchange.ws_url={ws.url}",
                               f"duration={duration}", f"hydra.run.dir={tmp / 'out'}"],
                              cwd=tmp, env={**cli_env(), "HL_PRIVATE_KEY": TEST_KEY}, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        ws.stop()
        server.stop()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc, server, ws


def peak_window(server: HLServer) -> int:
    """The most weight the server charged within any 60 s (its clock)."""
    charged = [(r["time"], r.get("weight", 0)) for r in server.requests]
    return max(sum(w for t, w in charged if end - 60_000 < t <= end) for end, _ in charged)


def assert_fills_match(server: HLServer, out: Path, result: dict[str, Any]) -> None:
    """Every fill of the bot's orders on the server is in exactly one asset's fills.parquet, once."""
    server_tids = Counter(f["tid"] for f in server.fills(USER) if f.get("cloid"))
    ours = Counter(row["tid"] for asset in ASSETS for row in pq.read_table(out / asset / "fills.parquet").to_pylist())
    assert ours == server_tids and result["fills"] == sum(server_tids.values())


def test_three_assets_report_one_shared_budget_as_the_server_counts_it(tmp_path: Path) -> None:
    proc, server, ws = run_three(tmp_path, "6s", 120)
    out = tmp_path / "out"
    combined = json.loads((out / "result.json").read_text())
    budgets = [json.loads((out / asset / "result.json").read_text())["budget"] for asset in ASSETS]
    budget = combined["budget"]
    assert server.rate_limited == 0 and server.address_limited == 0 and budget["rate_limited"] == 0
    assert budget in budgets and {b["ip_limit"] for b in budgets} == {1000}
    charged = sum(r.get("weight", 0) for r in server.requests)  # the run is shorter than the 60-s window
    assert peak_window(server) == charged
    assert budget["ip_peak_pct"] == pytest.approx(100 * charged / 1000, abs=2.0)  # within one read
    assert budget["address_requests"] == server._account(USER).requests_used
    assert_fills_match(server, out, combined)
    first_order = next(i for i, r in enumerate(server.requests) if r["type"] == "order")
    start = Counter(r["type"] for r in server.requests[:first_order])  # the account's reads are shared at start
    assert (start["userFillsByTime"], start["userFunding"], start["frontendOpenOrders"]) == (2, 1, 1)
    assert "budget.ip_peak_pct" in proc.stdout and "budget.rate_limited" in proc.stdout
    for asset in ASSETS:  # each asset timed its answers to the pushed books
        reaction = json.loads((out / asset / "result.json").read_text())["reaction"]
        coin = asset.upper()
        books = sum(1 for _, c in ws.books_written if c == coin)
        actions = sum(1 for r in server.exchange_requests("order", "batchModify") if coin in r["coins"])
        assert 0 < reaction["books_answered"] <= min(books, actions)
        assert 0 < reaction["book_to_order_median_ms"] <= reaction["book_to_order_p99_ms"] < 1000
    assert "reaction.book_to_order_median_ms" in proc.stdout


@pytest.mark.slow
def test_soak_ten_minutes_three_assets_at_defaults(tmp_path: Path) -> None:
    proc, server, _ = run_three(tmp_path, "10m", 900)
    out = tmp_path / "out"
    combined = json.loads((out / "result.json").read_text())
    assert server.rate_limited == 0 and server.address_limited == 0 and combined["budget"]["rate_limited"] == 0
    assert peak_window(server) < 0.5 * 1200  # of the exchange's IP limit, as the server counted it
    assert combined["budget"]["ip_peak_pct"] < 50.0  # ... and of the bot's own weight_budget, as it counted it
    assert combined["fills"] >= 10  # the jumps trade through the quotes: the check below has fills to check
    assert_fills_match(server, out, combined)
