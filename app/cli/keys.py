"""`aurum keys create|list|revoke`: manage API keys straight in the database."""

from __future__ import annotations

import asyncio
import getpass
import uuid
from datetime import timedelta

import click

from app.audit.service import AuditContext
from app.auth import api_keys
from app.auth.principal import Principal, Role
from app.cli.database import database_url_for_commands, unit_of_work
from app.cli.output import fail, print_json
from app.cli.settings_loader import load_settings
from app.db.repositories import api_keys as repo
from app.durations import parse_duration
from app.errors import NotFound


def _operator() -> AuditContext:
    """Commands are audited as the operating-system user who ran them."""
    user = getpass.getuser()
    return AuditContext(
        principal=Principal(id=f"cli:{user}", name=user, role=Role.ADMIN, kind="system"),
        reason="aurum command line",
    )


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (sent as X-API-Key)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what will use the key.")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in Role]), help="What it may do."
)
@click.option("--expires-in", default=None, help="Lifetime such as 90d, 12h, 2w (default: none).")
def create(name: str, role: str, expires_in: str | None) -> None:
    """Create a key; the key itself is printed once and never stored."""
    lifetime: timedelta | None = None
    if expires_in:
        try:
            lifetime = parse_duration(expires_in)
        except ValueError as exc:
            fail(f"--expires-in: {exc}")
    settings = load_settings()
    url = database_url_for_commands(settings)

    async def run() -> dict[str, object]:
        async with unit_of_work(settings, url) as session:
            key, plaintext = await api_keys.create_key(
                session, _operator(), name=name, role=Role(role), expires_in=lifetime
            )
            return api_keys.public_view(key) | {"key": plaintext}

    created = asyncio.run(run())
    print_json(created)
    click.echo("Store the key now: it is not shown again.", err=True)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
def list_keys(include_revoked: bool) -> None:
    """List keys (never their secret)."""
    settings = load_settings()
    url = database_url_for_commands(settings)

    async def run() -> list[dict[str, object]]:
        async with unit_of_work(settings, url) as session:
            found = await repo.list_all(session, include_revoked=include_revoked)
            return [api_keys.public_view(key) for key in found]

    print_json(asyncio.run(run()))


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key by id (see `aurum keys list`)."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail(f"{key_id!r} is not a key id; `aurum keys list` shows them")
    settings = load_settings()
    url = database_url_for_commands(settings)

    async def run() -> dict[str, object]:
        async with unit_of_work(settings, url) as session:
            return api_keys.public_view(await api_keys.revoke_key(session, _operator(), parsed))

    try:
        print_json(asyncio.run(run()))
    except NotFound as exc:
        fail(exc.message)
