"""Live quoting speed on the websocket path: a real ``botmm run`` process (Hyperliquid venue, ``exchange=hl_testnet``
at its defaults) against the loopback exchange (tests/hl_server.py over HTTP, tests/hl_ws.py pushing books every
0.5 s like the real exchange, each moving), with 0, 50 and 200 ms of round trip injected into every request, for
one asset and for three. Per setting it prints:

* **book -> order, in the bot** (``result.json``'s ``reaction``, the slowest asset's): from the bot reading a book
  message to handing the first order or modify after it to HTTP (signed), median and p99 in ms, beside the median
  **step CPU** (the thread's CPU time of a ``Pipeline.step`` that sent an order or modify, including that send and
  its answer's handling), the issue's yardstick at 0 ms ("below 1 ms plus one step of CPU");
* **book -> order, on the wire**: from the exchange writing a book to the bot's connection to the exchange reading
  the request line of the next order or modify for that coin. The loopback exchange runs in this process: its
  threads (the websocket's pushes, each action's signature check in the SDK's pure-Python recovery, ~1 ms) share
  one interpreter lock, so when several actions arrive together this figure carries the exchange's own queue too;
* **ticks/s** per asset (``result.json``'s ticks over the run);
* **CPU %** of one core and peak **RSS** of the bot's process (``/proc``), from its first order to its stop.

Then, per delay, the transport of an action: the same signed order-then-cancel pair sent ``--actions`` times over
HTTP (the SDK's session, as the venue sends) and as websocket ``post`` requests, median and p99 round trip in ms.

    python benchmarks/live_latency.py [--minutes 0.5] [--delays 0 50 200] [--assets 1 3] [--actions 100]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hl_server import TEST_KEY, HLServer  # noqa: E402  (the loopback exchange of the tests)
from hl_ws import HLWebsocket  # noqa: E402

ASSETS = {1: "eth", 3: "[eth,btc,sol]"}
ACTIONS = ("order", "batchModify")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def latencies_ms(server: HLServer, ws: HLWebsocket) -> list[float]:
    """For each order or modify action: its arrival minus the last book of its coin written before it."""
    books: dict[str, list[int]] = {}
    for ns, coin in ws.books_written:
        books.setdefault(coin, []).append(ns)
    out = []
    for request in server.exchange_requests(*ACTIONS):
        for coin in request["coins"]:
            times = books.get(coin, [])
            i = bisect.bisect_left(times, request["ns"])
            if i:
                out.append((request["ns"] - times[i - 1]) / 1e6)
    return out


def run_setting(delay_ms: int, assets: int, seconds: float) -> dict[str, float]:
    server = HLServer(step_s=0.5, move_prob=1.0).start()
    ws = HLWebsocket(server).start()
    server.latency_s = delay_ms / 1000
    out = Path(tempfile.mkdtemp(prefix="live_latency_"))
    args = [sys.executable, "-m", "botmm", "run", "exchange=hl_testnet", f"exchange.base_url={server.url}",
            f"exchange.ws_url={ws.url}", f"asset={ASSETS[assets]}", f"duration={seconds:g}s", "server.port=0",
            f"risk.state_dir={out / 'state'}", f"hydra.run.dir={out / 'run'}"]
    env = {**os.environ, "HL_PRIVATE_KEY": TEST_KEY}
    try:
        with (out / "log.txt").open("w") as log:
            bot = subprocess.Popen(args, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
            while not server.exchange_requests(*ACTIONS) and bot.poll() is None:
                time.sleep(0.05)
            began, cpu0, peak = time.monotonic(), cpu_seconds(bot.pid), 0.0
            ended, cpu1 = began, cpu0
            while bot.poll() is None:
                try:
                    ended, cpu1, peak = time.monotonic(), cpu_seconds(bot.pid), max(peak, rss_mb(bot.pid))
                except FileNotFoundError:
                    break
                time.sleep(0.5)
            if bot.wait(timeout=60) != 0:
                raise SystemExit(f"the bot failed (exit {bot.returncode}): see {out / 'log.txt'}")
        result = json.loads((out / "run" / "result.json").read_text())
        reactions = [r["reaction"] for r in result.get("assets", {"": result}).values()]
        lat = sorted(latencies_ms(server, ws))
        return {"median_ms": statistics.median(lat), "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
                "bot_median_ms": max(r["book_to_order_median_ms"] for r in reactions),
                "bot_p99_ms": max(r["book_to_order_p99_ms"] for r in reactions),
                "step_cpu_ms": max(r["step_cpu_median_ms"] for r in reactions),
                "actions": len(lat), "ticks_per_s": result["ticks"] / assets / seconds,
                "cpu_pct": 100 * (cpu1 - cpu0) / max(ended - began, 1e-9), "rss_mb": peak,
                "errors_429": server.rate_limited}
    finally:
        ws.stop()
        server.stop()


def round_trips(send: Callable[[dict], Any], client: Any, count: int, first: int) -> list[float]:
    """Round trips (ms) of ``count`` actions sent by ``send``: a far bid (cloids counting from ``first``), then its
    cancel, alternately."""
    from botmm.plugins.exchanges.hyperliquid.client import OrderSpec

    times, oid = [], None
    for i in range(count):
        if oid is None:
            action = {"type": "order", "grouping": "na", "orders": [client._wire(
                OrderSpec("ETH", True, 0.01, 1500.0, f"0x{first + i:032x}"))]}
        else:
            action = {"type": "cancel", "cancels": [{"a": 1, "o": oid}]}
        nonce = client.nonces.next()
        payload = {"action": action, "nonce": nonce, "expiresAfter": None, "vaultAddress": None,
                   "signature": client.signer.sign(action, nonce)}
        began = time.perf_counter()
        answer = send(payload)
        times.append((time.perf_counter() - began) * 1000)
        statuses = answer["response"]["data"]["statuses"]
        oid = statuses[0]["resting"]["oid"] if oid is None else None
    return sorted(times)


def transports(delay_ms: int, count: int) -> dict[str, list[float]]:
    """Round trips of the same actions over HTTP and as websocket posts at ``delay_ms``."""
    from eth_account import Account
    from websockets.sync.client import connect

    from botmm.plugins.exchanges.hyperliquid.client import ClientSettings, close_client, open_client

    server = HLServer(step_s=3600).start()
    ws = HLWebsocket(server).start()
    wallet = Account.from_key(TEST_KEY)
    client = open_client(ClientSettings(server.url, False, 5.0, 1200, 10.0), wallet, wallet.address)
    server.latency_s = delay_ms / 1000
    try:
        http = round_trips(lambda payload: client.exchange.post("/exchange", payload), client, count, 0)
        with connect(ws.url) as conn:
            ids = iter(range(1, 1 << 30))

            def post(payload: dict) -> Any:
                n = next(ids)
                conn.send(json.dumps({"method": "post", "id": n,
                                      "request": {"type": "action", "payload": payload}}))
                while True:
                    message = json.loads(conn.recv())
                    if message.get("channel") == "post" and message["data"]["id"] == n:
                        return message["data"]["response"]["payload"]

            websocket = round_trips(post, client, count, count)
        return {"HTTP": http, "ws post": websocket}
    finally:
        close_client(client)
        ws.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=0.5)
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 50, 200], help="round trip per request, ms")
    parser.add_argument("--assets", type=int, nargs="*", default=[1, 3], choices=sorted(ASSETS), help="none: skip")
    parser.add_argument("--actions", type=int, default=100, help="actions per transport and delay (0: skip)")
    a = parser.parse_args()
    print("book -> order, in the bot: its book message read -> its order or modify handed to HTTP (the slowest "
          "asset's figure);\n             on the wire: the book written by the exchange -> the order's request "
          "line read by it (every order or modify)")
    print(f"{'delay':>6} {'assets':>6} {'in the bot: median':>19} {'p99':>8} {'step CPU':>9} "
          f"{'on the wire: median':>20} {'p99':>8} {'actions':>8} {'ticks/s/asset':>14} {'CPU %':>6} {'RSS MB':>7} {'429s':>5}")
    for delay in a.delays:
        for assets in a.assets:
            r = run_setting(delay, assets, a.minutes * 60)
            print(f"{delay:>4}ms {assets:>6} {r['bot_median_ms']:>16.2f} ms {r['bot_p99_ms']:>5.1f} ms "
                  f"{r['step_cpu_ms']:>6.2f} ms {r['median_ms']:>17.2f} ms {r['p99_ms']:>5.1f} ms {r['actions']:>8} "
                  f"{r['ticks_per_s']:>14.2f} {r['cpu_pct']:>6.1f} {r['rss_mb']:>7.0f} {r['errors_429']:>5}",
                  flush=True)
    if a.actions:
        print(f"\n{'delay':>6} {'transport':>10} {'round trip median':>18} {'p99':>8}")
        for delay in a.delays:
            for name, times in transports(delay, a.actions).items():
                print(f"{delay:>4}ms {name:>10} {statistics.median(times):>15.2f} ms "
                      f"{times[min(len(times) - 1, int(0.99 * len(times)))]:>5.1f} ms", flush=True)


if __name__ == "__main__":
    main()
