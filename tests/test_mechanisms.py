"""Each per-tick mechanism, visible end to end in a backtest."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobs import backtest_strategy

from botmm.registry import hookimpl, load_plugins

DAY_MS = 86_400_000


class Events:
    """Collects botmm_event calls during a test."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def botmm_event(self, run, event, data):
        self.seen.append((event, data))

    def __enter__(self):
        load_plugins().register(self, name="test-events")
        return self

    def __exit__(self, *exc):
        load_plugins().unregister(name="test-events")

    def named(self, name):
        return [data for event, data in self.seen if event == name]


def ticks(tmp_path):
    """equity.parquet as a frame, with ``ms`` (the tick time in ms) beside ``ts``."""
    table = pq.read_table(tmp_path / "equity.parquet")
    frame = table.to_pandas()
    frame["ms"] = table.column("ts").cast(pa.int64()).to_numpy()
    return frame


def test_long_inventory_lowers_both_quotes(tmp_path):
    backtest_strategy(tmp_path, "feed.bars=8000", "quoter.inventory_skew_factor=2.0")
    t = ticks(tmp_path)
    t = t[t.bid.notna() & t.ask.notna()]
    inventory = t.position * t.mid / 1000.0  # risk.max_position_usd of asset eth
    center = ((t.bid + t.ask) / 2 - t.mid) / t.mid * 1e4
    long, flat, short = center[inventory > 0.2], center[inventory.abs() < 0.02], center[inventory < -0.2]
    assert len(long) > 100 and len(short) > 100 and len(flat) > 100
    assert long.mean() < flat.mean() - 0.3 < short.mean() - 0.6  # bps: long lower, short higher
    assert (t.bid[inventory > 0.2] < t.mid[inventory > 0.2]).all()


def test_circuit_break_on_daily_loss_cancels_every_order(tmp_path):
    with Events() as events:
        strategy = backtest_strategy(tmp_path, "feed.bars=3000", "risk.max_daily_loss_pct=0.05")
    breaks = events.named("circuit_break")
    assert breaks and "daily loss" in breaks[0]["reason"]
    t = ticks(tmp_path)
    first = t.index[t.bid.isna() & t.ask.isna()][0]
    day_end = (t.ms[first] // DAY_MS + 1) * DAY_MS
    paused = t[(t.index >= first) & (t.ms < day_end)]
    assert len(paused) > 10 and paused.bid.isna().all() and paused.ask.isna().all()
    assert t[t.ms >= day_end].bid.notna().any(), "quoting never resumed the next UTC day"
    fill_ms = pq.read_table(tmp_path / "fills.parquet").column("ts").cast(pa.int64()).to_numpy()
    in_pause = fill_ms[(fill_ms > t.ms[first]) & (fill_ms < day_end)]
    assert len(in_pause) == 0, "orders were left resting through the circuit break"
    assert strategy.outcome["orders_cancelled"] >= 1
    assert ("risk_state", {"state": "circuit_break"}) not in events.seen  # events carry reasons, not bare states
    assert any(d["state"] == "circuit_break" for d in events.named("risk_state"))


def test_toxicity_widens_the_quoted_spread_after_adverse_fills(tmp_path):
    backtest_strategy(tmp_path, "feed.bars=8000", "+signal@signals.toxicity=toxicity",
                      "quoter.toxicity_widening=2.0", "quoter.vol_multiplier=0")
    t = ticks(tmp_path)
    t = t[t.bid.notna() & t.ask.notna()]
    spread = (t.ask - t.bid) / t.mid * 1e4
    low, high = t.toxicity.quantile([0.1, 0.9])
    assert high > low + 0.1, "fills never looked toxic"
    # the minimum spread (4 bps) times 1 + 2 * toxicity, up to rounding to the tick
    assert spread[t.toxicity >= high].mean() > spread[t.toxicity <= low].mean() * (1 + 2 * (high - low)) * 0.9
    assert np.corrcoef(t.toxicity, spread)[0, 1] > 0.9


def test_adaptive_strategy_changes_regime_on_a_volatility_shock(tmp_path):
    rng = np.random.default_rng(1)
    calm = rng.normal(0, 2e-4, 3000)
    storm = rng.normal(0, 3e-3, 600)
    close = 2000 * np.exp(np.cumsum(np.concatenate([calm, storm])))
    open_ = np.concatenate([[2000.0], close[:-1]])
    high = np.maximum(open_, close) * 1.0001
    low = np.minimum(open_, close) * 0.9999
    ts = 1_704_067_200_000 + 60_000 * np.arange(len(close))
    path = tmp_path / "shock.csv"
    rows = [f"{t},{o},{h},{lo},{c},10" for t, o, h, lo, c in zip(ts, open_, high, low, close)]
    path.write_text("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    with Events() as events:
        strategy = backtest_strategy(tmp_path / "out", "feed=candles_file", f"feed.path={path}", "strategy=adaptive")
    regimes = events.named("regime")
    high_at = [i for i, d in enumerate(regimes) if d["regime"] == "HIGH"]
    assert high_at, regimes
    assert strategy.policy.regime in ("HIGH", "MEDIUM")
    t = ticks(tmp_path / "out")
    quoted = t[t.bid.notna() & t.ask.notna()]
    spread = (quoted.ask - quoted.bid) / quoted.mid * 1e4
    before = spread[quoted.index < 2900].mean()
    after = spread[(quoted.index > 3050) & (quoted.index < 3300)].mean()
    assert after > 2 * before


def test_hot_reload_applies_a_valid_params_file_and_rejects_a_bad_one(tmp_path):
    params = tmp_path / "live_params.yaml"
    params.write_text("quoter:\n  spread_bps: 9.0\n")
    with Events() as events:
        strategy = backtest_strategy(tmp_path / "a", "feed.bars=200", f"strategy.params_file={params}")
    assert strategy.quoter.params.spread_bps == 9.0
    assert events.named("params_reloaded")[0]["changed"] == {"spread_bps": 9.0}
    params.write_text("quoter:\n  spread_bps: -3\n")
    with Events() as events:
        strategy = backtest_strategy(tmp_path / "b", "feed.bars=200", f"strategy.params_file={params}")
    assert strategy.quoter.params.spread_bps == 4.0  # the asset's value stays
    (rejected,) = events.named("params_rejected")
    assert "spread_bps" in rejected["error"]


def test_hot_reload_picks_up_a_change_while_running(tmp_path):
    from botmm.plugins.strategies.basic import BasicParams, BasicPolicy
    from botmm.protocols import QuoteInputs, TickState

    class Stub:
        def __init__(self):
            self.quoter = type("Q", (), {})()
            from botmm.plugins.quoters.avellaneda import AvellanedaParams

            self.quoter.params = AvellanedaParams(name="avellaneda")
            self.events = []

        def event(self, name, **data):
            self.events.append(name)

    path = tmp_path / "p.yaml"
    policy = BasicPolicy(BasicParams(name="basic", params_file=str(path), reload_seconds=1))
    stub = Stub()
    policy.bind(stub)
    policy.adjust(QuoteInputs(mid=1.0), TickState(now_ms=1000))  # no file yet: nothing happens
    path.write_text("quoter: {num_levels: 3}\n")
    policy.adjust(QuoteInputs(mid=1.0), TickState(now_ms=1500))  # before reload_seconds: not looked at
    assert stub.quoter.params.num_levels == 1
    policy.adjust(QuoteInputs(mid=1.0), TickState(now_ms=2000))
    assert stub.quoter.params.num_levels == 3 and stub.events == ["params_reloaded"]


@pytest.mark.parametrize("decay", [0.0, 2.0])
def test_adaptive_inventory_decay_grows_skew_with_position_age(decay):
    from botmm.plugins.strategies.adaptive import AdaptiveParams, AdaptivePolicy
    from botmm.protocols import QuoteInputs, TickState

    policy = AdaptivePolicy(AdaptiveParams(name="adaptive", inventory_decay_per_hour=decay, target_fills_per_hour=0))
    policy.bind(type("S", (), {"event": lambda *a, **k: None})())
    young = policy.adjust(QuoteInputs(mid=100.0), TickState(now_ms=3_600_000, position_since_ms=3_600_000))
    old = policy.adjust(QuoteInputs(mid=100.0), TickState(now_ms=3 * 3_600_000, position_since_ms=3_600_000))
    assert young.skew_mult == 1.0
    assert old.skew_mult == pytest.approx(min(4.0, 1.0 + decay * 2))


@pytest.mark.parametrize(("hysteresis", "regimes"), [
    (0.0, ["MEDIUM", "LOW", "MEDIUM", "LOW", "MEDIUM", "LOW", "HIGH", "MEDIUM"]),
    (0.15, ["MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM", "LOW", "HIGH", "HIGH"]),
])
def test_adaptive_regimes_do_not_flip_on_noise_around_a_threshold(hysteresis, regimes):
    """Ratios wobbling 5 % around low_ratio=0.7 flip the regime every tick without hysteresis; with 15 % only a
    clear move (0.55, 1.8) enters a regime and only a clear move back (1.35 stays HIGH: above 1.5 * 0.85) leaves."""
    from botmm.plugins.strategies.adaptive import AdaptiveParams, AdaptivePolicy

    policy = AdaptivePolicy(AdaptiveParams(name="adaptive", hysteresis=hysteresis))
    seen = []
    for ratio in (0.74, 0.66, 0.74, 0.66, 0.74, 0.55, 1.8, 1.35):
        policy.var_short, policy.var_long = ratio**2, 1.0
        policy.regime = policy._classify()
        seen.append(policy.regime)
    assert seen == regimes
