"""What every operator command shares: the global options, the API session, `--json` or a
Rich table, and no traceback whatever goes wrong."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from app.cli.ops.client import Api
from app.cli.ops.connection import resolve
from app.cli.ops.exits import CliError, Exit
from app.durations import parse_duration

JSON_HELP = "Print the API's JSON instead of a table."
REASON_HELP = "Why (stored in the audit log)."


@dataclass
class GlobalOptions:
    """`aurum [--json] [--profile NAME] COMMAND`: set on the root group (app/cli/main.py)."""

    json: bool = False
    profile: str | None = None


def _guarded(invoke: Callable[[], Any]) -> Any:
    """Run a command: a CliError, or anything unexpected, ends as one line on stderr and its
    exit code; click's own exceptions (usage errors, Exit, Abort) pass through."""
    try:
        return invoke()
    except CliError as exc:
        exc.show()
        raise typer.Exit(int(exc.code)) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if hasattr(exc, "exit_code") and hasattr(exc, "show"):  # click's (Typer's) own errors
            raise
        CliError(f"unexpected {type(exc).__name__}: {exc}", Exit.UNAVAILABLE).show()
        raise typer.Exit(int(Exit.UNAVAILABLE)) from None


class OpsCommand(TyperCommand):
    """A command whose failure is one line, not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        return _guarded(lambda: super(OpsCommand, self).invoke(ctx))


class OpsGroup(TyperGroup):
    """A group whose commands' (and own callback's) failures are one line."""

    def invoke(self, ctx: Any) -> Any:
        return _guarded(lambda: super(OpsGroup, self).invoke(ctx))


def new_app(help_text: str, *, default: bool = False) -> typer.Typer:
    """A command group; `default`: the group's own callback runs when no subcommand is given
    (`aurum runs` lists, `aurum runs show ID` shows)."""
    return typer.Typer(
        cls=OpsGroup,
        help=help_text,
        add_completion=False,
        no_args_is_help=False,
        invoke_without_command=default,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


class Session:
    """One command's connection to the service and its output mode."""

    def __init__(self, ctx: typer.Context, as_json: bool = False) -> None:
        root = ctx.find_root().obj
        options = root if isinstance(root, GlobalOptions) else GlobalOptions()
        self.json = as_json or options.json
        self._profile = options.profile
        self._ctx = ctx
        self._api: Api | None = None
        self.out = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(resolve(self._profile))
            self._ctx.call_on_close(self._api.close)
        return self._api

    def emit(self, data: Any, render: Callable[[Any], None]) -> None:
        """The API's JSON with --json, else the people's view."""
        if self.json:
            print_json(data)
        else:
            render(data)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    return grid


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def when(value: Any) -> str:
    """An API time as people read it: `2026-12-07 16:24:28Z` (UTC, whole seconds)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def ttl_seconds(text: str | None) -> int | None:
    """`--ttl 30m` / `--ttl 3600` as seconds (a usage error names the forms)."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None


def key_values(pairs: Iterable[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, cell(value))
    return grid
