"""``botmm reoptimize``: the nightly re-optimisation (the seed's daily_reoptimize), safe to run from cron.

1. **Fetch** (``reoptimize.fetch.days``, with ``feed=candles``): the last ``days`` of bars are fetched into the
   dataset (:func:`botmm.data.fetch.fetch_candles`; only what is missing is asked for) and the backtests use exactly
   that window (``feed.start``).
2. **Sweep**: ``botmm -m backtest`` in a subprocess, with this job's overrides (all but ``reoptimize.*``), the
   live params file's quoter values for the keys not swept, ``backtest.split``, the ``reoptimize.sweep`` overrides
   and ``reoptimize.sweeper`` (e.g. ``hydra/launcher=joblib`` or ``hydra/sweeper=optuna``), into ``sweep/`` of
   this job's output dir. Only ``quoter.*`` keys may be swept: they are what a running bot can hot-reload.
3. **Incumbent**: the same backtest with the live params file's values (what the bot runs now), in ``incumbent/``.
4. **Walk-forward decision**, over the folds of ``backtest.walk_forward`` (or the one split of ``backtest.split``):
   on each fold the sweep job with the best score on the fold's *training* window (the composite score of
   :mod:`botmm.runners.score`; a job that risk stopped, ruined, is never one) is that fold's choice, judged against the incumbent on the fold's *test* window.
   The choice of the last fold (the most recent training window) is the candidate; it replaces the incumbent only
   when the fold choices beat the incumbent's test score by at least ``reoptimize.threshold`` in a majority of
   folds AND their test windows' PnL adds up to a gain (losing less than the incumbent is still losing), and its
   values differ. Otherwise the decision is "keep", with the reason.
5. **Write** the params file (``{quoter: {...}}``, the form ``strategy.params_file`` hot-reloads) through a
   temporary file and an atomic rename, so a running bot never reads half a file.

Every decision, write or keep, is appended as one JSON line to ``reoptimize.decisions`` and written to
``decision.json`` in the job's output dir. The scratch outputs of older runs (their ``sweep/`` and ``incumbent/``
folders, tens of MB each) are deleted, keeping the last ``reoptimize.keep_runs``; their ``decision.json`` stays.
Relative paths are relative to the working directory (Hydra does not change it): run cron from the bot's directory.
The exit status is 0 for both decisions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import DictConfig, OmegaConf, open_dict

from botmm.config import JobConfig, SummaryWeights, require, to_params
from botmm.errors import ConfigError, DataError
from botmm.runners.per_asset import job_overrides, override_key

log = logging.getLogger("botmm.reoptimize")
SWEEP_LOG = "sweep.log"


@dataclass
class FetchParams:
    days: Optional[float] = None  # fetch and backtest the last this many days (feed=candles); None: the feed as is
    base_url: Optional[str] = None  # the venue's API server; None: mainnet
    retries: int = 6  # more attempts after a transient failure, with exponential backoff

    def __post_init__(self) -> None:
        require(self.days is None or self.days > 0, self, "days", "must be > 0 or null")
        require(self.retries >= 0, self, "retries", "must be >= 0")


@dataclass
class ReoptimizeParams:
    """The ``reoptimize`` node."""

    params_file: str = "live_params.yaml"  # the file the running bot hot-reloads (its strategy.params_file)
    decisions: str = "reoptimize_decisions.jsonl"  # one JSON line per decision
    sweep: List[str] = field(default_factory=lambda: ["quoter.spread_bps=2,3,4,6",
                                                      "quoter.inventory_skew_factor=0.25,0.5,1.0"])
    sweeper: List[str] = field(default_factory=list)  # Hydra overrides of the sweep: launcher, sweeper, n_jobs...
    threshold: float = 0.1  # out-of-sample score improvement needed to write new params
    timeout_minutes: float = 120.0  # the sweep is stopped after this long
    fetch: FetchParams = field(default_factory=FetchParams)
    keep_runs: int = 5  # older runs' sweep/ and incumbent/ folders are deleted

    def __post_init__(self) -> None:
        require(self.keep_runs >= 1, self, "keep_runs", "must be >= 1")
        require(bool(self.sweep), self, "sweep", "must list at least one quoter.<key>=<values> override")
        for override in self.sweep:
            key = override_key(override)
            require(key.startswith("quoter.") and "=" in override, self, "sweep",
                    f"{override!r}: only quoter.* keys can be swept (they are what a running bot hot-reloads)")
        require(self.threshold >= 0, self, "threshold", "must be >= 0")
        require(self.timeout_minutes > 0, self, "timeout_minutes", "must be > 0")


@dataclass
class ReoptimizeJob(JobConfig):
    """The root of ``conf/reoptimize.yaml``: the backtest job that is swept, plus the ``reoptimize`` node."""

    reoptimize: ReoptimizeParams = field(default_factory=ReoptimizeParams)


def check(cfg: DictConfig) -> ReoptimizeParams:
    """Check the ``reoptimize`` node and the split, and build the swept job's components - except when the data is
    fetched first (``fetch.days``): then the dataset may not exist yet."""
    from botmm.pipeline import build_components

    params = to_params(ReoptimizeParams, cfg.reoptimize, "reoptimize")
    if cfg.backtest.split is None and not cfg.backtest.walk_forward.folds:
        raise ConfigError("backtest.split: null; reoptimize decides on out-of-sample results, set a split (0.7) or "
                          "backtest.walk_forward.folds")
    if params.fetch.days is None:
        build_components(cfg)
    elif cfg.feed.name != "candles":
        raise ConfigError(f"reoptimize.fetch.days={params.fetch.days}: fetching needs feed=candles "
                          f"(feed={cfg.feed.name})")
    return params


def reoptimize(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Run the steps of the module docstring; returns the decision record."""
    from botmm.runners.simulate import backtest

    params = check(cfg)
    weights = to_params(SummaryWeights, cfg.summary, "summary")
    output_dir.mkdir(parents=True, exist_ok=True)
    swept = {override_key(o) for o in params.sweep}
    window = {"feed.start": _fetch(cfg, params.fetch)} if params.fetch.days is not None else {}
    set_here = swept | set(window) | {"progress"}  # given to the sweep below
    job = job_overrides("reoptimize.", *set_here)
    job += [f"{key}={_value(value)}" for key, value in window.items()]
    params_file = Path(params.params_file)
    current = _read_params(params_file)
    fixed = [f"quoter.{k}={_value(v)}" for k, v in current.items() if f"quoter.{k}" not in swept]
    sweep_dir = output_dir / "sweep"
    _sweep([*job, *fixed, *_judging(cfg), "progress=false", *params.sweep,
            *params.sweeper, f"hydra.sweep.dir={sweep_dir}"], output_dir / SWEEP_LOG, params.timeout_minutes)
    jobs = _jobs(sweep_dir, weights)
    if not jobs:
        raise DataError(f"reoptimize: no sweep job finished; see {output_dir / SWEEP_LOG}")
    incumbent_cfg = _with(cfg, {**window, **{f"quoter.{k}": v for k, v in current.items()}})
    incumbent_result = backtest(incumbent_cfg, output_dir / "incumbent")
    incumbent_folds = _folds(incumbent_result, weights)
    incumbent = {"params": _quoter_values(incumbent_cfg, swept),
                 "in_sample": incumbent_folds[-1]["train"],
                 "out_of_sample": _mean([f["test"] for f in incumbent_folds])}
    folds = []
    for k, bench in enumerate(incumbent_folds):
        chosen = max(jobs, key=lambda j: j["folds"][k]["train"])
        fold = chosen["folds"][k]
        folds.append({"job": chosen["job"], "params": chosen["params"], "train": fold["train"],
                      "test": fold["test"], "test_pnl": fold["test_pnl"], "incumbent_test": bench["test"],
                      "beats": fold["test"] - bench["test"] >= params.threshold})
    last = folds[-1]
    candidate = {"job": last["job"], "params": last["params"], "in_sample": last["train"],
                 "out_of_sample": _mean([f["test"] for f in folds])}
    improvement = round(candidate["out_of_sample"] - incumbent["out_of_sample"], 6)
    wins, oos_pnl = sum(f["beats"] for f in folds), round(sum(f["test_pnl"] for f in folds), 6)
    same = all(_equal(incumbent["params"].get(k), v) for k, v in candidate["params"].items())
    record_folds = f"{wins}/{len(folds)} folds"
    if same:
        decision, reason = "keep", "the best in-sample parameters are the live ones"
    elif 2 * wins <= len(folds):
        decision, reason = "keep", (f"out-of-sample score improved by {improvement:g}, but by >= threshold "
                                    f"{params.threshold:g} in only {record_folds} (a majority is needed)")
    elif oos_pnl <= 0:
        decision, reason = "keep", (f"out-of-sample pnl of the chosen parameters {oos_pnl:g} <= 0: beating the "
                                    f"incumbent by losing less is still losing")
    else:
        decision, reason = "write", (f"out-of-sample score improved by {improvement:g}: by >= threshold "
                                     f"{params.threshold:g} in {record_folds}, out-of-sample pnl {oos_pnl:g} > 0")
    if decision == "write":
        write_params(params_file, {**current, **candidate["params"]},
                     f"written by botmm reoptimize at {_now()}; output {output_dir}")
    record = {"time": _now(), "decision": decision, "reason": reason, "threshold": params.threshold,
              "improvement": improvement, "wins": wins, "oos_pnl": oos_pnl, "folds": folds,
              "candidate": candidate, "incumbent": incumbent,
              "params_file": str(params_file), "symbol": cfg.asset.symbol, "jobs_ok": len(jobs),
              "sweep_dir": str(sweep_dir), "output_dir": str(output_dir), "mode": "reoptimize"}
    _append(Path(params.decisions), record)
    (output_dir / "decision.json").write_text(json.dumps(record, indent=2) + "\n")
    log.info("reoptimize %s: %s (candidate %s, out-of-sample %.4f vs incumbent %.4f)", decision, reason,
             candidate["params"], candidate["out_of_sample"], incumbent["out_of_sample"])
    prune(output_dir.parent, params.keep_runs)
    return record


def _judging(cfg: DictConfig) -> list[str]:
    """The sweep's overrides that make each job report what the decision is taken on: folds, or the split."""
    wf = cfg.backtest.walk_forward
    if wf.folds:
        return [f"backtest.walk_forward.{key}={_value(wf[key])}" for key in ("folds", "anchored", "train", "test",
                                                                              "purge")]
    return [f"backtest.split={cfg.backtest.split}"]


def _folds(result: dict[str, Any], weights: SummaryWeights) -> list[dict[str, float]]:
    """Per fold (the split counts as one): the training and test windows' scores, and the test window's pnl."""
    pairs = [(f["train"], f["test"]) for f in result.get("folds", ())] or [(result["in_sample"],
                                                                            result["out_of_sample"])]
    return [{"train": _score(train, weights) if train else float("-inf"), "test": _score(test, weights),
             "test_pnl": test["pnl"]} for train, test in pairs]


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 6)


SCRATCH = ("sweep", "incumbent")


def prune(runs_dir: Path, keep: int) -> list[Path]:
    """Delete the scratch folders (:data:`SCRATCH`) of all but the newest ``keep`` runs in ``runs_dir`` (runs are
    the folders holding a ``decision.json``, newest by name: Hydra names them by time). Returns what was deleted."""
    import shutil

    runs = sorted(p.parent for p in runs_dir.glob("*/decision.json"))
    deleted = [run / name for run in runs[:-keep] for name in SCRATCH if (run / name).is_dir()]
    for folder in deleted:
        shutil.rmtree(folder)
    return deleted


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fetch(cfg: DictConfig, fetch: FetchParams) -> str:
    """Fetch the last ``days`` of the feed's series; the ISO time the backtests start from."""
    from botmm.data.dataset import interval_ms, iso
    from botmm.data.fetch import fetch_candles

    feed = cfg.feed
    now = int(time.time() * 1000)
    bar = interval_ms(feed.interval)
    start = (now - int(fetch.days * 86_400_000)) // bar * bar
    result = fetch_candles(feed.venue, feed.symbol or cfg.asset.symbol, feed.interval, start, now, feed.root,
                           base_url=fetch.base_url, retries=fetch.retries)
    log.info("%s", result.summary(f"{feed.venue} {feed.symbol or cfg.asset.symbol} {feed.interval}"))
    return iso(start)


def _read_params(path: Path) -> dict[str, Any]:
    """The ``quoter`` mapping of the live params file ({} when there is none yet)."""
    if not path.is_file():
        return {}
    try:
        node = OmegaConf.load(path)
    except Exception as exc:
        raise ConfigError(f"reoptimize.params_file={path}: {str(exc).splitlines()[0]}") from None
    quoter = node.get("quoter") if isinstance(node, DictConfig) else None
    return dict(OmegaConf.to_container(quoter)) if isinstance(quoter, DictConfig) else {}


def _value(value: Any) -> str:
    """A value in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sweep(overrides: list[str], log_path: Path, timeout_minutes: float) -> None:
    """``botmm -m backtest <overrides>`` in a subprocess (so the configured launcher and sweeper run as in any
    sweep); its output goes to ``log_path``. A failed job is left to the summary; a failed sweep raises."""
    command = [sys.executable, "-m", "botmm", "-m", "backtest", *overrides]
    log.info("sweep: %s", " ".join(command[2:]))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as out:
        try:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  timeout=timeout_minutes * 60).returncode
        except subprocess.TimeoutExpired:
            raise DataError(f"reoptimize: the sweep ran longer than {timeout_minutes:g} min; see {log_path}") from None
    if code and not any(log_path.parent.glob("sweep/*/result.json")):
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        raise ConfigError(f"reoptimize: the sweep failed: {lines[-1] if lines else f'exit {code}'}")


def _jobs(sweep_dir: Path, weights: SummaryWeights) -> list[dict[str, Any]]:
    """Each finished sweep job: its swept quoter values and in/out-of-sample scores."""
    jobs = []
    for result_file in sorted(sweep_dir.glob("*/result.json")):
        job_dir = result_file.parent
        result = json.loads(result_file.read_text())
        if not result.get("complete", True) or "stopped" in result or not (
                "out_of_sample" in result or result.get("folds")):  # unfinished, or ended by risk (ruin)
            continue
        overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
        cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
        swept = {override_key(o) for o in overrides if override_key(o).startswith("quoter.")}
        jobs.append({"job": job_dir.name, "params": _quoter_values(cfg, swept), "folds": _folds(result, weights)})
    return jobs


def _quoter_values(cfg: DictConfig, keys: set[str]) -> dict[str, Any]:
    return {key.partition(".")[2]: OmegaConf.select(cfg, key) for key in sorted(keys)}


def _score(figures: dict[str, Any], weights: SummaryWeights) -> float:
    from botmm.runners.score import score

    return round(score(figures, weights), 6)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    return a == b


def _with(cfg: DictConfig, values: dict[str, Any]) -> DictConfig:
    """A copy of ``cfg`` with dotted keys set."""
    copy = cfg.copy()
    with open_dict(copy):
        for key, value in values.items():
            OmegaConf.update(copy, key, value)
    return copy


def write_params(path: Path, quoter: dict[str, Any], note: str) -> None:
    """Write ``{quoter: ...}`` to ``path`` atomically: a temporary file in the same folder, flushed to disk, then
    renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"# {note}\n" + OmegaConf.to_yaml(OmegaConf.create({"quoter": quoter}))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")


def print_decision(record: dict[str, Any]) -> None:
    """The decision on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("", "params", "last training window score", "out-of-sample score (mean of folds)"):
        table.add_column(col, justify="left" if col in ("", "params") else "right")
    for name in ("incumbent", "candidate"):
        entry = record[name]
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in entry["params"].items()), f"{entry['in_sample']:.4f}",
                      f"{entry['out_of_sample']:.4f}")
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log or a pipe has no width: keep the table readable
    console.print(f"botmm reoptimize {record['symbol']}: {record['decision'].upper()} ({record['reason']})")
    console.print(table)
    for k, fold in enumerate(record["folds"], 1):
        console.print(f"fold {k}: chose {', '.join(f'{p}={v}' for p, v in fold['params'].items())} (training score "
                      f"{fold['train']:.4f}); test score {fold['test']:.4f} vs incumbent {fold['incumbent_test']:.4f}, "
                      f"test pnl {fold['test_pnl']:.2f}{'' if fold['beats'] else ' (not beaten)'}")
    if record["decision"] == "write":
        console.print(f"wrote {record['params_file']}")

