"""`aurum`: serve the control plane (`serve`, `migrate`, `keys`, `token` work on its database
directly) and operate a running service over its HTTP API (`status`, `outage`, `jobs`, ...:
app/cli/ops)."""

from __future__ import annotations

import asyncio
import importlib
import logging

import click

from app.cli.ops import operator_commands
from app.cli.ops.base import GlobalOptions
from app.cli.output import fail
from app.cli.settings_loader import load_settings, with_local_jwt_secret
from app.settings import Settings

log = logging.getLogger("aurum.cli")


class Aurum(click.Group):
    """The root group. `keys` and `token` are imported when called (they load the database
    layer), so an operator command starts without it."""

    LAZY = {"keys": "app.cli.keys:keys", "token": "app.cli.tokens:token"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, _, attr = self.LAZY[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=Aurum, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Operator commands: print the API's JSON.")
@click.option(
    "--profile",
    default=None,
    help="Operator commands: [profiles.NAME] of the config file (AURUM_PROFILE).",
)
@click.pass_context
def cli(ctx: click.Context, as_json: bool, profile: str | None) -> None:
    """Aurum external-data control plane.

    Operator commands talk to a running service: AURUM_API_URL (default
    http://127.0.0.1:8080) with AURUM_API_KEY or AURUM_TOKEN, a --profile, or the embedded
    default's bootstrap key. Exit codes: 0 ok, 1 check or run failed, 2 usage, 3 the API
    refused (4xx), 4 server error or unreachable.
    """
    ctx.obj = GlobalOptions(json=as_json, profile=profile)


for _command in operator_commands():
    cli.add_command(_command)


@cli.command()
@click.option("--host", default=None, help="Bind address (default AURUM_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default AURUM_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Start the API (and the embedded PostgreSQL/Redis when no URLs are set)."""
    from app.bootstrap import StartupError, prepare, tune_interpreter
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
    from app.bootstrap import StartupError, check_database, resolve_database_url
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
