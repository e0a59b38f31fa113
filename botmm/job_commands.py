"""botmm's job commands (``run``, ``backtest``, ``replay``, ``record``, ``reoptimize``, ``supervise``, and the ones
plugins make with :func:`job_command`): each hands its overrides to a ``hydra.main`` task with ``config_name`` = the
command, so multirun, launchers, sweepers, ``--cfg job`` and ``--info`` all work as in any Hydra app.

Before Hydra starts a job the command composes the config itself and builds every component (factories do no I/O),
so a bad key, value, component name or file is reported in one line before anything trades; an argument or config
value shaped like a private key is refused before Hydra writes the job's ``.hydra/`` directory.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from botmm.errors import BotmmError, os_error_line
from botmm.secrets import refuse_keys_in_arguments, refuse_keys_in_config

if TYPE_CHECKING:
    from omegaconf import DictConfig

HYDRA_COMMANDS = {
    "run": "Quote on a venue in real time (default: paper venue on a synthetic feed).",
    "backtest": "Backtest the pipeline on historical or synthetic bars (default: sim venue, synthetic month).",
    "replay": "Replay L2 order books through the pipeline: queue position, latency, partial fills (default: "
              "synthetic hour).",
    "record": "Record an exchange's order books and trades (venue=hyperliquid: l2Book and trades) into the L2 "
              "dataset that replay reads (one file per hour); --timeout SECONDS bounds each connection attempt.",
    "reoptimize": "Nightly re-optimisation: fetch data, sweep, and write the live params file only when the "
                  "out-of-sample score improves by the threshold (cron-safe).",
    "supervise": "Backtest several assets, allocate capital (risk parity, Sharpe, equal) and compare the portfolio "
                 "with equal weights.",
}
MODE_FLAGS = {"--cfg": "--cfg", "-c": "--cfg", "--info": "--info", "-i": "--info", "--run": "--run", "-r": "--run",
              "--shell-completion": "--shell-completion", "-sc": "--shell-completion"}
CONFIG_ERROR = 2
_ABSENT = object()  # OmegaConf.select's default: the key is not in the config


def fail(message: str, code: int = CONFIG_ERROR) -> None:
    """Print one line to stderr and exit."""
    click.echo(f"botmm: {message}", err=True)
    raise SystemExit(code)


def _complete(config_name: str) -> Callable[..., list[Any]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem
        from hydra import initialize_config_module
        from hydra._internal.core_plugins.bash_completion import BashCompletion
        from hydra.core.global_hydra import GlobalHydra

        from botmm.registry import SCHEMA_GROUP, load_plugins

        load_plugins()
        words = [*ctx.params.get("overrides", ()), incomplete]
        with initialize_config_module("botmm.conf", version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            found = BashCompletion(loader)._query(config_name, " ".join(words))
            return [CompletionItem(c) for c in found if not c.startswith(SCHEMA_GROUP)]  # what presets extend

    return complete


# plugins' job commands: name -> (doc, run, show)
_JOBS: dict[str, tuple[str, Callable[..., Any], Callable[[Any], None]]] = {}


def job_command(name: str, doc: str, run: Callable[..., Any], show: Callable[[Any], None]) -> click.Command:
    """A command for a plugin (``botmm_register_commands``) that runs a job from the Hydra config ``<name>.yaml`` as
    ``botmm backtest`` does: ``run(cfg, output_dir) -> result``, then ``show(result)`` unless it is a sweep's job."""
    _JOBS[name] = (doc, run, show)
    return hydra_command(name, doc)


def hydra_command(name: str, doc: str) -> click.Command:
    settings = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}

    @click.command(name, help=f"{doc} Overrides: key=value ... (--help lists config groups and options).",
                   context_settings=settings)
    @click.argument("overrides", nargs=-1, type=click.UNPROCESSED, shell_complete=_complete(name))
    @click.pass_context
    def command(ctx: click.Context, overrides: tuple[str, ...], timeout: str | None = None) -> None:
        extra = [] if timeout is None else [f"open_timeout_s={_timeout_s(timeout)}"]
        launch(name, [*overrides, *extra], ctx.obj["multirun"])

    if name == "record":  # the one network command among them: a deadline on the command line, as `data fetch`
        click.option("--timeout", metavar="SECONDS", default=None,
                     help="Deadline of each connection attempt: name resolution, connect and handshake "
                          "(open_timeout_s, default 5).")(command)
    return command


def _timeout_s(text: str) -> float:
    """``--timeout``'s seconds: a positive finite number, or one line naming the option."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        fail(f"--timeout={text}: expected a positive number of seconds")
    return seconds


def launch(name: str, args: list[str], multirun: bool) -> None:
    """Check the command line, pre-validate the config, then hand over to Hydra."""
    from botmm.registry import load_plugins
    from botmm.runners.sweep_summary import SWEEP_JOBS_ENV, SweepDir, summarise_sweep

    multirun = multirun or "hydra.mode=MULTIRUN" in args  # Hydra's own spelling of -m
    if multirun and name in ("run", "record"):
        fail(f"'botmm -m {name}' is refused: a multirun starts its jobs one after another, so a second live job "
             f"would never start; run one process per {'bot' if name == 'run' else 'recorder'}")
    modes = {MODE_FLAGS[a] for a in args if a in MODE_FLAGS} | ({"-m"} if multirun else set())
    if len(modes) > 1:
        fail(f"choose one of {', '.join(sorted(modes))}: Hydra runs one mode at a time")
    workers = None
    try:
        refuse_keys_in_arguments(args)
        if multirun and not modes - {"-m"}:
            from botmm.runners.sweep_workers import start_workers

            workers = start_workers(name, args)  # they start while the sweep's configs are checked
        load_plugins()
        overrides = [a for a in args if not a.startswith("-") and "=" in a]
        searchpath = _plugin_searchpath()
        if searchpath:
            args = [searchpath, *args]  # before any --cfg/--info flag and its value
            overrides.append(searchpath)
        if not modes - {"-m"} and {"--help", "-h"} & set(args):
            _print_help(name, overrides)
            return
        if not modes - {"-m"} and "--hydra-help" not in args:
            _check_output_dir(overrides, multirun)
            combos, grid = _combinations(overrides)
            _prevalidate(name, combos)
            if multirun:
                _skip_hydra_checks(combos)
            if grid:
                os.environ[SWEEP_JOBS_ENV] = str(grid)
            else:
                os.environ.pop(SWEEP_JOBS_ENV, None)
    except BotmmError as exc:
        fail(str(exc))
    except OSError as exc:  # a file a component opens to check it (an L2 dataset's metadata, ...)
        fail(os_error_line(exc))
    if "hydra/sweeper=optuna" in args and not any(a.startswith("hydra.sweeper.direction=") for a in args):
        args = [*args, "hydra.sweeper.direction=maximize"]  # Optuna minimises by default; botmm's score is a gain
    if workers is not None:
        workers.join()
    saved = sys.argv
    sys.argv = [f"botmm {name}", *(["--multirun"] if multirun else []), *args]
    SweepDir.last = None
    code: Any = 0
    try:
        _hydra_main(name)()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        click.echo("botmm: sweep interrupted: its unfinished jobs are listed as interrupted, unranked", err=True)
        code = 130
    finally:
        sys.argv = saved
        if multirun and SweepDir.last is not None and SweepDir.last.is_dir():
            summarise_sweep(SweepDir.last)
    if code:
        raise SystemExit(code)


def _print_help(name: str, overrides: list[str]) -> None:
    """``botmm <name> --help`` (:mod:`botmm.help`), for the config the overrides compose."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from botmm.help import help_page
    from botmm.registry import SCHEMA_GROUP

    with initialize_config_module("botmm.conf", version_base="1.3"):
        cfg = _compose(name, overrides)
        hydra = GlobalHydra.instance().hydra
        groups = hydra.format_config_groups(lambda group: group.split("/")[0] not in ("hydra", SCHEMA_GROUP))
    click.echo(help_page(name, HYDRA_COMMANDS[name] if name in HYDRA_COMMANDS else _JOBS[name][0], cfg, groups))


def _check_output_dir(overrides: list[str], multirun: bool) -> None:
    """The folder Hydra will create the job's output dir in must be a writable folder: Hydra itself would stop with
    a traceback. Checked on the nearest part of the path that exists (the rest holds ``${now:...}``)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = next((o.partition("=")[2] for o in reversed(overrides) if o.partition("=")[0] == key),
                 "multirun" if multirun else "outputs")
    _check_folder(key, value, Path(value.split("${")[0] or "."),
                  f" (run botmm from a writable folder or set {key})")


def _check_folder(key: str, value: str, folder: Path, hint: str = "") -> None:
    """``folder`` can be created and written into: the nearest part of it that exists is a folder a folder can be
    made in, tried with an empty one removed at once (permission bits do not tell: root ignores them, and a read-only
    or special file system refuses root too)."""
    existing = folder.expanduser().absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BotmmError(f"{key}={value}: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".botmm-write-check-", dir=existing))
    except OSError as exc:
        raise BotmmError(f"{key}={value}: cannot write into {existing} ({exc.strerror}){hint}") from None


def _plugin_searchpath() -> str | None:
    """A ``hydra.searchpath`` override adding the YAML trees that plugins ship (``botmm_conf_packages``)."""
    from botmm.registry import load_plugins

    paths = [p for paths in load_plugins().hook.botmm_conf_packages() for p in paths]
    return f"hydra.searchpath=[{','.join(repr(p) for p in paths)}]" if paths else None


def _combinations(overrides: list[str]) -> tuple[list[list[str]], int | None]:
    """Override lists to pre-validate — the sweep's first combination plus one per other swept value, so every value
    is composed once without composing the whole grid — and the grid's size. Keys of Hydra's own node go to Hydra
    unchecked."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise BotmmError(_one_line(exc)) from None
    base: list[str] = []
    swept: list[tuple[int, list[str]]] = []
    grid_known = True
    for override in parsed:
        key = override.get_key_element()
        if key.startswith("hydra.") and not key.startswith("hydra.searchpath"):
            continue
        if override.is_sweep_override():
            try:
                values = [f"{key}={v}" for v in override.sweep_string_iterator()]
            except Exception:
                grid_known = False  # a sweeper-specific form (interval, tag, ...): left to the configured sweeper
                continue
            swept.append((len(base), values))
            base.append(values[0])
        elif key.startswith("hydra"):
            base.append(override.input_line)
        else:
            base.append(f"{key}={override.get_value_element_as_str()}")  # as Hydra writes it into the job
    combos = [base]
    for index, values in swept:
        for value in values[1:]:
            combos.append([*base[:index], value, *base[index + 1:]])
    return combos, math.prod(len(values) for _, values in swept) if grid_known else None


def _prevalidate(name: str, combos: list[list[str]]) -> None:
    """Compose and check each combination. The first is composed; each other differs from it in one swept value,
    and when that value only sets an existing setting (``key=value``) it is checked on a copy of the first with the
    value set, as Hydra itself applies such an override: composing costs about 0.1 s, paid one after another before
    a sweep starts, and a copy a few ms."""
    from hydra import initialize_config_module

    # one Hydra context for every check: a check may compose more (a multi-asset job composes one config per asset)
    with initialize_config_module("botmm.conf", version_base="1.3"):
        first = _compose(name, combos[0])
        _check(name, first)
        for combo in combos[1:]:
            changed = [new for old, new in zip(combos[0], combo) if new != old]
            cfg = _with_value(first, changed[0]) if len(changed) == 1 else None
            _check(name, cfg if cfg is not None else _compose(name, combo))


def _skip_hydra_checks(combos: list[list[str]]) -> None:
    """Tell botmm's sweeper which jobs need no second composition, and make sure Hydra knows the sweeper."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.botmm_sweeper import BotmmSweeper

    Plugins.instance().register(BotmmSweeper)
    BotmmSweeper.checked = {frozenset(o for o in combo if not o.startswith(("hydra.", "hydra/"))) for combo in combos}


def _compose(name: str, overrides: list[str]) -> DictConfig:
    """The job's config, composed as Hydra will compose it (within :func:`_prevalidate`'s Hydra context, or one of
    its own); Hydra's
    own node goes to ``HydraConfig`` as in the job, so checks that read the run's command line from it (mainnet
    limits, the assets of ``asset=[...]``) see the same in both."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    _check_signal_overrides(overrides)
    try:
        if GlobalHydra.instance().is_initialized():
            cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
        else:
            with initialize_config_module("botmm.conf", version_base="1.3"):
                cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    except Exception as exc:
        raise BotmmError(_one_line(exc)) from None
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def _check_signal_overrides(overrides: list[str]) -> None:
    """``signal=<name>`` is the natural guess, but a signal goes into one of the ``signals`` slots."""
    from botmm.pipeline import SIGNAL_SLOTS
    from botmm.registry import registry

    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") == "signal":
            installed = ", ".join(sorted(registry("signal").components))
            raise BotmmError(f"{override}: a signal goes into a slot: +signal@signals.<slot>={value or '<name>'} "
                             f"with <slot> one of {', '.join(SIGNAL_SLOTS)}; installed signals: {installed}")


def _with_value(cfg: DictConfig, override: str) -> DictConfig | None:
    """A copy of ``cfg`` with ``override`` applied when it sets an existing value (not a config group, not ``+``,
    ``++`` or ``~``); None otherwise, or when applying it fails (composing then reports the error)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    parsed = OverridesParser.create().parse_override(override)
    if parsed.is_add() or parsed.is_force_add() or parsed.is_delete() or parsed.package is not None:
        return None
    key = parsed.key_or_group
    current = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
    if current is _ABSENT or OmegaConf.is_config(current):
        return None
    new = copy.deepcopy(cfg)
    try:
        OmegaConf.update(new, key, parsed.value(), merge=True)
    except Exception:
        return None
    return new


def _check(name: str, cfg: DictConfig) -> None:
    """Build what the job would build, so a bad value fails here in one line."""
    from botmm.config import check_job
    from botmm.pipeline import build_components

    refuse_keys_in_config(cfg)
    log_path = (cfg.get("logging") or {}).get("path")
    if log_path:  # a log file kept across runs: the job would fail on it only once started
        _check_folder("logging.path", log_path, Path(log_path).parent)
    if name == "record":
        from botmm.runners.record import check

        check(cfg)
        return
    check_job(cfg)
    if name == "reoptimize":
        from botmm.runners.reoptimize import check as check_reoptimize

        check_reoptimize(cfg)
        return
    build_components(cfg)


def _one_line(exc: BaseException) -> str:
    """Hydra's multi-line messages, folded into one line that names the bad key or option."""
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options is not None:
        group, _, option = exc.missing_cfg_file.rpartition("/")
        if group:
            extra = _extra_for(group, exc.options)
            return f"{group}={option}: no such option; available: {', '.join(exc.options)}{extra}"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    parts = lines[:2] if len(lines) > 1 and lines[0].endswith(":") else lines[:1] or [type(exc).__name__]
    if exc.__cause__ is not None and str(exc.__cause__).strip():
        parts.append(str(exc.__cause__).strip().splitlines()[0])
    return " ".join(parts)


def _extra_for(group: str, options: list[str]) -> str:
    """Where the options of Hydra's own plugin groups that are not installed come from."""
    extras = {"hydra/launcher": {"joblib": "sweep", "submitit_local": "cluster", "ray": "ray"},
              "hydra/sweeper": {"optuna": "sweep"}}.get(group, {})
    missing = [f"{option} (pip install 'botmm[{extra}]')" for option, extra in extras.items() if option not in options]
    return f"; with an extra: {', '.join(missing)}" if missing else ""


def _hydra_main(name: str) -> Callable[[], Any]:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    def task(cfg: DictConfig) -> dict[str, Any] | float:
        from botmm.config import SummaryWeights, to_params
        from botmm.logs import setup_logging
        from botmm.runners.score import objective

        hydra_cfg = HydraConfig.get()
        output_dir = Path(hydra_cfg.runtime.output_dir)
        try:
            setup_logging(cfg.get("logging"), output_dir, cfg.asset.symbol)
            runner, printer = _runner(name)
            result = runner(cfg, output_dir)
        except (BotmmError, OSError) as exc:
            if hydra_cfg.mode == RunMode.MULTIRUN:
                raise  # Hydra marks the job failed; the sweep summary lists it
            fail(os_error_line(exc) if isinstance(exc, OSError) else str(exc), code=1)
        except KeyboardInterrupt:
            if hydra_cfg.mode == RunMode.MULTIRUN:
                raise  # the CLI summarises the sweep, where this job is listed as interrupted
            written = (output_dir / "result.json").is_file()
            fail(f"interrupted: {output_dir}/result.json is marked \"complete\": false" if written
                 else f"interrupted before the {name} started: nothing written in {output_dir}", code=130)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            printer(result)
        if "optuna" in str(hydra_cfg.sweeper.get("_target_", "")):  # optimisers want a number
            maximize = str(hydra_cfg.sweeper.get("direction", "maximize")).endswith("maximize")
            return objective(result, to_params(SummaryWeights, cfg.summary, "summary"), maximize)
        return result

    return hydra.main(version_base="1.3", config_path="pkg://botmm.conf", config_name=name)(task)


def _runner(name: str) -> tuple[Callable[[DictConfig, Path], Any], Callable[[Any], None]]:
    """The job function of command ``name`` and the function printing its result; only that runner's module is
    imported (the live runner's alone costs a backtest about 0.3 s)."""
    if name not in HYDRA_COMMANDS and name not in _JOBS:
        from botmm.cli import plugin_commands

        plugin_commands()  # a plugin's job in a process that has not loaded them (a launcher's worker)
    if name in _JOBS:
        return _JOBS[name][1:]
    if name == "run":
        from botmm.runners import live
        from botmm.runners.result_table import print_result

        return live.run, print_result
    if name == "record":
        from botmm.runners import record

        return record.record, record.print_summary
    if name == "reoptimize":
        from botmm.runners import reoptimize

        return reoptimize.reoptimize, reoptimize.print_decision
    if name == "supervise":
        from botmm.runners import supervise

        return supervise.supervise, supervise.print_report
    from botmm.runners import simulate
    from botmm.runners.result_table import print_result

    return simulate.backtest, print_result
