"""The typer application every command module registers on."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup


class SimulateGroup(TyperGroup):
    """`unseen simulate doa ...` is a subcommand; `unseen simulate SCENARIO ...` is the default."""

    default_command = "scenario"

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, self.default_command)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="unseen",
    help="Find hidden radio transmitters: detect, bearings (DOA), time differences, locate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: importing rich's help renderer doubles start-up
)

simulate_app = typer.Typer(
    cls=SimulateGroup,
    help="Write simulated recordings: `simulate doa` (one array) or `simulate SCENARIO --out DIR`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(simulate_app, name="simulate")
