"""Differential validation against hftbacktest 2.4.4: the touch quoter on the shared Binance capture, same semantics,
same numbers (docs/replay.md explains each remaining difference). Needs ``pip install 'botmm[validate]'``."""

from __future__ import annotations

import logging

import pytest

from botmm.data.convert import convert_binance
from botmm.data.l2 import MemoryL2Feed, read_l2, read_meta
from botmm.sim.differential import TouchParams, hftbacktest_data, normalise_spot, run_botmm, run_hftbacktest
from conftest import shared_file

pytest.importorskip("hftbacktest", reason="hftbacktest is not installed (pip install 'botmm[validate]')")


@pytest.fixture(scope="module")
def capture():
    return shared_file("binance_usdm/btcusdt_20240808.gz")


@pytest.fixture(scope="module")
def engines(capture, tmp_path_factory):
    logging.getLogger("botmm.sim.replay").setLevel(logging.WARNING)
    out = tmp_path_factory.mktemp("l2")
    datasets = {}
    for sequence in ("none", "binance"):
        convert_binance(capture, out / sequence, sequence=sequence)
        datasets[sequence] = (read_l2(out / sequence), read_meta(out / sequence))
    return datasets, hftbacktest_data(capture)


FIELDS = ("filled_buy", "filled_sell", "final_position", "bids_posted", "asks_posted", "rejected", "steps")


@pytest.mark.parametrize("queue", ["risk_averse", "power2"])
def test_same_semantics_give_the_same_fills_position_and_pnl(engines, queue):
    datasets, data = engines
    events, meta = datasets["none"]
    p = TouchParams(queue=queue)
    ours, theirs = run_botmm(MemoryL2Feed(events, meta), p), run_hftbacktest(data, meta, p)
    assert {f: getattr(ours, f) for f in FIELDS} == {f: getattr(theirs, f) for f in FIELDS}
    assert ours.cash == pytest.approx(theirs.cash, abs=1e-6)
    assert ours.equity_pnl == pytest.approx(theirs.equity_pnl, abs=1e-6)
    assert ours.final_mid == theirs.final_mid
    reference = {"risk_averse": (176, 184, -0.008, 490.6392), "power2": (176, 184, -0.008, 490.6671)}[queue]
    assert (ours.filled_buy, ours.filled_sell, ours.final_position, round(ours.cash, 4)) == reference


def test_the_queue_models_separate_at_a_one_second_interval(engines):
    datasets, data = engines
    events, meta = datasets["none"]
    for queue, expected in (("risk_averse", (98, 104)), ("power2", (104, 110))):
        p = TouchParams(queue=queue, interval_ns=1_000_000_000)
        ours, theirs = run_botmm(MemoryL2Feed(events, meta), p), run_hftbacktest(data, meta, p)
        assert (ours.filled_buy, ours.filled_sell) == (theirs.filled_buy, theirs.filled_sell) == expected
        assert ours.cash == pytest.approx(theirs.cash, abs=1e-6)


def test_other_latencies_agree_too(engines):
    datasets, data = engines
    events, meta = datasets["none"]
    p = TouchParams(queue="power2", entry_ns=50_000_000, response_ns=30_000_000)
    ours, theirs = run_botmm(MemoryL2Feed(events, meta), p), run_hftbacktest(data, meta, p)
    assert {f: getattr(ours, f) for f in FIELDS} == {f: getattr(theirs, f) for f in FIELDS}
    assert (ours.filled_buy, ours.filled_sell, round(ours.cash, 4)) == (146, 151, 306.0366)


def test_binance_update_id_rules_stay_within_two_percent(engines):
    datasets, data = engines
    events, meta = datasets["binance"]
    for queue in ("risk_averse", "power2"):
        p = TouchParams(queue=queue)
        ours, theirs = run_botmm(MemoryL2Feed(events, meta), p), run_hftbacktest(data, meta, p)
        assert abs(ours.filled_buy - theirs.filled_buy) <= 0.02 * theirs.filled_buy
        assert abs(ours.filled_sell - theirs.filled_sell) <= 0.02 * theirs.filled_sell
        assert ours.steps == theirs.steps - 1  # the clock starts at the first kept event, 24 ms later


@pytest.fixture(scope="module")
def spot_engines(tmp_path_factory):
    """The shared spot captures (two files, one stream): ours converted with ``sequence="none"``, hftbacktest's from
    the reference normalisation (``normalise_spot``)."""
    files = [shared_file("binance_spot/btcusdt_20240808.gz"), shared_file("binance_spot/btcusdt_20240809.gz")]
    out = tmp_path_factory.mktemp("spot")
    convert_binance(files, out / "l2", sequence="none")
    return (read_l2(out / "l2"), read_meta(out / "l2")), hftbacktest_data(normalise_spot(files, out / "spot.gz"))


@pytest.mark.parametrize("queue", ["risk_averse", "power2"])
def test_the_spot_captures_give_the_reference_fills(spot_engines, queue):
    (events, meta), data = spot_engines
    assert (meta.tick_size, meta.lot_size) == (0.01, 0.00001)
    p = TouchParams(queue=queue)
    ours, theirs = run_botmm(MemoryL2Feed(events, meta), p), run_hftbacktest(data, meta, p)
    assert {f: getattr(ours, f) for f in FIELDS} == {f: getattr(theirs, f) for f in FIELDS}
    assert (ours.filled_buy, ours.filled_sell, round(ours.equity_pnl, 4)) == (383, 374, -0.0816)
