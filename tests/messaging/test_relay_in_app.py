"""The running service publishes its outbox when Kafka is configured (the leader's
`outbox.relay` job)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from app.db.engine import libpq_url
from app.settings import Settings
from tests.support.apps import client_for


async def test_the_app_relays_outbox_rows_to_kafka(
    settings: Settings, database_url: str, kafka_bootstrap: str
) -> None:
    topic = f"aurum.test.relay.{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        # Earlier tests leave unsent rows (they run with Kafka off); the relay drains in id
        # order, so a large backlog would only delay this row. Not this test's concern.
        conn.execute("UPDATE kafka_outbox SET sent_at = now() WHERE sent_at IS NULL")
        row = conn.execute(
            "INSERT INTO kafka_outbox (topic, key, payload, headers) "
            "VALUES (%s, 'DGS10', '{\"schema_version\": 1}', '{}') RETURNING id",
            (topic,),
        ).fetchone()
    assert row is not None
    with_kafka = settings.model_copy(
        update={"kafka_bootstrap_servers": kafka_bootstrap, "scheduler_enabled": True}
    )
    async with client_for(with_kafka):
        sent = None
        for _ in range(100):
            with psycopg.connect(libpq_url(database_url)) as conn:
                sent = conn.execute(
                    "SELECT sent_at FROM kafka_outbox WHERE id = %s", (row[0],)
                ).fetchone()
            if sent and sent[0] is not None:
                break
            await asyncio.sleep(0.2)
    assert sent is not None and sent[0] is not None
