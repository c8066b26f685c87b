"""The operator commands (`aurum status`, `aurum outage start ...`): Typer commands that talk
to a running service over its HTTP API only. Typer carries its own copy of click, so its
commands cannot join the `aurum` click group directly: each is mounted there as a small click
command that hands its arguments on (app/cli/main.py), and `serve`, `migrate`, `keys` and
`token` stay as they are."""

from __future__ import annotations

from typing import Any

import click
import typer

from app.cli.ops import limits, outage, runs, status
from app.cli.ops.base import OpsCommand, new_app
from app.cli.ops.control import breakers_app, jobs_app
from app.cli.ops.flags import flags_app
from app.cli.ops.redis_cli import redis_cli


def build() -> typer.Typer:
    """Every operator command in one Typer app."""
    app = new_app("Operator commands.")
    command = app.command
    command("status", cls=OpsCommand)(status.status)
    command("health", cls=OpsCommand)(status.health)
    command("sla", cls=OpsCommand)(status.sla)
    command("validation", cls=OpsCommand)(limits.validation)
    command("audit", cls=OpsCommand)(limits.audit)
    command("backfill", cls=OpsCommand)(runs.backfill)
    command(
        "redis-cli",
        cls=OpsCommand,
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    )(redis_cli)
    for name, group in (
        ("ratelimits", limits.ratelimits_app),
        ("costs", limits.costs_app),
        ("quotas", limits.quotas_app),
        ("config", limits.config_app),
        ("breakers", breakers_app),
        ("jobs", jobs_app),
        ("runs", runs.runs_app),
        ("flags", flags_app),
        ("outage", outage.outage_app),
    ):
        app.add_typer(group, name=name)
    return app


def operator_commands() -> list[click.Command]:
    """One click command per operator command, each running the Typer command of its name
    with the rest of the command line and the root's global options (`--json`, `--profile`)."""
    group: Any = typer.main.get_command(build())
    mounted = []
    for name, command in group.commands.items():

        @click.pass_context
        def delegate(ctx: click.Context, args: tuple[str, ...], _name: str = name) -> None:
            prog = ctx.find_root().info_name or "aurum"
            group.main(args=[_name, *args], prog_name=prog, obj=ctx.obj, standalone_mode=True)

        mounted.append(
            click.Command(
                name,
                callback=delegate,
                params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
                help=command.help,
                short_help=command.short_help or (command.help or "").split("\n")[0],
                add_help_option=False,
                context_settings={"ignore_unknown_options": True},
            )
        )
    return mounted
