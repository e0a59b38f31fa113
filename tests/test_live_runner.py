"""The live runner fails safe, in-process against a fake live venue (tests/fake_venue.py) that goes blind, refuses
cancels or reconciliations and holds fills and positions the bot has not seen:

* stale data (poll errors, no data, a frozen book) cancels every order within ``risk.max_data_age`` and a tick,
  retries the cancel until it goes through, quotes nothing and re-arms nothing until fresh data returns;
* start and periodic reconciliation adopt the exchange's position and report what differed;
* a failed stop leaves the dead man's switch armed and says so; a clean one disarms it after the verified cancel;
* the daily loss and the circuit breaker's pause survive a restart; a corrupt state file stops the start in one line;
* funding payments reach the PnL; the guardian is started when the exchange refuses the switch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fake_venue import FakeLiveVenue, Slot, register
from jobs import compose_job, wait_for

from botmm.errors import ConfigError, VenueError
from botmm.model import Fill, QuoteLevel, Side
from botmm.pipeline import Run, Pipeline
from botmm.registry import hookimpl, load_plugins
from botmm.runners.live import LiveRunner, run

TICK = ["interval=0.1s", "quoter.spread_bps=2", "quoter.vol_multiplier=0", "risk.max_api_errors=1000"]
MAX_AGE_S = 0.3  # the default: 3 ticks of 0.1 s
SLACK_S = 0.5  # thread scheduling on a busy machine


class Events:
    """Every event of the job, with its monotonic time."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, dict[str, Any]]] = []

    @hookimpl
    def botmm_event(self, run: Any, event: str, data: dict[str, Any]) -> None:
        self.seen.append((time.monotonic(), event, dict(data)))

    def named(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, data) for t, event, data in self.seen if event == name]


@pytest.fixture
def events() -> Iterator[Events]:
    listener = Events()
    load_plugins().register(listener, name="test-live-runner-events")
    yield listener
    load_plugins().unregister(name="test-live-runner-events")


@pytest.fixture
def venue() -> FakeLiveVenue:
    register()
    Slot.venue = FakeLiveVenue()
    return Slot.venue


def run_until(out: Path, during: Callable[[], None], *overrides: str, state_dir: Optional[Path] = None) -> dict:
    """Run the bot on the fake venue until ``during`` (in a thread) returns, then stop it with SIGINT. An
    assertion failing inside ``during`` fails the test."""
    cfg = compose_job("exchange=fake_live", "asset=eth", *TICK, f"risk.state_dir={state_dir or out / 'state'}",
                      *overrides, name="run")
    failure: list[BaseException] = []

    def body() -> None:
        try:
            during()
        except BaseException as exc:
            failure.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=body, daemon=True).start()
    try:
        result = run(cfg, out)
    finally:
        if failure:
            raise failure[0]
    return result


def polls_after(venue: FakeLiveVenue, since: float) -> int:
    return len([t for t in venue.times("poll") if t > since])


@pytest.mark.parametrize("blind", ["error", "none", "frozen"])
def test_a_blind_bot_cancels_everything_in_time_and_quotes_again_when_data_returns(
        venue: FakeLiveVenue, events: Events, tmp_path: Path, blind: str) -> None:
    marks: dict[str, float] = {}

    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        marks["blind"] = time.monotonic()
        venue.blind = blind
        assert wait_for(lambda: polls_after(venue, marks["blind"]) >= 15, 10)  # blind for 15 ticks (1.5 s)
        marks["fresh"] = time.monotonic()
        venue.blind = None
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        assert wait_for(lambda: [t for t in venue.times("arm") if t > marks["fresh"]], 5)  # re-armed once fresh

    result = run_until(tmp_path, during)
    blind_at, fresh_at = marks["blind"], marks["fresh"]
    # every order resting when the data stopped was gone within max_data_age and a tick
    ended = [life.until for life in venue.lives.values() if life.since < blind_at]
    assert ended and all(until is not None and until - blind_at < MAX_AGE_S + 0.1 + SLACK_S for until in ended)
    # and nothing was quoted, nor the dead man's switch re-armed, until fresh data returned
    cancelled_at = max(ended)
    assert [t for t in venue.times("place") + venue.times("modify") if cancelled_at < t < fresh_at] == []
    assert [t for t in venue.times("arm") if blind_at + MAX_AGE_S + SLACK_S < t < fresh_at] == []
    breaks = [data for t, data in events.named("risk_state") if data["state"] == "circuit_break"]
    assert len(breaks) == 1 and breaks[0]["reason"].startswith("stale data: ")
    assert [data["state"] for _, data in events.named("risk_state")][-1] == "safe"
    failed_reads = len(venue.times("poll_error"))
    assert result["venue_errors"] == failed_reads and (failed_reads >= 15) is (blind == "error")
    assert venue.resting() == []


def test_a_refused_cancel_is_retried_every_tick_until_it_goes_through(venue: FakeLiveVenue, tmp_path: Path) -> None:
    marks: dict[str, float] = {}

    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        venue.refuse_cancels = True
        marks["blind"] = time.monotonic()
        venue.blind = "error"
        assert wait_for(lambda: len([t for t in venue.times("cancel_all") if t > marks["blind"]]) >= 4, 10)
        assert len(venue.resting()) == 2  # refused: still resting, and the bot keeps trying
        venue.refuse_cancels = False
        assert wait_for(lambda: venue.resting() == [], 5)
        marks["gone"] = time.monotonic()
        assert wait_for(lambda: polls_after(venue, marks["gone"]) >= 5, 5)

    run_until(tmp_path, during)
    retries = [t for t in venue.times("cancel_all") if marks["blind"] < t]
    assert len(retries) >= 5
    between = [b - a for a, b in zip(retries, retries[1:]) if b < marks["gone"]]
    assert max(between) < 0.1 + SLACK_S  # once a tick
    stop_cancel = venue.times("cancel_all")[-1]
    assert [t for t in retries if marks["gone"] + SLACK_S < t < stop_cancel] == []  # confirmed: no more retries


def test_a_failed_stop_leaves_the_switch_armed_and_says_so(venue: FakeLiveVenue, events: Events, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        venue.refuse_cancels = True

    with caplog.at_level(logging.INFO, logger="botmm.live"), pytest.raises(VenueError, match="HTTP 503"):
        run_until(tmp_path, during)
    assert venue.times("disarm") == []
    assert len(venue.resting()) == 2
    lines = [r.getMessage() for r in caplog.records if "stays armed" in r.getMessage()]
    assert len(lines) == 1 and "cancel: HTTP 503" in lines[0]
    assert [data["dead_mans_switch"] for _, data in events.named("stop_failed")] == ["armed"]
    assert (tmp_path / "result.json").is_file()  # the outputs are still written


def test_a_clean_stop_disarms_only_after_the_verified_cancel(venue: FakeLiveVenue, tmp_path: Path) -> None:
    run_until(tmp_path, lambda: wait_for(lambda: len(venue.resting()) == 2, 10))
    order = [name for _, name in venue.calls if name in ("halt", "cancel_all", "disarm", "disconnect")]
    assert order == ["halt", "cancel_all", "disarm", "disconnect"]
    assert venue.resting() == []


def test_start_adopts_the_exchanges_position_and_quotes_nothing_before(venue: FakeLiveVenue, events: Events,
                                                                      tmp_path: Path) -> None:
    venue.position, venue.avg_entry = 0.05, 2990.0
    venue.refuse_reconciles = 2  # the first answers are unreadable: the bot must not believe it is flat

    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)

    result = run_until(tmp_path, during)
    reconciles, places = venue.times("reconcile"), venue.times("place")
    assert len(reconciles) >= 3 and places[0] > reconciles[2]
    assert result["final_position"] == pytest.approx(0.05)
    assert result["venue_errors"] >= 2


def test_reconciliation_finds_late_fills_once_and_runs_every_reconcile_s(venue: FakeLiveVenue, events: Events,
                                                                         tmp_path: Path) -> None:
    filled: list[Fill] = []

    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        bid = next(o for o in venue.resting() if o.side is Side.BUY)
        filled.append(venue.fill(bid.oid, tid=7001, delivered=False))  # only the exchange knows
        assert wait_for(lambda: events.named("reconcile_difference"), 5)
        assert wait_for(lambda: len(venue.resting()) == 2, 5)

    result = run_until(tmp_path, during)
    fills = pq.read_table(tmp_path / "fills.parquet").to_pylist()
    assert [(f["oid"], f["side"], f["size"]) for f in fills] == [(filled[0].oid, 1, filled[0].size)]
    assert result["fills"] == 1
    assert result["final_position"] == pytest.approx(venue.position) != 0
    assert [data["difference"] for _, data in events.named("reconcile_difference")] == ["fill tid 7001 not seen before"]
    reconciles = venue.times("reconcile")
    gaps = [b - a for a, b in zip(reconciles, reconciles[1:])]
    assert gaps and max(gaps) < venue.reconcile_s + SLACK_S


def test_the_assets_periodic_reconciliations_take_turns() -> None:
    """Three assets reconcile together at start; their periodic reconciliations then run a third of reconcile_s
    apart (their account reads would queue behind each other), each every reconcile_s from there."""
    venues = [FakeLiveVenue(reconcile_s=30.0, symbol=symbol) for symbol in ("ETH", "BTC", "SOL")]
    strategies = [types.SimpleNamespace(venue=venue, adopt=lambda found: None, calls={"venue_errors": 0},
                                        event=lambda *args, **data: None) for venue in venues]
    runner = LiveRunner(strategies, interval=1.0, duration=None)
    for job in runner.jobs:
        runner._reconcile(job)
    began = time.monotonic()
    assert [job.reconcile_at - began for job in runner.jobs] == pytest.approx([30.0, 40.0, 50.0], abs=1.0)
    for job in runner.jobs:
        runner._reconcile(job)
    assert [job.reconcile_at - began for job in runner.jobs] == pytest.approx([30.0, 30.0, 30.0], abs=1.0)


def test_an_error_prompts_a_reconciliation(venue: FakeLiveVenue, tmp_path: Path) -> None:
    venue.reconcile_s = 60.0  # no periodic one during the test
    marks: dict[str, float] = {}

    def during() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        marks["error"] = time.monotonic()
        venue.blind = "error"
        assert wait_for(lambda: polls_after(venue, marks["error"]) >= 1, 5)
        venue.blind = None
        assert wait_for(lambda: [t for t in venue.times("reconcile") if t > marks["error"]], 5)

    run_until(tmp_path, during)
    assert len(venue.times("reconcile")) == 2  # at start, then once after the error


def test_funding_is_booked_and_the_daily_loss_and_its_pause_survive_a_restart(
        venue: FakeLiveVenue, events: Events, tmp_path: Path) -> None:
    state = tmp_path / "state"

    def lose() -> None:
        assert wait_for(lambda: len(venue.resting()) == 2, 10)
        venue.pay_funding(600.0)  # 6 % of the capital: over the 5 % daily loss limit
        assert wait_for(lambda: events.named("circuit_break"), 5)
        assert wait_for(lambda: venue.resting() == [], 5)

    first = run_until(tmp_path / "first", lose, state_dir=state)
    assert first["funding"] == pytest.approx(600.0) and first["pnl"] == pytest.approx(-600.0, abs=1.0)
    saved = json.loads((state / "fake-ETH.json").read_text())
    assert saved["realized"] == pytest.approx(-600.0) and saved["pause_reason"].startswith("daily loss")
    assert saved["paused_until_ms"] >= (time.time() // 86400 + 1) * 86_400_000  # the next UTC day

    register()
    Slot.venue = second = FakeLiveVenue()
    run_until(tmp_path / "second", lambda: wait_for(lambda: polls_after(second, 0) >= 10, 10), state_dir=state)
    assert second.times("place") == [] and second.times("poll")  # it ticked, paused, quoting nothing
    assert events.named("risk_state")[-1][1]["reason"].startswith("daily loss")


def test_a_corrupt_state_file_stops_the_start_in_one_line(venue: FakeLiveVenue, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "fake-ETH.json").write_text('{"day": "2026-12-0')
    cfg = compose_job("exchange=fake_live", "asset=eth", *TICK, f"risk.state_dir={state}", name="run")
    with pytest.raises(ConfigError) as error:
        run(cfg, tmp_path)
    message = str(error.value)
    assert message.startswith(f"{state / 'fake-ETH.json'}: corrupt risk state file") and "\n" not in message
    assert venue.calls == []  # not even connected


def test_the_guardian_starts_when_the_exchange_refuses_the_switch_and_hears_fresh_ticks(
        venue: FakeLiveVenue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[Any, float, Path]] = []
    beats: list[float] = []
    stops: list[float] = []

    class Guardian:
        def beat(self) -> None:
            beats.append(time.monotonic())

        def stop(self) -> None:
            stops.append(time.monotonic())

    def start_guardian(spec: Any, timeout_s: float, log_dir: Path) -> Guardian:
        started.append((spec, timeout_s, log_dir))
        return Guardian()

    module = types.ModuleType("botmm.runners.guardian")
    module.start_guardian = start_guardian
    monkeypatch.setitem(sys.modules, "botmm.runners.guardian", module)
    venue.arm_result = False
    marks: dict[str, float] = {}

    def during() -> None:
        assert wait_for(lambda: len(beats) >= 3, 10)
        marks["blind"] = time.monotonic()
        venue.blind = "error"
        assert wait_for(lambda: polls_after(venue, marks["blind"]) >= 5, 5)
        marks["fresh"] = time.monotonic()
        venue.blind = None
        assert wait_for(lambda: [t for t in beats if t > marks["fresh"]], 5)

    run_until(tmp_path, during)
    assert len(started) == 1  # once, though every heartbeat's arm is refused
    spec, timeout_s, log_dir = started[0]
    assert spec.module == "fake_guardian" and timeout_s == pytest.approx(2 * MAX_AGE_S) and log_dir == tmp_path
    assert [t for t in beats if marks["blind"] + 0.1 + SLACK_S < t < marks["fresh"]] == []  # no beat while blind
    assert len(stops) == 1 and stops[0] > venue.times("cancel_all")[-1]


def test_botmm_run_on_paper_keeps_its_limits_file_and_refuses_a_corrupt_one(tmp_path: Path) -> None:
    from jobs import cli

    state = tmp_path / "state"
    state.mkdir()
    kept = state / "paper-ETH.json"
    kept.write_text("{not json")
    refused = cli(tmp_path, "run", "duration=2s", f"risk.state_dir={state}", timeout=60)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode != 0 and len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"botmm: {kept}: corrupt risk state file")
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("fills.parquet"))
    kept.unlink()
    ran = cli(tmp_path, "run", "duration=3s", f"risk.state_dir={state}", timeout=60)
    assert ran.returncode == 0, ran.stderr
    saved = json.loads(kept.read_text())
    result = json.loads(next((tmp_path / "outputs").rglob("result.json")).read_text())
    assert saved["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert saved["realized"] == pytest.approx(result["realized_pnl"] - result["fees"] - result["funding"], abs=1e-6)
    assert (saved["paused_until_ms"], saved["pause_reason"]) == (0, "")


@functools.cache
def _fake_job() -> Any:
    register()
    return compose_job("exchange=fake_live", "asset=eth", *TICK, name="run")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.floats(0.001, 0.5), st.booleans(),
                          st.booleans()), min_size=1, max_size=12))
def test_reconciliation_counts_every_fill_once_whenever_it_runs(tmp_path: Path, trades) -> None:
    """Fills the venue delivers and fills only a reconciliation finds, in any order, with reconciliations anywhere:
    the inventory ends at the exchange's position and holds each trade exactly once."""
    Slot.venue = venue = FakeLiveVenue()
    cfg = _fake_job()
    strategy = Pipeline(cfg, Run(cfg, "run", "ETH", tmp_path))
    for tid, (side, size, delivered, reconcile_now) in enumerate(trades, start=1):
        order = venue.place_orders([QuoteLevel(side, 3000.0 - side * 10, round(size, 3))], 0)[0]
        venue.fill(order.oid, tid=tid, delivered=delivered)
        if reconcile_now:
            strategy.adopt(venue.reconcile())
    strategy.adopt(venue.reconcile())
    assert strategy.inventory.position == pytest.approx(venue.position, abs=1e-9)
    assert sorted(f.tid for f in strategy.metrics.fills) == list(range(1, len(trades) + 1))
    assert strategy.inventory.fills == len(trades)
