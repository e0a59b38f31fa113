"""The touch quoter compiled against the replay kernel (``run_botmm_compiled``, what the speed comparison with
hftbacktest times) makes exactly the fills, position, cash and counts of the same quoter driven through the venue's
Python methods (``run_botmm``, what the differential tests check against hftbacktest)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmm.data.l2 import MemoryL2Feed
from botmm.data.synthetic_l2 import SyntheticL2Params, synthetic_l2, synthetic_meta
from botmm.sim.differential import TouchParams, TouchResult, run_botmm, run_botmm_compiled

FLOW = SyntheticL2Params(duration_s=180.0, market_rate=6.0)
META = synthetic_meta(FLOW, "ETH")


@pytest.fixture(scope="module")
def flow():
    logging.getLogger("botmm.sim.replay").setLevel(logging.WARNING)
    return synthetic_l2(FLOW)


def same_run(a: TouchResult, b: TouchResult) -> dict:
    """The fields where two runs differ (the engine's name and the time taken aside)."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(TouchResult)
            if f.name not in ("engine", "seconds") and getattr(a, f.name) != getattr(b, f.name)}


@pytest.mark.parametrize("queue", ["risk_averse", "power2"])
def test_the_compiled_loop_fills_as_the_python_loop(flow, queue):
    p = TouchParams(queue=queue)
    python, compiled = run_botmm(MemoryL2Feed(flow, META), p), run_botmm_compiled(MemoryL2Feed(flow, META), p)
    assert same_run(python, compiled) == {}
    assert compiled.engine == "botmm (compiled loop)"
    assert compiled.steps == 1800 and compiled.events == len(flow)
    assert compiled.filled_buy > 20 and compiled.filled_sell > 20 and compiled.rejected > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queue=st.sampled_from(["risk_averse", "power2"]), interval_ms=st.sampled_from([20, 100, 250, 1000]),
       entry_ms=st.integers(0, 600), response_ms=st.integers(0, 300), max_lots=st.integers(0, 3),
       qty_lots=st.integers(1, 40), chunk_rows=st.one_of(st.none(), st.integers(50, 5000)))
def test_any_settings_and_chunking_give_the_same_run(flow, queue, interval_ms, entry_ms, response_ms, max_lots,
                                                     qty_lots, chunk_rows):
    """Latencies longer than the interval (requests pile up: the request queue grows), a position cap reached
    at once, and data in chunks (the loop returns for each) change nothing between the two loops."""
    events = flow.take(slice(0, 8_000))
    p = TouchParams(queue=queue, interval_ns=interval_ms * 1_000_000, entry_ns=entry_ms * 1_000_000,
                    response_ns=response_ms * 1_000_000, qty_lots=qty_lots, max_lots=max_lots)
    python = run_botmm(MemoryL2Feed(events, META, chunk_rows), p)
    compiled = run_botmm_compiled(MemoryL2Feed(events, META, chunk_rows), p)
    assert same_run(python, compiled) == {}
    if max_lots == 0:
        assert compiled.bids_posted == compiled.asks_posted == compiled.filled_buy + compiled.filled_sell == 0
