"""The one Settings class. Nothing else in the service reads the environment.

Every field is read from an `AURUM_`-prefixed environment variable (or a `.env` file) and is
validated when the process starts: a bad value stops the service with a message naming the
variable (see `app.cli.errors.describe_settings_error`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "AURUM_"


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class JwtAlgorithm(StrEnum):
    HS256 = "HS256"
    RS256 = "RS256"
    ES256 = "ES256"


class RoleClaim(StrEnum):
    ROLE = "role"  # {"role": "operator"}
    SCOPE = "scope"  # {"scope": "aurum:operator other:scope"}


# Secrets that appear in tutorials and templates; a deployment using one is misconfigured.
_WELL_KNOWN_SECRETS = {"changethis", "changeme", "secret", "password", "your-secret-key"}
MIN_SECRET_LENGTH = 32


class ProviderMode(StrEnum):
    """Where collectors send requests. AUTO: a provider whose credential is unset uses the
    sandbox, and a provider that needs none (World Bank) uses it too when no credentialed
    provider has a key (a machine with no keys at all is a developer's); LIVE: always the
    real APIs; SANDBOX: always the sandbox."""

    AUTO = "auto"
    LIVE = "live"
    SANDBOX = "sandbox"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


# /ui/partials/: the dashboard's overview polls every 5 s (720 an hour per open page), so two
# pages per person fit a whole shift with room for reloads.
DEFAULT_RATE_LIMIT_RULES = {
    "/v1/external/": "500/hour",
    "/ui/partials/": "2000/hour;10/1 second",
}


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

    # Dependencies. Unset database/redis URLs and Kafka servers mean "start the embedded ones
    # under data_dir" (`aurum serve`). kafka_enabled=false turns Kafka off: no broker, and no
    # outbox rows are written.
    database_url: str | None = None
    # A streaming replica for reads that tolerate staleness (read API, health, SLA); unset:
    # every read goes to the primary. Lagging more than the max, or unreachable: the primary.
    database_read_url: str | None = None
    database_read_max_lag_seconds: float = Field(default=30.0, gt=0, le=3600)
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_enabled: bool = True
    data_dir: Path = Path(".data")
    embedded_redis_port: int = Field(default=6380, ge=1, le=65535)
    embedded_kafka_port: int = Field(default=9093, ge=1, le=65535)
    # Connect and reply timeout of the service's Redis client; a timed-out call is not retried.
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    # After a call got no answer (timeout or no connection), Redis calls fail at once for this
    # long before one tries again, so a stall costs a request one timeout, not one per call.
    redis_cooldown_seconds: float = Field(default=1.0, ge=0, le=60)
    # An admin read (GET) that has not started its answer by then answers 503 (0: no deadline).
    admin_read_deadline_seconds: float = Field(default=1.5, ge=0, le=300)
    # How long a request waits for PostgreSQL on an API-key lookup or a read-API page before
    # taking it as unavailable (the last verification, the stale page, or 503).
    db_request_timeout_seconds: float = Field(default=1.0, gt=0, le=60)

    db_pool_size: int = Field(default=10, ge=1, le=200)
    # The read API's own pool (app/db/read_pool.py): concurrent loads of one page share one
    # query, so a few connections serve many callers.
    read_pool_size: int = Field(default=4, ge=1, le=100)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    migrate_on_start: bool = True
    # Rows per Great Expectations batch when a validation reads more than that (a large
    # ingest run, or the full-history job's chunks): bounds the validation's memory.
    validation_chunk_rows: int = Field(default=50_000, ge=100, le=5_000_000)

    # Probes.
    ready_check_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    # Authentication. JWT algorithms are pinned: exactly one is accepted.
    jwt_algorithm: JwtAlgorithm = JwtAlgorithm.HS256
    jwt_secret: SecretStr | None = None
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwt_role_claim: RoleClaim = RoleClaim.ROLE
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # While PostgreSQL does not answer, a key verified within this long still authenticates.
    api_key_outage_grace_seconds: float = Field(default=300.0, ge=0, le=86_400)
    metrics_bearer_token: SecretStr | None = None
    # The dashboard's (/ui) signed session cookie: its lifetime, and the key that signs it
    # (unset: derived from AURUM_JWT_SECRET; with neither, a per-process key, so sessions
    # last until the process restarts and only work with a single replica).
    ui_session_seconds: int = Field(default=28_800, ge=60, le=7 * 86_400)
    ui_session_secret: SecretStr | None = None

    # Providers. Credentials are named by `credential_setting` in the provider file.
    provider_config_path: Path = Path("config/external_providers.yml")
    provider_mode: ProviderMode = ProviderMode.AUTO
    # In sandbox mode the service itself collects at start and then this often (0: never).
    sandbox_collect_interval_seconds: int = Field(default=300, ge=0, le=86_400)
    # Data validation: one Great Expectations suite per provider plus the shared one.
    expectations_dir: Path = Path("config/expectations")
    fred_api_key: SecretStr | None = None
    eia_api_key: SecretStr | None = None
    noaa_token: SecretStr | None = None

    # The embedded scheduler: one leader across replicas (a PostgreSQL advisory lock).
    scheduler_enabled: bool = True
    # Followers try the lock this often; a dead leader's lock frees at once (its connection
    # closes) or, if its host vanished, within the keepalive window below.
    leader_poll_seconds: float = Field(default=2.0, ge=0.1, le=5)
    leader_keepalive_seconds: int = Field(default=6, ge=1, le=60)
    scheduler_misfire_grace_seconds: int = Field(default=600, ge=60, le=86_400)
    scheduler_sync_seconds: float = Field(default=1.0, ge=0.05, le=10)
    # A running run writes its heartbeat this often; one silent for `run_stale_after_seconds`
    # is abandoned by the leader (app.jobs.recovery).
    run_heartbeat_seconds: float = Field(default=10.0, ge=0.1, le=300)
    run_stale_after_seconds: float = Field(default=45.0, ge=0.5, le=86_400)
    job_auto_pause_failures: int = Field(default=5, ge=1, le=100)
    # On SIGTERM running jobs get this long to reach a batch boundary (keep it under the pod's
    # terminationGracePeriodSeconds).
    shutdown_grace_seconds: float = Field(default=25.0, ge=0, le=600)
    backfill_max_days: int = Field(default=1826, ge=1, le=36_600)
    # Share of a provider's request rate a backfill may use, leaving the rest to live runs.
    backfill_rate_share: float = Field(default=0.5, gt=0, le=1)
    # Partition DDL (maintenance.partitions, retention's DROPs) waits at most this long for
    # its lock on the observations table: a DDL queued behind a long query queues every later
    # query behind itself, so it gives up and the next run retries.
    partition_lock_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    # Logging.
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON
    access_log: bool = True

    # Inbound rate limiting and HTTP hardening.
    # Limits use slowapi's syntax; all limits in one string are enforced together, so the
    # runbooks' "100 per 60 s with burst 20" is 100 per 60 seconds AND 20 per 1 second.
    rate_limit_enabled: bool = True
    rate_limit_default: str = "100/60 seconds;20/1 second"
    # AURUM_RATE_LIMIT_RULES is merged over these (a prefix set to null drops its rule), so
    # giving the read API its own limit keeps the dashboard's.
    rate_limit_rules: Annotated[dict[str, str], NoDecode] = dict(DEFAULT_RATE_LIMIT_RULES)
    rate_limit_exempt_paths: Annotated[list[str], NoDecode] = ["/health", "/ready", "/metrics"]
    rate_limit_exempt_principals: Annotated[list[str], NoDecode] = []
    rate_limit_exempt_cidrs: Annotated[list[str], NoDecode] = []
    # Unset: the service's Redis. `memory://` counts per process (a single replica only).
    rate_limit_storage_url: str | None = None
    rate_limit_storage_timeout_seconds: float = Field(default=0.25, gt=0, le=5)
    rate_limit_key_prefix: str = Field(default="aurum:rl", min_length=1, max_length=64)
    # While Redis is unreachable each replica allows 1/N of every limit.
    rate_limit_replicas: int = Field(default=1, ge=1, le=1000)
    trusted_proxy_cidrs: Annotated[list[str], NoDecode] = []
    cors_allow_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=1_048_576, ge=1, le=1_073_741_824)
    # /openapi.json, /docs and /redoc (unset: on, except with AURUM_ENV=prod).
    api_docs_enabled: bool | None = None
    # The request line and headers together (431 past it, while they are being read).
    max_header_bytes: int = Field(default=65_536, ge=1_024, le=16_777_216)

    # Runtime flags: every replica reconciles its in-memory copy from PostgreSQL this often
    # (pub/sub drops messages), and counts as live while it did so within the TTL.
    flags_reconcile_seconds: float = Field(default=3.0, ge=0.1, le=300)
    flags_replica_ttl_seconds: float = Field(default=15.0, ge=1, le=3600)
    # How long a write with ?wait=true waits for every live replica to apply it.
    flags_wait_seconds: float = Field(default=2.0, gt=0, le=30)
    # The read API's cache keeps a stale copy this long, served when PostgreSQL fails.
    read_cache_stale_seconds: int = Field(default=604_800, ge=1, le=31_536_000)
    # Fresh pages each replica also keeps in memory (LRU; 0: Redis only).
    read_cache_local_entries: int = Field(default=1024, ge=0, le=1_000_000)
    # Each replica computes a health or SLA view at most once per this interval and serves it
    # to every reader meanwhile (a change made through the replica invalidates it; 0: off).
    health_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # Every replica re-reads the gauges kept in PostgreSQL and Redis (outbox backlog, pauses,
    # last success per dataset, quality, cost) this often.
    metrics_refresh_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator(
        "rate_limit_exempt_paths",
        "rate_limit_exempt_principals",
        "rate_limit_exempt_cidrs",
        "trusted_proxy_cidrs",
        "cors_allow_origins",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @staticmethod
    def _check_limits(text: str) -> None:
        try:
            items = parse_many(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a rate limit such as '100/60 seconds;20/1 second' or '500/hour'"
            ) from None
        if any(item.amount < 1 for item in items):
            raise ValueError(f"{text!r}: every limit must allow at least 1 request")

    @field_validator("rate_limit_default")
    @classmethod
    def _default_limit(cls, value: str) -> str:
        cls._check_limits(value)
        return value

    @field_validator("rate_limit_rules", mode="before")
    @classmethod
    def _rules_json(cls, value: Any) -> Any:
        """The environment's JSON, merged over the shipped rules; `null` drops one."""
        if not isinstance(value, str):
            return value
        try:
            given = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            given = None
        if not isinstance(given, dict):
            raise ValueError(
                'must be a JSON object of path prefix to limit, e.g. {"/v1/external/": '
                '"500/hour"}; it is merged over the shipped rules, and null drops one'
            )
        merged = {**DEFAULT_RATE_LIMIT_RULES, **given}
        return {prefix: text for prefix, text in merged.items() if text is not None}

    @field_validator("rate_limit_rules")
    @classmethod
    def _rules(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, text in value.items():
            if not prefix.startswith("/"):
                raise ValueError(f"path prefix {prefix!r} must start with '/'")
            cls._check_limits(text)
        return value

    @field_validator("rate_limit_exempt_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"path {path!r} must start with '/'")
        return value

    @field_validator("rate_limit_exempt_cidrs", "trusted_proxy_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"{cidr!r} is not an IP address or CIDR such as 10.0.0.0/8"
                ) from None
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _limiter_storage_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.split("://", 1)[0].lower() not in {"redis", "rediss", "unix", "memory"}:
            raise ValueError("must be a Redis URL such as redis://127.0.0.1:6379/0, or memory://")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            origin = origin.rstrip("/")
            scheme, _, host = origin.partition("://")
            if origin != "*" and (scheme not in {"http", "https"} or not host or "/" in host):
                raise ValueError(
                    f"origin {origin!r} must be scheme://host[:port] such as "
                    "https://console.example.com, or *"
                )
            origins.append(origin)
        return origins

    @field_validator("database_url", "database_read_url")
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

    @model_validator(mode="after")
    def _runs_outlive_missed_heartbeats(self) -> Settings:
        if self.run_stale_after_seconds < 3 * self.run_heartbeat_seconds:
            raise ValueError(
                "AURUM_RUN_STALE_AFTER_SECONDS must be at least 3 x AURUM_RUN_HEARTBEAT_SECONDS "
                "(a live run would be abandoned after two late heartbeats)"
            )
        return self

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

    @field_validator("jwt_secret", "metrics_bearer_token", "ui_session_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        secret = value.get_secret_value()
        if secret.lower() in _WELL_KNOWN_SECRETS or len(set(secret)) < 8:
            raise ValueError("is a default or trivially guessable value; generate a random one")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _jwt_key_matches_algorithm(self) -> Settings:
        asymmetric = self.jwt_algorithm is not JwtAlgorithm.HS256
        if asymmetric and not (self.jwt_public_key_file or self.jwt_jwks_file):
            raise ValueError(
                f"AURUM_JWT_ALGORITHM={self.jwt_algorithm.value} needs "
                "AURUM_JWT_PUBLIC_KEY_FILE or AURUM_JWT_JWKS_FILE"
            )
        for path in (self.jwt_public_key_file, self.jwt_jwks_file):
            if path is not None and not path.is_file():
                raise ValueError(f"JWT key file {path} does not exist")
        return self

    @model_validator(mode="after")
    def _prod_tokens_are_scoped(self) -> Settings:
        """A shared HS256 secret is easily reused by another service's tokens; in prod the
        tokens must name this service's issuer and audience."""
        hs256 = self.jwt_algorithm is JwtAlgorithm.HS256 and self.jwt_secret is not None
        missing = [
            settings_env_name(name)
            for name in ("jwt_issuer", "jwt_audience")
            if not getattr(self, name)
        ]
        if self.env is Environment.PROD and hs256 and missing:
            raise ValueError(
                "AURUM_ENV=prod with AURUM_JWT_ALGORITHM=HS256 and AURUM_JWT_SECRET needs "
                f"{' and '.join(missing)} set (the tokens' iss and aud)"
            )
        return self

    @property
    def api_docs(self) -> bool:
        """Whether the API documentation routes are served."""
        if self.api_docs_enabled is not None:
            return self.api_docs_enabled
        return self.env is not Environment.PROD

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    def read_database_url(self, primary_url: str) -> str:
        """The one place that says where staleness-tolerant reads go: the replica when
        AURUM_DATABASE_READ_URL is set, else the primary (`primary_url`, maybe embedded)."""
        return self.database_read_url or primary_url

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_enabled and not self.kafka_bootstrap_servers


def settings_env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own `Settings(...)` instead)."""
    return Settings()
