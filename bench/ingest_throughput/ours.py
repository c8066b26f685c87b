"""Our path, timed: `collect_provider` for FRED over BULK series served by the sandbox (fetch,
parse, check, COPY to staging, upsert with outbox, checkpoints), then the `OutboxRelay`
draining every outbox row to the Kafka-protocol broker."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass

import httpx
from confluent_kafka.admin import AdminClient, NewTopic
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.bootstrap import tune_interpreter
from app.db.engine import async_url, build_sessionmaker
from app.jobs.collect import CollectionRequest, CollectionSummary, collect_provider
from app.messaging.outbox_relay import OutboxRelay
from app.messaging.producer import producer_config
from app.providers.fred import FredCollector
from app.resilience.client import GuardedClient
from app.resilience.config import RateConfig, ResilienceConfig
from app.resilience.guards import ProviderGuards

TOPIC = "aurum.ref.fred.series.v1"
DLQ_TOPIC = "aurum.ref.fred.series.dlq.v1"
BULK_LONGEST = 77_000  # BULK{n} ends today for n up to ~80,000 (app/sandbox/store.py)
STALLED_PASSES = 20  # relay passes in a row that sent nothing before the bench gives up


def progress(message: str) -> None:
    print(f"[ingest_throughput] {message}", file=sys.stderr, flush=True)


class BenchFailed(RuntimeError):
    """A phase did not do what the benchmark needs; the message says what."""


def bulk_series(rows: int) -> list[str]:
    """Distinct BULK series ids totalling exactly `rows` daily observations, none in the future:
    BULK77000, BULK76999, ... and a last one holding the remainder."""
    series, left, n = [], rows, BULK_LONGEST
    while left > 0:
        take = min(left, n)
        series.append(f"BULK{take}")
        left -= take
        n -= 1
    return series


def create_topics(bootstrap: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(t, partitions, 1) for t in (TOPIC, DLQ_TOPIC)]
    for future in admin.create_topics(topics).values():
        future.result(timeout=20)


@dataclass(frozen=True)
class OursResult:
    rows: int
    collect_seconds: float
    relay_seconds: float
    messages: int
    requests: int
    published: int  # observations carried by the sent messages (schema 2: many per message)

    @property
    def ingest_rate(self) -> float:
        return self.rows / self.collect_seconds

    @property
    def relay_rate(self) -> float:
        return self.messages / self.relay_seconds

    @property
    def end_to_end_rate(self) -> float:
        return self.rows / (self.collect_seconds + self.relay_seconds)


async def run_ours(
    *,
    database_url: str,
    redis_url: str,
    fred_base_url: str,
    bootstrap: str,
    series: list[str],
    tenant: str,
    batch_size: int,
    relay_chunk: int,
) -> OursResult:
    tune_interpreter()  # as `aurum serve` and the runner set the process up
    engine = create_async_engine(async_url(database_url))
    sessionmaker = build_sessionmaker(engine)
    try:
        started = time.perf_counter()
        summary = await _collect(sessionmaker, redis_url, fred_base_url, series, tenant, batch_size)
        collect_seconds = time.perf_counter() - started
        rows = summary.rows_new + summary.rows_changed + summary.rows_unchanged
        progress(
            f"  collected {rows:,} rows in {collect_seconds:.1f}s "
            f"({summary.requests} requests, {summary.batches} batches, "
            f"{summary.rows_rejected} rejected)"
        )
        if summary.rows_new != rows or summary.rows_rejected:
            raise BenchFailed(f"expected only new rows, got {summary.as_dict()}")
        progress(f"relaying the outbox to the broker (chunk {relay_chunk})")
        relay = OutboxRelay(sessionmaker, producer_config(bootstrap), chunk=relay_chunk)
        started = time.perf_counter()
        try:
            messages = await _drain(relay)
        finally:
            await relay.close()
        relay_seconds = time.perf_counter() - started
        published = await _published(sessionmaker, tenant)
        progress(
            f"  relayed {messages:,} messages ({published:,} observations) in {relay_seconds:.1f}s"
        )
        return OursResult(
            rows, collect_seconds, relay_seconds, messages, summary.requests, published
        )
    finally:
        await engine.dispose()


async def _collect(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    base_url: str,
    series: list[str],
    tenant: str,
    batch_size: int,
) -> CollectionSummary:
    redis = Redis.from_url(redis_url, decode_responses=True)
    # The sandbox has no FRED throttle here; a high rate keeps the limiter out of the figure.
    config = ResilienceConfig(provider="fred", rate=RateConfig(requests_per_second=5000, burst=500))
    guards = ProviderGuards(redis, {"fred": config}, replica="bench")
    http = httpx.AsyncClient(timeout=120)
    last_report = [time.perf_counter()]

    def on_batch(summary: CollectionSummary) -> None:
        now = time.perf_counter()
        if now - last_report[0] >= 5:
            last_report[0] = now
            progress(f"  ... {summary.rows_new:,} rows stored, {summary.batches} batches")

    try:
        request = CollectionRequest(
            provider="fred",
            base_url=base_url,
            credential="sandbox",
            datasets=series,
            topic=TOPIC,
            dlq_topic=DLQ_TOPIC,
            batch_size=batch_size,
        )
        return await collect_provider(
            sessionmaker=sessionmaker,
            collector=FredCollector(),
            client=GuardedClient(guards, http),
            request=request,
            tenant_id=tenant,
            run_id=uuid.uuid4(),
            on_batch=on_batch,
        )
    finally:
        await guards.aclose()
        await http.aclose()
        await redis.aclose()


async def _published(sessionmaker: async_sessionmaker[AsyncSession], tenant: str) -> int:
    """Observations in the tenant's sent outbox messages (checked after the clock stops)."""
    async with sessionmaker() as session:
        found = await session.execute(
            text(
                "SELECT coalesce(sum(json_array_length(payload->'observations')), 0) "
                "FROM kafka_outbox WHERE payload->>'tenant_id' = :t AND sent_at IS NOT NULL"
            ),
            {"t": tenant},
        )
        return int(found.scalar_one())


async def _drain(relay: OutboxRelay) -> int:
    """`relay_once` until nothing is pending; gives up after STALLED_PASSES empty passes."""
    sent = stalled = 0
    last_report = time.perf_counter()
    while True:
        result = await relay.relay_once()
        sent += result.sent
        if result.pending == 0:
            return sent
        stalled = 0 if result.sent else stalled + 1
        if stalled >= STALLED_PASSES:
            raise BenchFailed(f"relay stalled with {result.pending} pending, {sent} sent")
        if time.perf_counter() - last_report >= 5:
            last_report = time.perf_counter()
            progress(f"  ... {sent:,} sent, {result.pending:,} pending")
