"""One test per hook, each named ``test_hook_<hook>`` (test_every_hook_has_a_test enforces it): a plugin that
implements every hook (tests/hook_plugin.py) is loaded through the entry-point group like any installed plugin,
its components run a real backtest, and each test checks the hook's visible effect on the outputs."""

from __future__ import annotations

import inspect
import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import hook_plugin
import pyarrow.parquet as pq
import pytest
from jobs import backtest_strategy, compose_job

from click.testing import CliRunner

from botmm import hookspecs, registry
from botmm.cli import cli
from botmm.errors import PluginError

TESTS = Path(__file__).resolve().parent
BARS = 3000
EVERY = ["feed=hooktest", f"feed.bars={BARS}", "quoter=hooktest", "sizer=hooktest", "exchange=hooktest",
         "fill_model=hooktest",
         "notifier=hooktest", "strategy=hooktest", "+signal@signals.signal=hooktest", "asset=eth",
         "risk.max_position_usd=1000000", "risk.max_daily_loss_pct=100"]  # no limit in the way of the checks


@pytest.fixture(scope="module")
def plugins() -> Iterator[None]:
    """botmm's plugins loaded afresh with the hook plugin among the entry points; the process's state put back."""
    real = metadata.entry_points
    ours = metadata.EntryPoint(name="hooktest", value="hook_plugin", group=registry.ENTRY_POINT_GROUP)

    def entry_points(**selection: Any) -> Any:
        found = real(**selection)
        return [*found, ours] if selection.get("group") == registry.ENTRY_POINT_GROUP else found

    saved = (registry._State.pm, registry._State.infos, registry._State.registries, registry._State.commands)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry.metadata, "entry_points", entry_points)
        patch.setattr(registry._State, "pm", None)
        registry.load_plugins()
        yield
    registry._State.pm, registry._State.infos, registry._State.registries, registry._State.commands = saved


@pytest.fixture(scope="module")
def job(plugins: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One backtest with every component of the hook plugin; what the hooks heard during it, and its outputs."""
    for heard in hook_plugin.HEARD.values():
        heard.clear()
    out = tmp_path_factory.mktemp("hooks")
    backtest_strategy(out, *EVERY)
    heard = {name: list(items) for name, items in hook_plugin.HEARD.items()}
    return {"heard": heard, "out": out, "result": json.loads((out / "result.json").read_text()),
            "fills": pq.read_table(out / "fills.parquet").to_pylist(),
            "ticks": pq.read_table(out / "equity.parquet").to_pylist()}


def test_every_hook_has_a_test() -> None:
    specs = {name for name, func in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(func, "botmm_spec")}
    tested = set()
    for path in TESTS.glob("test_*.py"):
        tested.update(re.findall(r"^def test_hook_(botmm_\w+?)(?:__\w+)?\(", path.read_text(), re.MULTILINE))
    assert specs - tested == set(), f"hooks without a test_hook_<name> test: {sorted(specs - tested)}"


def test_hook_botmm_register_quoters(job: dict[str, Any]) -> None:
    quoted = [t for t in job["ticks"] if t["bid"] == t["bid"] and t["ask"] == t["ask"]]  # NaN: a side not quoted
    assert len(quoted) == BARS
    assert all(abs((t["ask"] - t["bid"]) - 2 * 8e-4 * t["mid"]) <= 0.11 for t in quoted)  # 8 bps each side


def test_hook_botmm_register_signals(job: dict[str, Any]) -> None:
    assert {t["signal"] for t in job["ticks"]} == {hook_plugin.SIGNAL}


def test_hook_botmm_register_sizers(job: dict[str, Any]) -> None:
    assert job["fills"] and {f["size"] for f in job["fills"]} == {hook_plugin.SIZE}


def test_hook_botmm_register_exchanges(job: dict[str, Any]) -> None:
    assert len(job["heard"]["venues"]) == 1 and job["result"]["fills"] == len(job["fills"]) > 0


def test_hook_botmm_register_fill_models(job: dict[str, Any]) -> None:
    assert job["heard"]["fill_models"] == [("hooktest", "hooktest")]  # asked by the exchange, once
    assert job["fills"] and all(f["maker"] for f in job["fills"])
    assert all(f["fee"] == pytest.approx(f["price"] * f["size"] * hook_plugin.FEE, rel=1e-12) for f in job["fills"])
    assert job["result"]["fees"] == pytest.approx(sum(f["fee"] for f in job["fills"]), rel=1e-9)


def test_hook_botmm_register_notifiers(job: dict[str, Any]) -> None:
    assert job["heard"]["notifier"] == [("start", "backtest"), ("end", job["result"]["fills"])]


def test_hook_botmm_register_strategies(job: dict[str, Any]) -> None:
    assert [e for e in job["heard"]["event"] if e[0] == "hooktest_bound"] == [("hooktest_bound", {"symbol": "ETH"})]


def test_hook_botmm_register_feeds(job: dict[str, Any]) -> None:
    assert job["result"]["ticks"] == BARS == len(job["ticks"])


def test_hook_botmm_register_commands(job: dict[str, Any]) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"])
    assert listed.exit_code == 0 and "hooktest-fills" in listed.output and "train" in listed.output
    counted = runner.invoke(cli, ["hooktest-fills", str(job["out"])])
    assert counted.exit_code == 0 and counted.output == f"{job['result']['fills']} fills\n" != "0 fills\n"
    command = cli.get_command(None, "hooktest-fills")
    taken: dict[str, Any] = {}
    registry._command_registrar(taken, "one")(command)
    with pytest.raises(PluginError, match="^command 'hooktest-fills' from plugin 'two' is already provided by "
                                          "plugin 'one'$"):
        registry._command_registrar(taken, "two")(command)
    with pytest.MonkeyPatch.context() as patch:  # a plugin's command named like one of botmm's: one line
        patch.setattr(registry._State, "commands", {"backtest": (command, "hooktest")})
        refused = runner.invoke(cli, ["--help"])
    assert refused.exit_code == 2
    assert refused.output.splitlines() == ["botmm: plugin 'hooktest': command 'backtest' is one of botmm's own"]


def test_hook_botmm_conf_packages(plugins: None, tmp_path: Path) -> None:
    searchpath = f"hydra.searchpath=[file://{TESTS / 'hook_conf'}]"
    assert compose_job(searchpath, "quoter=hooktest_wide").quoter.width_bps == 40.0
    backtest_strategy(tmp_path, searchpath, *EVERY, "quoter=hooktest_wide", "feed.bars=200")
    ticks = pq.read_table(tmp_path / "equity.parquet").to_pylist()
    assert all(abs((t["ask"] - t["bid"]) - 2 * 40e-4 * t["mid"]) <= 0.11 for t in ticks)


def test_hook_botmm_run_start(job: dict[str, Any]) -> None:
    assert job["heard"]["start"] == [("backtest", "ETH")]


def test_hook_botmm_run_end(job: dict[str, Any]) -> None:
    assert job["heard"]["end"] == [job["result"]]


def test_hook_botmm_fill(job: dict[str, Any]) -> None:
    heard = [(f.ts, f.oid, int(f.side), f.price, f.size) for f in job["heard"]["fill"]]
    written = [(round(f["ts"].timestamp() * 1000), f["oid"], f["side"], f["price"], f["size"]) for f in job["fills"]]
    assert heard == written and len(heard) == job["result"]["fills"]


def test_hook_botmm_event(job: dict[str, Any]) -> None:
    assert ("hooktest_bound", {"symbol": "ETH"}) in job["heard"]["event"]
    assert all(isinstance(name, str) and isinstance(data, dict) for name, data in job["heard"]["event"])


def test_hook_botmm_error(plugins: None, tmp_path: Path) -> None:
    hook_plugin.HEARD["error"].clear()
    hook_plugin.HEARD["end"].clear()
    with pytest.raises(RuntimeError, match="failed on purpose"):
        backtest_strategy(tmp_path, *EVERY, "quoter.fail_after=5")
    assert [str(e) for e in hook_plugin.HEARD["error"]] == ["hooktest quoter failed on purpose"]
    assert len(hook_plugin.HEARD["end"]) == 1 and hook_plugin.HEARD["end"][0]["ticks"] == 4  # the end follows
