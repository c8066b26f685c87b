"""`aurum`: serve the control plane and run operator commands against its database."""

from __future__ import annotations

import contextlib
import signal
import sys
from types import FrameType
from typing import NoReturn

import click
from pydantic import ValidationError

from app.bootstrap import StartupError
from app.cli.settings_errors import describe_settings_error
from app.settings import Settings


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1, no stack trace."""
    click.echo(f"aurum: error: {message}", err=True)
    sys.exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        fail(describe_settings_error(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Aurum external-data control plane."""


@cli.command()
@click.option("--host", default=None, help="Bind address (default AURUM_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default AURUM_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Start the API (and the embedded PostgreSQL/Redis when no URLs are set)."""
    import uvicorn

    from app.bootstrap import prepare
    from app.main import create_app
    from app.observability.logging import configure_logging

    settings = load_settings()
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value}
    if overrides:
        try:
            settings = Settings(**{**settings.model_dump(), **overrides})
        except ValidationError as exc:
            fail(describe_settings_error(exc))
    configure_logging(settings)
    try:
        dependencies = prepare(settings)
    except StartupError as exc:
        fail(str(exc))
    config = uvicorn.Config(
        create_app(settings, dependencies),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=30,
        proxy_headers=False,
    )
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal. Turn that
    # into a normal exit so the embedded PostgreSQL and Redis are stopped by their exit hooks.
    signal.signal(signal.SIGTERM, _exit_quietly)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@cli.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to --revision instead of upgrading.")
def migrate(revision: str, down: bool) -> None:
    """Apply database migrations (the embedded database when AURUM_DATABASE_URL is unset)."""
    from app.bootstrap import check_database, resolve_database_url
    from app.db import migrate as migrations

    settings = load_settings()
    try:
        url = resolve_database_url(settings)
        check_database(url)
    except StartupError as exc:
        fail(str(exc))
    if down:
        migrations.downgrade(url, revision)
    else:
        migrations.upgrade(url, revision)
    click.echo(f"database at revision {revision}")
