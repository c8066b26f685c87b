"""Jobs that talk to providers or the broker: ingest, bulk refresh, probe, outbox relay."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from datetime import date
from typing import Any

from app.db.models.ingest import is_dataset
from app.jobs.collect import (
    CollectionSummary,
    collect_provider,
    collection_allowed,
    collection_request,
    live_base_url,
)
from app.jobs.context import RunContext, RunCounters
from app.jobs.probing import probe_provider
from app.monitoring.metrics import EXTERNAL_DATA_LAST_SUCCESS
from app.providers.base import Batch
from app.providers.registry import collector_for
from app.resilience.client import GuardedClient
from app.resilience.pacing import PacedClient

log = logging.getLogger(__name__)

# A bulk refresh re-reads every configured series from its first observation; upserts keep
# unchanged values silent, so only revisions reach Kafka (on the bulk topic).
BULK_START = date(1900, 1, 1)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def ingest(ctx: RunContext, *, bulk: bool = False) -> RunCounters:
    resources = ctx.resources
    provider = ctx.definition.provider
    assert provider is not None
    collector = collector_for(provider)
    if collector is None:
        raise ValueError(f"no collector serves {provider}")
    runtime = resources.providers
    section = runtime.config.providers[provider]  # type: ignore[index]
    flags = resources.flags.snapshot  # read per run: a flag change applies to the next run
    if not collection_allowed(provider, section, flags):
        ctx.counters.skipped_reason = f"{provider} is disabled by the provider_enabled flag"
        return ctx.counters
    target = await ctx.targets.resolve(provider)
    base_url = target.base_url
    if target.mode == "live":
        base_url = live_base_url(provider, section, flags)  # its mirror under provider_fallback
    params = ctx.parameters
    start, end = _day(params.get("start")), _day(params.get("end"))
    if bulk:
        start = start or BULK_START
    mode = "mirror" if base_url != target.base_url else target.mode
    request = collection_request(
        provider, section, base_url=base_url, credential=target.credential,
        datasets=params.get("datasets") or None, start=start, end=end, flags=flags, mode=mode,
        publish=resources.dependencies.publish,
    )  # fmt: skip
    if bulk and "bulk" in section.kafka_topics:
        request = dataclasses.replace(request, topic=section.kafka_topics["bulk"])
    client: GuardedClient = runtime.client
    if ctx.trigger == "backfill":
        share = resources.settings.backfill_rate_share
        client = PacedClient(client, section.rate_limit.requests_per_second * share)
    progress = ctx.counters.progress
    marked: set[str] = set()
    for series_id in request.datasets:
        progress.setdefault(series_id, {"status": "pending", "rows": 0})

    def on_rows(batch: Batch) -> None:
        per_series = Counter(row.series_id for row in batch.rows)
        for series_id, rows in per_series.items():
            entry = progress.setdefault(series_id, {"status": "running", "rows": 0})
            entry["rows"] += rows
            entry["status"] = "running"
        for update in batch.checkpoints:
            progress.setdefault(update.series_id, {"rows": 0})["status"] = "done"

    def on_batch(summary: CollectionSummary) -> None:
        _copy(summary, ctx.counters)
        # The batch committed: its finished series are fresh as of now.
        for series_id, entry in progress.items():
            if entry.get("status") == "done" and series_id not in marked and is_dataset(series_id):
                marked.add(series_id)
                EXTERNAL_DATA_LAST_SUCCESS.labels(provider, series_id).set_to_current_time()
        ctx.checkpoint()  # stop here, after the batch committed, if asked to

    summary = CollectionSummary(provider=provider, run_id=str(ctx.run_id))
    try:
        await collect_provider(
            sessionmaker=resources.sessionmaker,
            collector=collector,
            client=client,
            request=request,
            tenant_id=resources.settings.tenant_id,
            run_id=ctx.run_id,
            on_batch=on_batch,
            on_rows=on_rows,
            summary=summary,
        )
    finally:  # a failed run records the requests it made too
        _copy(summary, ctx.counters)
    for series_id, entry in progress.items():
        if entry.get("status") in {"pending", "running"}:
            entry["status"] = "done"  # unchanged series cost no fetch: nothing left to do
        if series_id not in marked and is_dataset(series_id):  # checked and current: fresh
            EXTERNAL_DATA_LAST_SUCCESS.labels(provider, series_id).set_to_current_time()
    progress["_mode"] = mode
    if (ctx.counters.rows_new or ctx.counters.rows_changed) and ctx.stop_reason is None:
        await _validate(ctx, provider)
    return ctx.counters


async def _validate(ctx: RunContext, provider: str) -> None:
    """Validate what this run stored: its own rows and their neighbours (scope `run`), never
    the whole history, which the `quality.full_history` job covers. Its outcome is the
    validation result's, not the run's: a data problem must not fail (and eventually
    auto-pause) the collection."""
    from app.db.repositories.validation_results import RUN
    from app.quality.service import ValidationRunning, run_validation

    try:
        result_id = await run_validation(
            ctx.resources, provider, trigger="ingest", run_id=ctx.run_id, scope=RUN
        )
        ctx.counters.progress["_validation"] = str(result_id)
    except ValidationRunning:
        ctx.counters.progress["_validation"] = "already running"
    except Exception as exc:  # never let validation fail the collection
        log.warning("validation after ingest of %s failed to start: %s", provider, exc)


def _copy(summary: CollectionSummary, counters: RunCounters) -> None:
    counters.rows_new = summary.rows_new
    counters.rows_changed = summary.rows_changed
    counters.rows_rejected = summary.rows_rejected
    counters.requests_used = summary.requests


async def ingest_bulk(ctx: RunContext) -> RunCounters:
    return await ingest(ctx, bulk=True)


async def probe(ctx: RunContext) -> RunCounters:
    """Failures are expected while a provider is down: they feed its breaker and health, and
    must not page as job failures (app/jobs/probing.py)."""
    provider = ctx.definition.provider
    assert provider is not None
    await probe_provider(ctx.resources, ctx.targets, provider)
    return ctx.counters


async def relay(ctx: RunContext) -> RunCounters:
    """Drain the outbox: passes follow each other while full chunks go out."""
    if ctx.relay is None or not ctx.relay.enabled:
        return ctx.counters
    for _ in range(100):
        result = await ctx.relay.relay_once()
        if result.failed or result.sent < ctx.relay.chunk_size:
            break
    return ctx.counters
