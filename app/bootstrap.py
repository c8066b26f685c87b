"""Everything that must hold before the app serves: dependencies found (or the embedded ones
started), reachable, and the schema migrated. Failures become `StartupError`, which the CLI
prints as one line naming the setting to fix, with exit code 1."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import redis as redis_sync

from app.db import migrate
from app.db.engine import libpq_url
from app.embedded.postgres import start_embedded_postgres
from app.embedded.redis import LOAD_TIMEOUT_SECONDS, start_embedded_redis, wait_until_loaded
from app.embedded.tansu import start_embedded_kafka
from app.messaging.replay import republish_to_empty_broker
from app.settings import Settings, settings_env_name

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A condition that stops the service at start; the message is for an operator."""


@dataclass(frozen=True)
class Dependencies:
    """Where the service's dependencies are, once resolved. `kafka_bootstrap_servers` None
    with `publish` true: no broker known yet (the suite's apps), rows still go to the outbox
    and wait; `publish` false: Kafka is off (AURUM_KAFKA_ENABLED=false), nothing is written
    to the outbox."""

    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str | None
    embedded: frozenset[str]
    publish: bool = True


# The service runs CPU-bound work in worker threads beside its event loop (a collection
# prepares batches and builds rows in them; validation runs there too). CPython hands the
# GIL from a running thread to a waiting one only every switch interval, 5 ms by default, so
# the event loop, woken by a database answer, waited up to that long at each await of a
# batch's writes while a worker held the interpreter, and PostgreSQL sat idle. Measured with
# bench/ingest_throughput (300,000 rows): about 47-51k rows/s collected at 5 ms, 53-59k at
# 1 ms, 62k at 0.5 ms.
SWITCH_INTERVAL_SECONDS = 0.0005


def tune_interpreter() -> None:
    """Process-wide interpreter settings for a process that collects (serve, the runner)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def redact(url: str) -> str:
    """A URL safe to print: the password is never shown."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    try:
        return start_embedded_postgres(settings.data_dir / "postgres")
    except Exception as exc:
        raise StartupError(
            f"{settings_env_name('database_url')} is not set and the embedded PostgreSQL could "
            f"not start ({exc}); set {settings_env_name('database_url')} to a reachable server"
        ) from exc


def resolve_redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    try:
        return start_embedded_redis(settings.data_dir / "redis", port=settings.embedded_redis_port)
    except Exception as exc:
        raise StartupError(
            f"{settings_env_name('redis_url')} is not set and the embedded Redis could not "
            f"start ({exc})"
        ) from exc


def resolve_kafka(settings: Settings, database_url: str) -> str | None:
    """The broker's bootstrap servers; None when Kafka is off. The embedded broker starts
    empty (it keeps its log in memory): the outbox's retained messages are published to it
    again (app/messaging/replay.py)."""
    if not settings.kafka_enabled:
        return None
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    try:
        servers, started = start_embedded_kafka(
            settings.data_dir / "kafka", port=settings.embedded_kafka_port
        )
    except Exception as exc:
        raise StartupError(
            f"{settings_env_name('kafka_bootstrap_servers')} is not set and the embedded Kafka "
            f"broker could not start ({exc}); set it to a reachable broker, or "
            f"{settings_env_name('kafka_enabled')}=false to run without Kafka"
        ) from exc
    if started:
        resent = republish_to_empty_broker(database_url)
        if resent:
            log.info("the embedded Kafka broker started empty: republishing %d outbox rows", resent)
    return servers


def check_database(url: str) -> None:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartupError(
            f"cannot connect to PostgreSQL at {settings_env_name('database_url')}="
            f"{redact(url)}: {reason}"
        ) from exc


def check_redis(url: str) -> None:
    """Reachable, and done loading its data: a Redis restarted moments ago answers LOADING to
    every command for as long as it reads its append-only file (bounded wait)."""
    try:
        wait_until_loaded(url, timeout=LOAD_TIMEOUT_SECONDS)
    except (redis_sync.RedisError, TimeoutError) as exc:
        raise StartupError(
            f"cannot connect to Redis at {settings_env_name('redis_url')}={redact(url)}: {exc}"
        ) from exc


def check_provider_config(settings: Settings) -> None:
    from app.providers.config import ProviderConfigError, load_provider_config

    try:
        load_provider_config(settings.provider_config_path)
    except ProviderConfigError as exc:
        raise StartupError(
            f"{exc} (set {settings_env_name('provider_config_path')} to use another file)"
        ) from exc


def check_expectation_suites(settings: Settings) -> None:
    from app.providers.config import load_provider_config
    from app.quality.suites import SuiteError, load_suites

    providers = [
        str(name) for name in load_provider_config(settings.provider_config_path).providers
    ]
    try:
        load_suites(settings.expectations_dir, providers)
    except SuiteError as exc:
        raise StartupError(
            f"{exc} (set {settings_env_name('expectations_dir')} to use another directory)"
        ) from exc


def prepare(settings: Settings, *, migrate_schema: bool | None = None) -> Dependencies:
    """Resolve, check and migrate; returns where everything is."""
    check_provider_config(settings)
    check_expectation_suites(settings)
    database_url = resolve_database_url(settings)
    check_database(database_url)
    redis_url = resolve_redis_url(settings)
    check_redis(redis_url)
    if settings.migrate_on_start if migrate_schema is None else migrate_schema:
        try:
            migrate.upgrade(database_url)
        except Exception as exc:
            raise StartupError(f"database migration failed: {exc}") from exc
    kafka = resolve_kafka(settings, database_url)
    embedded = frozenset(
        name
        for name, is_embedded in (
            ("postgres", settings.embedded_database),
            ("redis", settings.embedded_redis),
            ("kafka", settings.embedded_kafka),
        )
        if is_embedded
    )
    for name in sorted(embedded):
        log.info("using the embedded %s under %s", name, settings.data_dir, extra={"dep": name})
    return Dependencies(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka,
        embedded=embedded,
        publish=settings.kafka_enabled,
    )
