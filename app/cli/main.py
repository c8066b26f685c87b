"""`aurum`: serve the control plane and run operator commands against its database."""

from __future__ import annotations

import asyncio
import logging

import click

from app.bootstrap import StartupError
from app.cli.keys import keys
from app.cli.output import fail
from app.cli.settings_loader import load_settings, with_local_jwt_secret
from app.cli.tokens import token
from app.settings import Settings

log = logging.getLogger("aurum.cli")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Aurum external-data control plane."""


cli.add_command(keys)
cli.add_command(token)


@cli.command()
@click.option("--host", default=None, help="Bind address (default AURUM_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default AURUM_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Start the API (and the embedded PostgreSQL/Redis when no URLs are set)."""
    from app.bootstrap import prepare, tune_interpreter
    from app.cli.serving import run_server
    from app.main import create_app
    from app.observability.logging import configure_logging

    overrides = {key: value for key, value in (("host", host), ("port", port)) if value}
    settings = with_local_jwt_secret(load_settings(**overrides))
    configure_logging(settings)
    tune_interpreter()
    try:
        dependencies = prepare(settings)
    except StartupError as exc:
        fail(str(exc))
    if settings.embedded_database:
        _announce_bootstrap_key(settings, dependencies.database_url)
    if "kafka" in dependencies.embedded:
        click.echo(
            f"\n  Kafka (embedded broker): {dependencies.kafka_bootstrap_servers}\n"
            f"    kcat -b {dependencies.kafka_bootstrap_servers} -C -o beginning "
            "-t aurum.ref.fred.series.v1\n",
            err=True,
        )
    run_server(
        create_app(settings, dependencies),
        host=settings.host,
        port=settings.port,
        max_header_bytes=settings.max_header_bytes,
    )


def _announce_bootstrap_key(settings: Settings, database_url: str) -> None:
    from app.auth.bootstrap_key import ensure_bootstrap_key
    from app.auth.local_secrets import BOOTSTRAP_KEY_FILE
    from app.db.engine import build_engine, build_sessionmaker

    async def run() -> str | None:
        engine = build_engine(settings, database_url)
        try:
            return await ensure_bootstrap_key(build_sessionmaker(engine), settings.data_dir)
        finally:
            await engine.dispose()

    plaintext = asyncio.run(run())
    if plaintext is None:
        return
    path = settings.data_dir / BOOTSTRAP_KEY_FILE
    # Printed once, straight to the terminal: never through the log pipeline.
    click.echo(
        f"\n  Bootstrap admin API key (shown once; also in {path}, mode 0600):\n\n"
        f"    {plaintext}\n\n"
        '  curl -H "X-API-Key: $(cat ' + str(path) + ')" '
        f"http://{settings.host}:{settings.port}/v1/admin/whoami\n",
        err=True,
    )
    log.info("bootstrap admin key created", extra={"key_file": str(path)})


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
