"""The status server (botmm.status): the page, /metrics and /healthz against a strategy's real state, the token
on a non-local bind, and the day-open replay behind "PnL today".

The end-to-end tests are in tests/test_status_live.py (a `botmm run` subprocess in headless Chromium, and a data
outage against the loopback exchange)."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs import compose_job
from omegaconf import DictConfig, OmegaConf
from prometheus_client.parser import text_string_to_metric_families

from botmm.core.inventory import InventoryTracker
from botmm.errors import ConfigError
from botmm.model import Fill, Side
from botmm.pipeline import Run, Pipeline
from botmm.status import open_server, serve_run
from botmm.status.snapshot import DAY_MS, DayOpen, health

TOKEN = "s3cret-status-token-4711"


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def field(page: str, name: str) -> str:
    match = re.search(rf'data-field="{name}"[^>]*>([^<]*)<', page)
    assert match, f"no {name} on the page"
    return match.group(1)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def server_cfg(**server: object) -> DictConfig:
    """A config holding only a ``server`` node (what :func:`open_server` reads), on a free port by default."""
    return OmegaConf.create({"server": {"port": 0, **server}})


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A started candle-venue strategy that has ticked through enough bars to hold a position and resting
    orders."""
    cfg = compose_job("feed.bars=300", "quoter.spread_bps=2", "quoter.vol_multiplier=0", "server.port=0", name="run")
    strategy = Pipeline(cfg, Run(cfg, "run", cfg.asset.symbol, tmp_path_factory.mktemp("stepped")))
    strategy.venue.wall_clock = False  # tick bar by bar, as a backtest does
    strategy.start()
    venue = strategy.venue
    while venue.next_tick() is not None and (len(strategy.metrics.fills) < 5 or strategy.inventory.position == 0):
        strategy.step(venue.next_tick())
    assert strategy.inventory.position != 0 and venue.get_open_orders()
    yield strategy
    strategy.stop()


@pytest.fixture
def served(stepped: Pipeline) -> Iterator[tuple[str, Pipeline]]:
    server = open_server(stepped.run.cfg, "botmm run ETH")  # run.yaml's server node, on a free port
    serve_run(server, [stepped], {})
    yield server.url, stepped
    server.close()


def test_page_shows_the_strategy_and_venue_state(served: tuple[str, Pipeline]) -> None:
    url, strategy = served
    status, page = get(url)
    assert status == 200
    assert "<script src" not in page and "<link" not in page and not re.search(r'(src|href)="https?:', page)
    inv = strategy.inventory
    assert number(field(page, "position")) == pytest.approx(inv.position, abs=1e-9)
    mid = strategy.market.mid
    assert number(field(page, "pnl_start_realized")) == pytest.approx(inv.realized_pnl, abs=5e-5)
    assert number(field(page, "pnl_start_fees")) == pytest.approx(inv.total_fees, abs=5e-5)
    assert number(field(page, "pnl_start_total")) == pytest.approx(inv.total_pnl(mid), abs=5e-5)
    assert number(field(page, "pnl_start_unrealized")) == pytest.approx(inv.unrealized_pnl(mid), abs=5e-5)
    assert int(field(page, "fills")) == len(strategy.metrics.fills)
    rows = re.findall(r'<tr data-oid="(\d+)"><td data-field="side">(\w+)</td><td data-field="price">([\d,.]+)</td>'
                      r'<td data-field="size">([\d.e-]+)</td>', page)
    venue_orders = {(o.oid, "buy" if o.side > 0 else "sell", round(o.price, 4), o.size)
                    for o in strategy.venue.get_open_orders()}
    assert {(int(oid), side, number(price), float(size)) for oid, side, price, size in rows} == venue_orders
    healthz = get(url + "healthz")
    assert (healthz[0] == 200) == (field(page, "health") == "healthy")
    age = re.compile(r"[\d.]+s old")  # the data ages between the two requests
    assert age.sub("", healthz[1].strip()) in age.sub("", page)


def test_api_status_and_fragment_agree_with_the_page(served: tuple[str, Pipeline]) -> None:
    url, strategy = served
    status, body = get(url + "api/status")
    assert status == 200
    snapshot = json.loads(body)
    asset = snapshot["assets"][0]
    assert asset["symbol"] == "ETH" and asset["position"] == strategy.inventory.position
    assert [o["oid"] for o in asset["open_orders"]] == sorted(
        (o.oid for o in strategy.venue.get_open_orders()),
        key=lambda oid: -strategy.venue.orders[oid].price)
    assert asset["orders_placed"] == strategy.calls["placed"]
    _, fragment = get(url + "fragment")
    assert "<html" not in fragment and field(fragment, "position") == format(strategy.inventory.position, ".10g")


def test_metrics_parse_and_carry_the_state(served: tuple[str, Pipeline]) -> None:
    url, strategy = served
    status, text = get(url + "metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    eth = (("asset", "ETH"),)
    assert samples[("botmm_position", eth)] == strategy.inventory.position
    assert samples[("botmm_fills_total", eth)] == len(strategy.metrics.fills)
    assert samples[("botmm_open_orders", eth)] == len(strategy.venue.get_open_orders())
    assert samples[("botmm_orders_placed_total", eth)] == strategy.calls["placed"]
    realized = (("asset", "ETH"), ("part", "realized"), ("period", "since_start"))
    assert samples[("botmm_pnl_usd", realized)] == pytest.approx(strategy.inventory.realized_pnl)
    state = (("asset", "ETH"), ("state", strategy.risk.state.value))
    assert samples[("botmm_risk_state", state)] == 1.0


def test_step_latency_histogram(stepped: Pipeline) -> None:
    server = open_server(server_cfg(), "t")
    try:
        serve_run(server, [stepped], {})
        for seconds in (0.002, 0.004, 0.3):
            server.metrics.observe_step("ETH", seconds)
        _, text = get(server.url + "metrics")
    finally:
        server.close()
    family = next(f for f in text_string_to_metric_families(text) if f.name == "botmm_step_seconds")
    values = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert values[("botmm_step_seconds_count", None)] == 3
    assert values[("botmm_step_seconds_bucket", "0.005")] == 2
    assert values[("botmm_step_seconds_bucket", "0.25")] == 2 and values[("botmm_step_seconds_bucket", "0.5")] == 3
    assert values[("botmm_step_seconds_sum", None)] == pytest.approx(0.306)


def test_healthz_names_stale_data_and_unconfirmed_orders() -> None:
    fresh = {"symbol": "ETH", "data_age_s": 0.5, "max_data_age_s": 10.0, "fresh": True, "orders_confirmed": True}
    assert health([fresh]) == (True, "ok")
    stale = {**fresh, "symbol": "BTC", "data_age_s": 12.5, "fresh": False, "orders_confirmed": False}
    ok, reason = health([fresh, stale])
    assert not ok
    assert reason == "BTC: market data 12.5s old (max 10s); BTC: open orders not confirmed by the exchange"
    assert health([{**fresh, "data_age_s": None, "fresh": False}]) == (False, "ETH: no market data yet")


def test_non_local_bind_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMM_STATUS_TOKEN", raising=False)
    with pytest.raises(ConfigError) as refused:
        open_server(server_cfg(host="0.0.0.0"), "t")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("server.host=0.0.0.0: a non-local bind needs an access token")
    assert "$BOTMM_STATUS_TOKEN" in message


def test_requests_without_the_token_get_401(stepped: Pipeline, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("BOTMM_STATUS_TOKEN", TOKEN)
    server = open_server(server_cfg(host="0.0.0.0"), "t")
    try:
        serve_run(server, [stepped], {})
        port = server.httpd.server_address[1]
        base = f"http://127.0.0.1:{port}/"
        for path in ("", "fragment", "api/status", "metrics", "healthz"):
            assert get(base + path)[0] == 401, path
            assert get(base + path, "wrong-token")[0] == 401, path
            status, body = get(base + path, TOKEN)
            assert status in (200, 503), path
            assert TOKEN not in body
        status, page = get(base + f"?token={TOKEN}")
        assert status == 200 and TOKEN not in page
    finally:
        server.close()


def test_token_from_a_file_and_a_busy_port_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTMM_STATUS_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = open_server(server_cfg(host="0.0.0.0", token_file=str(token_file)), "t")
    try:
        server.serve(list, str)
        port = server.httpd.server_address[1]
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 401
        assert get(f"http://127.0.0.1:{port}/healthz", TOKEN) == (200, "ok\n")  # no assets: nothing is unhealthy
    finally:
        server.close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(ConfigError) as refused:
            open_server(server_cfg(port=taken), "t")
    assert str(refused.value).startswith(f"server.port={taken}: cannot listen on 127.0.0.1:{taken}")
    with pytest.raises(ConfigError, match=r"^server.port=70000: must be in \[0, 65535\]$"):
        open_server(server_cfg(port=70000), "t")
    assert open_server(server_cfg(enabled=False), "t") is None


fills = st.lists(st.tuples(st.integers(0, 3 * DAY_MS - 1), st.sampled_from([Side.BUY, Side.SELL]),
                           st.integers(1, 20), st.integers(90, 110)), max_size=40)


@settings(max_examples=80, deadline=None)
@given(fills, st.integers(0, 3 * DAY_MS - 1), st.floats(-1.0, 1.0), st.integers(0, 40), st.booleans())
def test_day_open_books_each_fill_to_its_day(raw: list, now_ms: int, seed_position: float, asked_after: int,
                                            late: bool) -> None:
    """Realized PnL and fees at the day's open are the sum of what each fill before 00:00 UTC added when the
    inventory booked it, in arrival order: however often (and after however many fills) the page was asked, and
    when yesterday's last fill arrives after today's first ones (``late``) and after the page was asked today."""
    raw = sorted(raw)
    now_ms = max(now_ms, raw[-1][0] if raw else 0)
    day_start = now_ms // DAY_MS * DAY_MS
    run = [Fill(ts, 1, side, float(price), size / 10, 0.01 * size) for ts, side, size, price in raw]
    if late and run:
        run.append(run.pop(0)._replace(ts=day_start - 1))
    start = InventoryTracker()
    start.position, start.avg_entry = seed_position, 100.0 if seed_position else 0.0
    day_open = DayOpen(start)
    seen = min(asked_after, len(run) - 1 if late else len(run))
    day_open.update(run[:seen], now_ms if late else max((f.ts for f in run[:seen]), default=0))
    realized, fees = day_open.update(run, now_ms)
    booked = InventoryTracker()
    booked.position, booked.avg_entry = start.position, start.avg_entry
    expected_realized = expected_fees = 0.0
    for fill in run:
        before = booked.realized_pnl, booked.total_fees
        booked.record(fill)
        if fill.ts < day_start:
            expected_realized += booked.realized_pnl - before[0]
            expected_fees += booked.total_fees - before[1]
    assert realized == pytest.approx(expected_realized, abs=1e-9)
    assert fees == pytest.approx(expected_fees, abs=1e-9)


def test_the_grafana_dashboard_queries_only_exported_metrics(served: tuple[str, Pipeline]) -> None:
    url, _ = served
    _, text = get(url + "metrics")
    exported = {name for family in text_string_to_metric_families(text)
                for name in (family.name, f"{family.name}_total", f"{family.name}_bucket")}
    dashboard = json.loads((Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bbotmm_\w+", target["expr"])}
    assert len(queried) >= 12 and queried <= exported, queried - exported
