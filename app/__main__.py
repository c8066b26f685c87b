"""`python -m app` is the `aurum` command."""

from app.cli.main import cli

cli()
