"""Settings for commands: validated, with the embedded default's local JWT secret."""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from app.auth.local_secrets import local_jwt_secret
from app.cli.output import fail
from app.cli.settings_errors import describe_settings_error
from app.settings import JwtAlgorithm, Settings


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        fail(describe_settings_error(exc))


def with_local_jwt_secret(settings: Settings) -> Settings:
    """The embedded default (no AURUM_DATABASE_URL) signs HS256 tokens with a secret it keeps
    in its data directory, so `aurum token mint` and `make run` agree with no setup."""
    if settings.jwt_secret or settings.jwt_algorithm is not JwtAlgorithm.HS256:
        return settings
    if not settings.embedded_database:
        return settings
    secret = SecretStr(local_jwt_secret(settings.data_dir))
    return settings.model_copy(update={"jwt_secret": secret})
