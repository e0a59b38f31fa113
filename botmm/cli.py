"""The ``botmm`` command: a click group of botmm's job commands (:mod:`botmm.job_commands`), ``data``
(:mod:`botmm.data.cli`), ``report``, ``plugins``, and the commands plugins add (``botmm_register_commands``).
Everything the command prints goes through :func:`botmm.secrets.redact_output`.
"""

from __future__ import annotations

import json
import sys

import click

from botmm.data.cli import data
from botmm.data.importing import import_candles
from botmm.errors import BotmmError
from botmm.job_commands import HYDRA_COMMANDS, fail, hydra_command, job_command
from botmm.secrets import redact_output

__all__ = ["cli", "job_command", "main"]

MULTIRUN_FLAGS = ("-m", "--multirun")


class BotmmGroup(click.Group):
    """botmm's own commands, then the ones plugins add (``botmm_register_commands``), loaded only for a name that is
    not botmm's own or for the whole list."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or plugin_commands().get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *plugin_commands()})


def plugin_commands() -> dict[str, click.Command]:
    """The plugins' commands by name; a name of botmm's own is refused in one line."""
    from botmm.registry import commands

    try:
        found = commands()
    except BotmmError as exc:
        fail(str(exc))
    for name, (_, plugin) in found.items():
        if name in cli.commands:
            fail(f"plugin {plugin!r}: command {name!r} is one of botmm's own")
    return {name: command for name, (command, _) in found.items()}


@click.group(cls=BotmmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--multirun", is_flag=True, help="Run a Hydra multirun (sweep) of the subcommand.")
@click.pass_context
def cli(ctx: click.Context, multirun: bool) -> None:
    """botmm: config-driven market making. Subcommands take Hydra overrides (key=value, group=option)."""
    ctx.obj = {"multirun": multirun}


for _name, _doc in HYDRA_COMMANDS.items():
    cli.add_command(hydra_command(_name, _doc))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: distribution, version, hooks and the components each provides. A table on a
    terminal; piped, one plain line per component (plugin, distribution, version, kind:name), never cut short."""
    from botmm.registry import KINDS, commands, load_plugins, plugin_infos, registry

    try:
        pm = load_plugins()
    except BotmmError as exc:
        fail(str(exc))
    rows = []
    for name, info in sorted(plugin_infos().items()):
        plugin = pm.get_plugin(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        components = [f"{kind}:{c.name}" for kind in KINDS for c in registry(kind).components.values()
                      if c.plugin == name] + [f"command:{c}" for c, (_, by) in commands().items() if by == name]
        rows.append({"plugin": name, "distribution": info.distribution, "version": info.version,
                     "hooks": hooks, "components": components})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not sys.stdout.isatty():
        for row in rows:
            for component in row["components"] or ["-"]:
                click.echo(f"{row['plugin']} {row['distribution']} {row['version']} {component}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="botmm plugins")
    for col in ("plugin", "distribution", "version", "hooks", "components"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["plugin"], row["distribution"], row["version"], "\n".join(row["hooks"]),
                      "\n".join(row["components"]))
    Console().print(table)


data.add_command(import_candles)
cli.add_command(data)


@cli.command("report")
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="The HTML file to write [default: <run dir>/report.html, or the .md file's name with .html].")
def report_command(path: str, out: str | None) -> None:
    """One self-contained HTML report of a run or multirun output dir (plots and tables), or a Markdown file
    rendered to styled HTML."""
    try:
        if path.endswith(".md"):
            from botmm.report.markdown import markdown_file

            written = markdown_file(path, out)
        else:
            from botmm.report.html import report

            written = report(path, out)
    except BotmmError as exc:
        fail(str(exc))
    click.echo(f"wrote {written}")


def main() -> None:
    """Console entry point: masks key-shaped text in all output, lifts ``-m``/``--multirun`` from anywhere in the line
    to the front, then runs click."""
    redact_output()
    args = sys.argv[1:]
    if any(a in MULTIRUN_FLAGS for a in args[1:]):
        args = ["--multirun", *(a for a in args if a not in MULTIRUN_FLAGS)]
    cli.main(args=args, prog_name="botmm")
