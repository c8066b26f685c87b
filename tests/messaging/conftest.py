"""Outbox rows written by the real ingest pipeline, topics created on the real broker, and a
consumer that reads a topic back by assigning its partition (no group join wait)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import async_url
from app.ingest.pipeline import ingest_batch
from tests.ingest.support import daily, obs


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(async_url(database_url), pool_size=6)
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    await engine.dispose()


@dataclass(frozen=True)
class Feed:
    provider: str
    topic: str
    dlq_topic: str

    @property
    def topics(self) -> list[str]:
        return [self.topic, self.dlq_topic]


@pytest.fixture
def feed(kafka_bootstrap: str) -> Feed:
    provider = f"r{uuid.uuid4().hex[:12]}"
    made = Feed(provider, f"aurum.ref.{provider}.series.v1", f"aurum.ref.{provider}.series.dlq.v1")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in made.topics]).values():
        future.result(timeout=10)
    return made


@pytest.fixture
def fill(sessionmaker: async_sessionmaker[AsyncSession], feed: Feed) -> Callable[..., Any]:
    """Ingest `series` x `days` good rows (new series each time) and `bad` rejected rows;
    returns the outbox rows made: one message per series (days stays under
    OBSERVATIONS_PER_MESSAGE) and one per rejected row."""

    async def run(series: int, days: int, bad: int = 0) -> int:
        rows = [r for i in range(series) for r in daily(f"S{i}", days)]
        rows += [obs(f"BAD{i}", date(2020, 1, 1), float("nan")) for i in range(bad)]
        async with sessionmaker() as session:
            await ingest_batch(
                session,
                tenant_id="default",
                provider=feed.provider,
                rows=rows,
                run_id=uuid.uuid4(),
                topic=feed.topic,
                dlq_topic=feed.dlq_topic,
            )
            await session.commit()
        return series + bad

    return run


def consume(bootstrap: str, topic: str, expected: int, quiet: float = 2.0) -> list[Any]:
    """Every message on the topic: waits for `expected`, then `quiet` seconds for extras."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen: list[Any] = []
    deadline = time.monotonic() + 30
    quiet_until: float | None = None
    while time.monotonic() < deadline:
        message = consumer.poll(0.25)
        if message is not None and message.error() is None:
            seen.append(message)
            continue
        if len(seen) >= expected:
            quiet_until = quiet_until or time.monotonic() + quiet
            if time.monotonic() >= quiet_until:
                break
    consumer.close()
    return seen


def event_ids(messages: list[Any]) -> list[str]:
    return [json.loads(m.value())["event_id"] for m in messages]
