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
