"""`python -m app.runner`: run collectors by hand, the same code path as the scheduled jobs.

    python -m app.runner --providers fred,eia,noaa,worldbank --loop --interval 3600
    python -m app.runner --providers fred --catalog-only --log-level DEBUG
    python -m app.runner --providers fred --datasets DEXUSEU --start 2024-09-23 --end 2024-09-23

A provider whose credential is not set is collected from the provider sandbox, started in
this process, and the run says so loudly. Exit code 1 when any provider failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import click
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bootstrap import (
    StartupError,
    check_provider_config,
    check_redis,
    resolve_redis_url,
    tune_interpreter,
)
from app.cli.database import database_url_for_commands
from app.cli.output import fail
from app.cli.settings_loader import load_settings
from app.db.engine import build_engine, build_sessionmaker
from app.db.models import RunStatus
from app.db.repositories import catalog as catalog_repo
from app.db.repositories import runs as run_repo
from app.jobs.collect import (
    CollectionRequest,
    CollectionSummary,
    collect_provider,
    collection_allowed,
    collection_request,
    live_base_url,
)
from app.jobs.context import RunCounters, RunStopped
from app.jobs.run_records import keep_alive, record_outcome
from app.observability.logging import configure_logging
from app.providers.base import CollectContext, Collector, DatasetInfo
from app.providers.config import (
    PROVIDER_NAMES,
    ProviderSection,
)
from app.providers.mode import credentials as provider_credentials
from app.providers.mode import sandboxed
from app.providers.registry import collector_for
from app.resilience.client import GuardedClient
from app.resilience.errors import ProviderCallError
from app.resilience.runtime import start_providers
from app.runtime_config.propagation import load_snapshot
from app.runtime_config.snapshot import FlagSnapshot
from app.settings import Settings

log = logging.getLogger("aurum.runner")
# The replica a hand run is recorded under.
RUNNER_REPLICA = f"runner@{socket.gethostname()}"[:128]
Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class RunOptions:
    providers: list[str]
    datasets: list[str] | None
    start: date | None
    end: date | None
    catalog_only: bool
    database_url: str
    redis_url: str


class Progress:
    """One updating line per provider on a terminal; nothing extra otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def update(self, summary: CollectionSummary) -> None:
        if self.tty:
            sys.stderr.write(
                f"\r  {summary.provider:<10} batches {summary.batches:>5}"
                f"  new {summary.rows_new:>8}  changed {summary.rows_changed:>7}"
                f"  rejected {summary.rows_rejected:>5}"
            )
            sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


async def _run_once(settings: Settings, options: RunOptions) -> bool:
    engine = build_engine(settings, options.database_url)
    sessionmaker = build_sessionmaker(engine)
    redis = Redis.from_url(options.redis_url, decode_responses=True)
    # The service's own provider runtime: the same guards, with operators' stored overrides.
    runtime = await start_providers(settings, redis, sessionmaker, user_agent="aurum-runner")
    config, client = runtime.config, runtime.client
    # The flags as PostgreSQL holds them now; a run is short, so it does not follow changes.
    flags = await load_snapshot(sessionmaker)
    runtime.set_adaptive_switch(
        lambda provider: flags.for_provider("adaptive_rate_limiting", provider, True)
    )
    sandbox = None
    ok = True
    try:
        sections = {p: config.providers[p] for p in options.providers}  # type: ignore[index]
        credentials = provider_credentials(settings, config, list(sections))
        in_sandbox = sandboxed(settings, credentials)
        if in_sandbox:
            from app.sandbox.server import SandboxServer

            sandbox = SandboxServer().start()
            log.warning(
                "SANDBOX MODE for %s (AURUM_PROVIDER_MODE=%s): collecting generated data from %s",
                ", ".join(sorted(in_sandbox)),
                settings.provider_mode.value,
                sandbox.url,
            )
        for provider, section in sections.items():
            if not collection_allowed(provider, section, flags):
                click.echo(f"{provider}: skipped: disabled (provider_enabled flag or file)")
                continue
            credential = credentials[provider]
            base_url = live_base_url(provider, section, flags)
            if provider in in_sandbox and sandbox is not None:
                base_url = sandbox.base_urls()[provider]
                credential = None
            ok &= await _run_provider(
                settings, provider, section, client, sessionmaker, options,
                base_url=base_url, credential=credential, flags=flags,
            )  # fmt: skip
    finally:
        if sandbox is not None:
            sandbox.stop()
        await runtime.aclose()
        await redis.aclose()
        await engine.dispose()
    return ok


async def _run_provider(
    settings: Settings,
    provider: str,
    section: ProviderSection,
    client: GuardedClient,
    sessionmaker: Sessions,
    options: RunOptions,
    *,
    base_url: str,
    credential: str | None,
    flags: FlagSnapshot,
) -> bool:
    collector = collector_for(provider)
    if collector is None:
        click.echo(f"{provider}: FAILED: no collector serves {provider}")
        return False
    mode = "sandbox" if credential is None else "live"
    request = collection_request(
        provider, section, base_url=base_url, credential=credential or "sandbox",
        datasets=options.datasets, start=options.start, end=options.end, flags=flags, mode=mode,
        publish=settings.kafka_enabled,
    )  # fmt: skip
    started = time.monotonic()
    try:
        if options.catalog_only:
            return await _catalog(collector, client, sessionmaker, request, section, mode)
        summary = await _collect(settings, collector, client, sessionmaker, request, options)
    except (ProviderCallError, ValueError) as exc:
        click.echo(f"{provider}: FAILED after {time.monotonic() - started:.1f}s: {exc}")
        return False
    click.echo(
        f"{provider}: {summary.series_checked} series checked, {summary.skipped_unchanged} "
        f"unchanged, {summary.requests} requests, rows {summary.rows_new} new, "
        f"{summary.rows_changed} changed, {summary.rows_rejected} rejected "
        f"({mode}, {time.monotonic() - started:.1f}s)"
    )
    return True


async def _collect(
    settings: Settings,
    collector: Collector,
    client: GuardedClient,
    sessionmaker: Sessions,
    request: CollectionRequest,
    options: RunOptions,
) -> CollectionSummary:
    """One collection, recorded as a manual run of `ingest.<provider>` by `runner@<host>`
    through the same run-record code as the leader's runs: it shows in `/runs` and health,
    keeps a heartbeat (a killed runner's run is abandoned), and counts failed requests."""
    provider = request.provider
    parameters: dict[str, Any] = {"datasets": options.datasets} if options.datasets else {}
    for key, day in (("start", options.start), ("end", options.end)):
        if day is not None:
            parameters[key] = day.isoformat()
    async with sessionmaker() as session, session.begin():
        run_id = await run_repo.start_manual(
            session, job_id=f"ingest.{provider}", provider=provider,
            replica=RUNNER_REPLICA, parameters=parameters,
        )  # fmt: skip
    summary = CollectionSummary(provider=provider, run_id=str(run_id))
    counters = RunCounters()
    stop: list[str] = []
    progress = Progress()

    def on_batch(done: CollectionSummary) -> None:
        progress.update(done)
        _count(done, counters)
        if stop:  # after the batch committed, as a scheduled run stops
            raise RunStopped(stop[0])

    every = settings.run_heartbeat_seconds
    beat = asyncio.create_task(
        keep_alive(sessionmaker, run_id, every=every, counters=counters, on_stop=stop.append)
    )
    status: RunStatus = RunStatus.FAILED
    error: str | None = "interrupted"
    try:
        await collect_provider(
            sessionmaker=sessionmaker, collector=collector, client=client, request=request,
            tenant_id=settings.tenant_id, run_id=run_id, on_batch=on_batch, summary=summary,
        )  # fmt: skip
        status, error = RunStatus.SUCCEEDED, None
    except RunStopped as stopped:
        status, error = RunStatus.CANCELLED, str(stopped)
    except asyncio.CancelledError:
        status, error = RunStatus.CANCELLED, "interrupted (Ctrl-C)"
        raise
    except Exception as exc:
        status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        progress.done()
        beat.cancel()
        _count(summary, counters)
        await asyncio.shield(_record(sessionmaker, run_id, status, error, counters))
    return summary


def _count(summary: CollectionSummary, counters: RunCounters) -> None:
    counters.rows_new = summary.rows_new
    counters.rows_changed = summary.rows_changed
    counters.rows_rejected = summary.rows_rejected
    counters.requests_used = summary.requests


async def _record(
    sessionmaker: Sessions,
    run_id: uuid.UUID,
    status: RunStatus,
    error: str | None,
    counters: RunCounters,
) -> None:
    async with sessionmaker() as session, session.begin():
        await record_outcome(session, run_id, status=status, error=error, counters=counters)


async def _catalog(
    collector: Collector,
    client: GuardedClient,
    sessionmaker: Sessions,
    request: CollectionRequest,
    section: ProviderSection,
    mode: str,
) -> bool:
    ctx = CollectContext(
        client=client,
        base_url=request.base_url,
        credential=request.credential,
        datasets=request.datasets,
        states={},
        now=datetime.now(UTC),
    )
    found = await collector.catalog(ctx)
    async with sessionmaker() as session, session.begin():
        await catalog_repo.upsert_provider(
            session,
            name=request.provider,
            display_name=section.display_name,
            enabled=section.enabled,
            mode=mode,
            base_url=request.base_url,
        )
        rows = [_dataset_row(request.provider, info) for info in found]
        await catalog_repo.upsert_datasets(session, rows)
    requests = client.attempts[request.provider]
    click.echo(f"{request.provider}: catalog: {len(found)} datasets ({mode}, {requests} requests)")
    return True


def _dataset_row(provider: str, info: DatasetInfo) -> dict[str, Any]:
    return {
        "provider": provider,
        "series_id": info.series_id,
        "title": info.title[:1024],
        "units": info.units,
        "frequency": info.frequency,
        "seasonal_adjustment": info.seasonal_adjustment,
        "provider_last_updated": info.provider_last_updated,
        "observation_start": info.observation_start,
        "observation_end": info.observation_end,
        "attributes": info.attributes,
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--providers", default=",".join(PROVIDER_NAMES), show_default=True)
@click.option("--datasets", default=None, help="Comma-separated series ids (default: the file's).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Backfill from.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Backfill to.")
@click.option("--catalog-only", is_flag=True, help="Fill the dataset catalog; fetch no data.")
@click.option("--loop", is_flag=True, help="Run again every --interval seconds until Ctrl-C.")
@click.option("--interval", type=click.IntRange(10, 86_400), default=3600, show_default=True)
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR.")
def main(
    providers: str,
    datasets: str | None,
    start: datetime | None,
    end: datetime | None,
    catalog_only: bool,
    loop: bool,
    interval: int,
    log_level: str | None,
) -> None:
    """Collect from providers into PostgreSQL (and the Kafka outbox)."""
    settings = load_settings(**({"log_level": log_level} if log_level else {}))
    configure_logging(settings)
    tune_interpreter()
    chosen = [p.strip() for p in providers.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PROVIDER_NAMES))
    if unknown:
        fail(f"--providers: unknown {', '.join(unknown)}; known: {', '.join(PROVIDER_NAMES)}")
    if start and end and start > end:
        fail("--start must not be after --end")
    try:
        check_provider_config(settings)
        database_url = database_url_for_commands(settings)
        redis_url = resolve_redis_url(settings)
        check_redis(redis_url)
    except (StartupError, ValueError) as exc:
        fail(str(exc))
    options = RunOptions(
        providers=chosen,
        datasets=[d.strip() for d in datasets.split(",")] if datasets else None,
        start=start.date() if start else None,
        end=end.date() if end else None,
        catalog_only=catalog_only,
        database_url=database_url,
        redis_url=redis_url,
    )
    ok = True
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            ok = asyncio.run(_run_once(settings, options))
            if not loop:
                break
            time.sleep(interval)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
