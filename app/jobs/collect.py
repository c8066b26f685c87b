"""One collection of one provider: checkpoints in, collector batches through the ingest
pipeline, one transaction per batch, the catalog entries of the series it touched in the
same transaction (app/jobs/catalog.py). The runner and the scheduled `ingest.<provider>` jobs
both run this, so a hand run and a scheduled run take the same path."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import checkpoints as checkpoint_repo
from app.db.repositories import recoveries
from app.ingest.batching import effective_batch_size
from app.ingest.pipeline import PreparedBatch, prepare_batch, write_prepared
from app.jobs import catalog
from app.providers.base import Batch, CollectContext, Collector, SeriesState
from app.providers.config import ProviderSection
from app.resilience.client import GuardedClient
from app.runtime_config.snapshot import FlagSnapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

# How far the collector may run ahead of the writes, in rows: one page of the largest page
# cap (FRED's 100,000), so the next series' page is fetched while this one's batches write.
FETCH_AHEAD_ROWS = 100_000


@dataclass
class CollectionSummary:
    provider: str
    run_id: str
    series_checked: int = 0
    skipped_unchanged: int = 0
    series_fetched: int = 0
    requests: int = 0
    rows_new: int = 0
    rows_changed: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CollectionRequest:
    provider: str
    base_url: str
    credential: str | None
    datasets: list[str]
    topic: str
    dlq_topic: str
    batch_size: int
    start: date | None = None
    end: date | None = None
    publish: bool = True  # write outbox rows (false: Kafka is off)
    display_name: str = ""
    mode: str = "live"  # live | sandbox | mirror: recorded in the provider catalog
    # Every series the provider file lists is in `datasets`: only such a run consumes a
    # pending recovery (a run of some series re-reads theirs and leaves the marker).
    all_series: bool = True


def collection_request(
    provider: str,
    section: ProviderSection,
    *,
    base_url: str,
    credential: str,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    flags: FlagSnapshot | None = None,
    publish: bool = True,
    mode: str = "live",
) -> CollectionRequest:
    """A request from the provider file's section (its datasets, topics and batch size); the
    `external_ingest` flag, while enabled, overrides the batch size."""
    topics = section.kafka_topics
    return CollectionRequest(
        provider=provider,
        base_url=base_url,
        credential=credential,
        datasets=datasets or section.series_ids,
        topic=topics.get("series", f"aurum.ref.{provider}.series.v1"),
        dlq_topic=topics.get("dlq", f"aurum.ref.{provider}.series.dlq.v1"),
        batch_size=effective_batch_size(
            section.ingest.batch_size, flags.configuration("external_ingest") if flags else None
        ),
        start=start,
        end=end,
        publish=publish,
        display_name=section.display_name,
        mode=mode,
        all_series=not datasets or set(section.series_ids) <= set(datasets),
    )


def collection_allowed(provider: str, section: ProviderSection, flags: FlagSnapshot | None) -> bool:
    """The provider file's `enabled`, unless the `provider_enabled` flag names the provider.
    A skipped provider is logged: an operator looking for missing data finds why."""
    allowed = section.enabled
    if flags is not None:
        allowed = flags.for_provider("provider_enabled", provider, section.enabled)
    if not allowed:
        log.warning(
            "collection of %s skipped: disabled by the provider_enabled flag or the provider file",
            provider,
            extra={"provider": provider},
        )
    return allowed


def live_base_url(provider: str, section: ProviderSection, flags: FlagSnapshot | None) -> str:
    """The provider's API, or its mirror while the `provider_fallback` flag is on for it."""
    if flags is None or not flags.for_provider("provider_fallback", provider, False):
        return section.base_url
    if section.mirror_url is None:
        log.warning(
            "provider_fallback is on for %s but the provider file has no mirror_url; "
            "collecting from its API",
            provider,
        )
        return section.base_url
    log.info("collecting %s from its mirror %s (provider_fallback)", provider, section.mirror_url)
    return section.mirror_url


async def load_states(
    session: AsyncSession, *, tenant_id: str, provider: str
) -> dict[str, SeriesState]:
    rows = await checkpoint_repo.for_provider(session, tenant_id=tenant_id, provider=provider)
    return {
        row.series_id: SeriesState(
            series_id=row.series_id,
            last_obs_date=row.last_obs_date,
            provider_last_updated=row.provider_last_updated,
            cursor=dict(row.cursor or {}),
        )
        for row in rows
    }


async def collect_provider(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    collector: Collector,
    client: GuardedClient,
    request: CollectionRequest,
    tenant_id: str,
    run_id: uuid.UUID | None = None,
    on_batch: Callable[[CollectionSummary], None] | None = None,
    on_rows: Callable[[Batch], None] | None = None,
    summary: CollectionSummary | None = None,
) -> CollectionSummary:
    """Collect what changed (or the backfill window) and store it. A batch that fails rolls
    back alone and stops the run: its checkpoint does not move, so the next run re-fetches
    from there; batches already committed stay (upserts make re-fetching them harmless).
    The next batches are fetched, parsed, checked and formatted (`prepare_batch`) while the
    previous one is written (`fetched_ahead`); batches are still written, and committed, one
    at a time and in order. Pass `summary` to read the counts of a collection that raised
    (the requests it made count every attempt, failed ones too)."""
    run_id = run_id or uuid.uuid4()
    summary = summary or CollectionSummary(provider=request.provider, run_id=str(run_id))
    summary.run_id = str(run_id)
    windowed = request.start is not None or request.end is not None
    async with sessionmaker() as session:
        states = await load_states(session, tenant_id=tenant_id, provider=request.provider)
        recovery = None if windowed else await recoveries.pending(session, request.provider)
    async with sessionmaker() as session, session.begin():
        await catalog.start(
            session, tenant_id=tenant_id, provider=request.provider,
            display_name=request.display_name, mode=request.mode, base_url=request.base_url,
            tracked=request.datasets, states=states,
        )  # fmt: skip
    tracked = set(request.datasets)
    ctx = CollectContext(
        client=client,
        base_url=request.base_url,
        credential=request.credential,
        datasets=request.datasets,
        states=states,
        now=datetime.now(UTC),
        batch_size=request.batch_size,
        start=request.start,
        end=request.end,
        revisit=recovery is not None,
    )
    if recovery is not None:
        log.info(
            "%s recovered at %s: re-reading every series' revision window",
            request.provider, recovery.marked_at.isoformat(),
            extra={"provider": request.provider, "recovery": recovery.reason},
        )  # fmt: skip
    attempts_before = client.attempts.get(request.provider, 0)
    batches = _prepared(collector.collect(ctx), request, tenant_id, run_id)
    try:
        ahead = max(1, FETCH_AHEAD_ROWS // max(1, request.batch_size))
        async with contextlib.aclosing(fetched_ahead(batches, ahead)) as ready:
            async for batch, prepared in ready:
                async with sessionmaker() as session, session.begin():
                    result = await write_prepared(session, prepared)
                    await catalog.record(
                        session, tenant_id=tenant_id, provider=request.provider,
                        batch=batch, tracked=tracked,
                    )  # fmt: skip
                summary.batches += 1
                if on_rows is not None:
                    on_rows(batch)
                summary.rows_new += result.new
                summary.rows_changed += result.changed
                summary.rows_unchanged += result.unchanged
                summary.rows_rejected += result.rejected
                summary.requests = client.attempts.get(request.provider, 0) - attempts_before
                if on_batch is not None:
                    on_batch(summary)
        if recovery is not None and request.all_series:
            async with sessionmaker() as session, session.begin():
                await recoveries.consume(
                    session, request.provider, marked_at=recovery.marked_at
                )  # fmt: skip
    finally:
        summary.series_checked = ctx.stats.series_checked
        summary.skipped_unchanged = ctx.stats.skipped_unchanged
        summary.series_fetched = ctx.stats.series_fetched
        summary.requests = client.attempts.get(request.provider, 0) - attempts_before
        log.info("collection of %s finished", request.provider, extra=summary.as_dict())
    return summary


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error


_END = object()


async def _prepared(
    batches: AsyncIterator[Batch], request: CollectionRequest, tenant_id: str, run_id: uuid.UUID
) -> AsyncIterator[tuple[Batch, PreparedBatch]]:
    """Each batch with its checks done and its writes formatted; a malformed one raises here,
    and reaches the writer after the batches before it. Preparing runs in a worker thread:
    run on the event loop, a batch's 15-25 ms of Python held up the writer whose answer from
    PostgreSQL had arrived meanwhile, and PostgreSQL waited; from a thread the interpreter
    switches to the writer within its switch interval (0.5 ms in `aurum serve` and the
    runner: app.bootstrap.tune_interpreter)."""
    async for batch in batches:
        prepared = await asyncio.to_thread(
            functools.partial(
                prepare_batch,
                tenant_id=tenant_id,
                provider=request.provider,
                rows=batch.rows,
                run_id=run_id,
                checkpoints=batch.checkpoints,
                topic=request.topic,
                dlq_topic=request.dlq_topic,
                publish=request.publish,
            )
        )
        yield batch, prepared


async def fetched_ahead(items: AsyncIterator[T], depth: int) -> AsyncGenerator[T, None]:
    """`items`, produced by a task that runs up to `depth` items ahead of the consumer.

    Fetching, parsing and preparing a batch is Python work in this process; writing one is
    mostly PostgreSQL's work in its own process. Run one after the other, each waits for the
    other (bench/ingest_throughput); here the collector prepares batch n+1 while batch n is
    being written. The producer hands the event loop back after every item, so the writer
    resumes soon after PostgreSQL answers. Order is kept, an error of the collector reaches
    the consumer after the items before it, and when the consumer stops (an error, a
    cancelled run) the producer is cancelled: nothing it fetched ahead is written.
    """
    queue: asyncio.Queue[T | _Failed | object] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            async for item in items:
                await queue.put(item)
                await asyncio.sleep(0)  # let a writer whose answer arrived go first
        except Exception as exc:  # handed to the consumer, in order
            await queue.put(_Failed(exc))
        else:
            await queue.put(_END)

    producer = asyncio.create_task(produce(), name="collect-fetch-ahead")
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
