"""How commands talk to operators: results on stdout, errors as one line on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1, no stack trace."""
    click.echo(f"aurum: error: {message}", err=True)
    sys.exit(1)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))
