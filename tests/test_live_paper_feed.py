"""``exchange=paper feed=hyperliquid``: paper trading on live public Hyperliquid data (here the loopback server),
no key, fills simulated locally."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
from hl_server import HLServer
from hl_ws import HLWebsocket, ws_exchange
from jobs import compose_job, wait_for

from botmm.errors import DataError
from botmm.runners.live import run


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HLServer, HLWebsocket]]:
    monkeypatch.delenv("HL_PRIVATE_KEY", raising=False)
    with ws_exchange(step_s=0.3, move_prob=0.8) as both:
        yield both


def paper(exchange: tuple[HLServer, HLWebsocket], tmp_path: Path, *overrides: str) -> dict:
    server, ws = exchange
    cfg = compose_job("exchange=paper", "feed=hyperliquid", f"feed.base_url={server.url}", f"feed.ws_url={ws.url}",
                      "asset=eth", "interval=0.5s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", *overrides,
                      name="run")
    return run(cfg, tmp_path)


def test_paper_run_on_live_books_reads_only_public_data(exchange, tmp_path: Path) -> None:
    server, ws = exchange
    result = paper(exchange, tmp_path, "duration=3s")
    kinds = [(r["path"], r["type"]) for r in server.requests]
    assert kinds == [("/info", "meta")]  # no key, no /exchange, no polling: the books are pushed
    assert {message["channel"] for message in ws.sent} == {"l2Book"}
    assert result["ticks"] >= 2
    equity = pq.read_table(tmp_path / "equity.parquet").to_pydict()
    low, high = 2990.0, 3010.0  # the server's ETH book starts at 3000.0/3000.1 and moves a few ticks at a time
    assert all(low < mid < high for mid in equity["mid"])
    assert len(set(equity["mid"])) > 1, "the bars follow the moving book"


def test_feed_maps_the_symbol_and_stops_the_run_when_the_book_stalls(exchange, tmp_path: Path) -> None:
    server, ws = exchange

    def stall() -> None:
        assert wait_for(lambda: len(ws.book_times) >= 3, 10)
        ws.stall(60)

    threading.Thread(target=stall, daemon=True).start()
    with pytest.raises(DataError, match=r"^feed=hyperliquid: no ETH book from ws://127.0.0.1:\d+/ws for 2s$"):
        paper(exchange, tmp_path, "asset.symbol=ETH-PERP", "feed.stall_s=2")
    assert (tmp_path / "result.json").is_file()  # stopped safely: outputs written
