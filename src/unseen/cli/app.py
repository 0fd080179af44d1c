"""The typer application every command module registers on."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    import click

# `unseen --help` lists the commands in the order a hunt uses them.
PIPELINE_ORDER = (
    "simulate",
    "detect",
    "calibrate",
    "doa",
    "tdoa",
    "calibrate-rss",
    "locate",
    "track",
    "hunt",
    "demo",
    "serve",
    "station",
)


def console():
    """A rich console for tables: the terminal's width, or 120 columns when piped (no '…')."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def package_version() -> str:
    """The installed distribution's version (the source tree's when run uninstalled)."""
    try:
        return version("unseen")
    except PackageNotFoundError:
        return "0+unknown"


class PipelineGroup(TyperGroup):
    """The top-level group: commands listed in pipeline order, unknown ones after them."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        rank = {n: i for i, n in enumerate(PIPELINE_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


class SimulateGroup(TyperGroup):
    """`unseen simulate doa ...` is a subcommand; `unseen simulate SCENARIO ...` is the default."""

    default_command = "scenario"

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, self.default_command)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="unseen",
    cls=PipelineGroup,
    help="Find hidden radio transmitters: detect, bearings (DOA), time differences, locate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: importing rich's help renderer doubles start-up
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"unseen {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """Find hidden radio transmitters: detect, bearings (DOA), time differences, locate."""


simulate_app = typer.Typer(
    cls=SimulateGroup,
    help="Write simulated recordings: `simulate doa` (one array) or `simulate SCENARIO --out DIR`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(simulate_app, name="simulate")
