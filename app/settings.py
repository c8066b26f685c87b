"""The one Settings class. Nothing else in the service reads the environment.

Every field is read from an `AURUM_`-prefixed environment variable (or a `.env` file) and is
validated when the process starts: a bad value stops the service with a message naming the
variable (see `app.cli.errors.describe_settings_error`).
"""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "AURUM_"


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Service configuration; see the README's settings table for each variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = Environment.DEV
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    replica_id: str = Field(default_factory=_default_replica_id, min_length=1, max_length=128)
    tenant_id: str = Field(default="default", min_length=1, max_length=64)

    # Dependencies. Unset database/redis URLs mean "start the embedded ones under data_dir".
    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    data_dir: Path = Path(".data")
    embedded_redis_port: int = Field(default=6380, ge=1, le=65535)

    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    migrate_on_start: bool = True

    # Probes.
    ready_check_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    # Logging.
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON
    access_log: bool = True

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split("://", 1)[0].lower()
        if scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
            raise ValueError(
                "must be a PostgreSQL URL such as postgresql://user@127.0.0.1:5432/aurum"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.split("://", 1)[0].lower() not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a Redis URL such as redis://127.0.0.1:6379/0")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _empty_kafka_is_off(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


def settings_env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own `Settings(...)` instead)."""
    return Settings()
