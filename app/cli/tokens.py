"""`aurum token mint`: an HS256 bearer token for the configured (or embedded) secret."""

from __future__ import annotations

import click

from app.auth.principal import Role
from app.auth.tokens import mint as mint_token
from app.cli.output import fail
from app.cli.settings_loader import load_settings, with_local_jwt_secret
from app.durations import parse_duration
from app.settings import JwtAlgorithm


@click.group()
def token() -> None:
    """Bearer tokens for HS256 deployments."""


@token.command("mint")
@click.option("--sub", "subject", required=True, help="Who the token is for.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--ttl", default="1h", show_default=True, help="Lifetime such as 15m, 1h, 7d.")
def mint(subject: str, role: str, ttl: str) -> None:
    """Print a signed token; use it as 'Authorization: Bearer <token>'."""
    settings = with_local_jwt_secret(load_settings())
    if settings.jwt_algorithm is not JwtAlgorithm.HS256:
        fail("AURUM_JWT_ALGORITHM is not HS256: tokens come from your identity provider")
    if settings.jwt_secret is None:
        fail("AURUM_JWT_SECRET is not set")
    try:
        lifetime = parse_duration(ttl)
    except ValueError as exc:
        fail(f"--ttl: {exc}")
    click.echo(
        mint_token(
            settings,
            secret=settings.jwt_secret.get_secret_value(),
            subject=subject,
            role=Role(role),
            ttl=lifetime,
        )
    )
