"""``exchange=paper feed=hyperliquid``: paper trading on live public Hyperliquid data (here the loopback server),
no key, fills simulated locally."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
from hl_server import HLServer
from jobs import compose_job

from botmm.errors import DataError
from botmm.runners.live import run


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HLServer]:
    monkeypatch.delenv("HL_PRIVATE_KEY", raising=False)
    srv = HLServer(step_s=0.3, move_prob=0.8, seed=11).start()
    yield srv
    srv.stop()


def paper(server: HLServer, tmp_path: Path, *overrides: str) -> dict:
    cfg = compose_job("exchange=paper", "feed=hyperliquid", f"feed.base_url={server.url}", "feed.poll_s=0.1",
                      "asset=eth", "interval=0.5s", "quoter.spread_bps=1", "quoter.vol_multiplier=0", *overrides,
                      name="run")
    return run(cfg, tmp_path)


def test_paper_run_on_live_books_reads_only_public_data(server: HLServer, tmp_path: Path) -> None:
    result = paper(server, tmp_path, "duration=3s")
    kinds = {(r["path"], r["type"]) for r in server.requests}
    assert kinds == {("/info", "meta"), ("/info", "l2Book")}  # no key, no /exchange
    assert result["ticks"] >= 2
    equity = pq.read_table(tmp_path / "equity.parquet").to_pydict()
    low, high = 2990.0, 3010.0  # the server's ETH book starts at 3000.0/3000.1 and moves a few ticks at a time
    assert all(low < mid < high for mid in equity["mid"])
    assert len(set(equity["mid"])) > 1, "the bars follow the moving book"


def test_feed_maps_the_symbol_and_stops_the_run_when_the_book_stalls(server: HLServer, tmp_path: Path) -> None:
    server.inject("5xx", path="/info", types=("l2Book",), after=3, times=10_000)
    with pytest.raises(DataError, match=r"^feed=hyperliquid: no ETH book from http://127.0.0.1:\d+ for 2s$"):
        paper(server, tmp_path, "asset.symbol=ETH-PERP", "feed.stall_s=2")
    assert (tmp_path / "result.json").is_file()  # stopped safely: outputs written
