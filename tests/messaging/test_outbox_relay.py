"""The outbox relay against a real Kafka-protocol broker (Tansu) and the real outbox table."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.embedded.ports import free_port
from app.messaging.outbox_relay import OutboxRelay, RelayResult
from app.messaging.producer import producer_config
from tests.messaging.conftest import Feed, consume, event_ids

SM = async_sessionmaker[AsyncSession]


async def _outbox(sessionmaker: SM, feed: Feed) -> list[Any]:
    async with sessionmaker() as session:
        result = await session.execute(
            text(
                "SELECT id, sent_at, attempts, last_error FROM kafka_outbox "
                "WHERE topic = ANY(:t) ORDER BY id"
            ),
            {"t": feed.topics},
        )
        return list(result.all())


async def _drain(relay: OutboxRelay, *, within: float = 30.0) -> int:
    """Pass until nothing is pending. Rows another relay has claimed count as pending until it
    marks them, and are skipped here (SKIP LOCKED), so an empty pass waits a moment."""
    sent = 0
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        result = await relay.relay_once()
        sent += result.sent
        if result.pending == 0:
            return sent
        if result.sent == 0:
            await asyncio.sleep(0.05)
    raise AssertionError("outbox did not drain")


async def test_every_row_is_delivered_once_and_marked_sent(
    sessionmaker: SM, feed: Feed, fill: Callable[..., Any], kafka_bootstrap: str
) -> None:
    assert await fill(series=3, days=20, bad=2) == 5
    relay = OutboxRelay(sessionmaker, producer_config(kafka_bootstrap), chunk=2, topics=feed.topics)
    try:
        assert await _drain(relay) == 5
    finally:
        await relay.close()

    rows = await _outbox(sessionmaker, feed)
    assert len(rows) == 5
    assert all(sent_at is not None and attempts == 1 for _, sent_at, attempts, _ in rows)

    messages = consume(kafka_bootstrap, feed.topic, 3)
    assert len(messages) == 3
    first = messages[0]
    payload = json.loads(first.value())
    assert first.key() == b"S0" == payload["series_id"].encode()
    assert payload["schema_version"] == 2
    assert dict(first.headers())["event_id"] == payload["event_id"].encode()
    assert sorted(Counter(event_ids(messages)).values()) == [1] * 3
    (s1,) = [json.loads(m.value()) for m in messages if m.key() == b"S1"]
    s1_dates = [o["obs_date"] for o in s1["observations"]]
    assert len(s1_dates) == 20 and s1_dates == sorted(s1_dates)  # each key in date order
    dlq = consume(kafka_bootstrap, feed.dlq_topic, 2)
    assert [json.loads(m.value())["reason"] for m in dlq] == ["value is not finite"] * 2


async def test_broker_down_keeps_rows_then_delivers_each_once(
    sessionmaker: SM, feed: Feed, fill: Callable[..., Any], kafka_bootstrap: str
) -> None:
    made = await fill(series=2, days=10)
    closed = f"127.0.0.1:{free_port()}"
    down = OutboxRelay(
        sessionmaker,
        producer_config(closed, **{"message.timeout.ms": 2000}),
        topics=feed.topics,
    )
    try:
        result = await down.relay_once()
    finally:
        await down.close()
    assert result == RelayResult(sent=0, failed=made, pending=made)
    rows = await _outbox(sessionmaker, feed)
    assert all(sent_at is None and attempts == 1 and error for _, sent_at, attempts, error in rows)

    up = OutboxRelay(sessionmaker, producer_config(kafka_bootstrap), topics=feed.topics)
    try:
        assert await _drain(up) == made
        assert (await up.relay_once()) == RelayResult(0, 0, 0)
    finally:
        await up.close()
    rows = await _outbox(sessionmaker, feed)
    assert all(sent_at is not None and attempts == 2 for _, sent_at, attempts, _ in rows)
    messages = consume(kafka_bootstrap, feed.topic, made)
    assert Counter(event_ids(messages)) == Counter({e: 1 for e in event_ids(messages)})
    assert len(messages) == made


async def test_two_concurrent_relays_never_send_the_same_row(
    sessionmaker: SM, feed: Feed, fill: Callable[..., Any], kafka_bootstrap: str
) -> None:
    made = await fill(series=40, days=3)
    relays = [
        OutboxRelay(sessionmaker, producer_config(kafka_bootstrap), chunk=3, topics=feed.topics)
        for _ in range(2)
    ]
    try:
        sent = await asyncio.gather(*(_drain(relay) for relay in relays))
    finally:
        for relay in relays:
            await relay.close()
    assert sum(sent) == made
    assert all(count > 0 for count in sent)
    messages = consume(kafka_bootstrap, feed.topic, made)
    assert len(messages) == made
    assert set(Counter(event_ids(messages)).values()) == {1}


async def test_run_forever_drains_and_stops(
    sessionmaker: SM, feed: Feed, fill: Callable[..., Any], kafka_bootstrap: str
) -> None:
    made = await fill(series=20, days=3)
    relay = OutboxRelay(sessionmaker, producer_config(kafka_bootstrap), chunk=7, topics=feed.topics)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run_forever(stop, interval=0.1))
    for _ in range(100):
        if all(sent_at is not None for _, sent_at, _, _ in await _outbox(sessionmaker, feed)):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert len(consume(kafka_bootstrap, feed.topic, made)) == made


async def test_without_kafka_the_outbox_keeps_filling(
    sessionmaker: SM, feed: Feed, fill: Callable[..., Any]
) -> None:
    assert producer_config(None) is None and producer_config("") is None
    made = await fill(series=1, days=5)
    relay = OutboxRelay(sessionmaker, None, topics=feed.topics)
    assert not relay.enabled
    assert await relay.relay_once() == RelayResult(sent=0, failed=0, pending=made)
    await fill(series=2, days=5)  # S0 again (unchanged: no message) and a new S1
    assert (await relay.relay_once()).pending == made + 1
    assert all(sent_at is None for _, sent_at, _, _ in await _outbox(sessionmaker, feed))
