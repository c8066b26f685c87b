"""Settings are validated at start and errors name the variable to fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.cli.settings_errors import describe_settings_error
from app.settings import Settings


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    return describe_settings_error(caught.value)


def test_defaults_serve_on_loopback_8080() -> None:
    settings = Settings(_env_file=None, database_url=None, redis_url=None)  # type: ignore[call-arg]
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.embedded_database and settings.embedded_redis


def test_a_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, AURUM_PORT="abc")
    assert "AURUM_PORT" in message and "'abc'" in message


def test_an_out_of_range_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "AURUM_PORT" in _error(monkeypatch, AURUM_PORT="70000")


def test_a_non_postgres_database_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _error(monkeypatch, AURUM_DATABASE_URL="mysql://root:hunter2@db/x")
    assert "AURUM_DATABASE_URL" in message
    assert "hunter2" not in message


def test_an_unknown_log_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "AURUM_LOG_LEVEL" in _error(monkeypatch, AURUM_LOG_LEVEL="chatty")


STRONG_SECRET = "prod-like-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def test_prod_with_hs256_tokens_needs_issuer_and_audience(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _error(monkeypatch, AURUM_ENV="prod", AURUM_JWT_SECRET=STRONG_SECRET)
    assert "\n" not in message
    assert "AURUM_ENV=prod" in message
    assert "AURUM_JWT_ISSUER" in message and "AURUM_JWT_AUDIENCE" in message
    assert STRONG_SECRET not in message
    monkeypatch.setenv("AURUM_JWT_ISSUER", "https://idp.example")
    assert "AURUM_JWT_AUDIENCE" in _error(monkeypatch)


def test_prod_starts_with_issuer_and_audience_or_without_hs256_tokens() -> None:
    def prod(**values: object) -> Settings:
        return Settings(_env_file=None, env="prod", **values)  # type: ignore[arg-type, call-arg]

    assert prod(jwt_secret=STRONG_SECRET, jwt_issuer="aurum", jwt_audience="aurum-control")
    assert prod()  # no HS256 secret: no tokens are accepted, nothing to scope
    assert Settings(_env_file=None, env="dev", jwt_secret=STRONG_SECRET)  # type: ignore[call-arg]
