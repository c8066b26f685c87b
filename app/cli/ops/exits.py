"""Exit codes of the operator commands, and the one-line error they end with."""

from __future__ import annotations

from enum import IntEnum

import typer


class Exit(IntEnum):
    """What a script can branch on (documented in docs/cli.md)."""

    OK = 0
    CHECK_FAILED = 1  # `status --check` found a provider down or an outage open; a run failed
    USAGE = 2  # bad command line or configuration (click's own code for usage errors)
    REFUSED = 3  # the API answered 4xx: not authenticated, forbidden, not found, conflict...
    UNAVAILABLE = 4  # the API answered 5xx, or could not be reached in time


class CliError(Exception):
    """Ends the command with `aurum: error: <message>` on stderr and `code`, no traceback
    (turned into that by OpsCommand/OpsGroup in app/cli/ops/base.py)."""

    def __init__(self, message: str, code: Exit = Exit.REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def show(self) -> None:
        typer.echo(f"aurum: error: {self.message}", err=True)


def finished(code: Exit) -> typer.Exit:
    """A normal end with a non-zero code (a check that found problems, a failed run)."""
    return typer.Exit(int(code))
