"""The suite's Kafka-protocol broker accepts idempotent produce and serves the records back."""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_idempotent_produce_and_read_back(kafka_bootstrap: str) -> None:
    topic = f"aurum.test.roundtrip.{int(time.time() * 1000)}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=10)
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "snappy",
            "linger.ms": 20,
        }
    )
    errors: list[object] = []
    for i in range(5):
        payload = json.dumps({"schema_version": 1, "i": i}).encode()
        producer.produce(
            topic, key=b"DGS10", value=payload, on_delivery=lambda e, m: errors.append(e)
        )
    assert producer.flush(10) == 0
    assert errors == [None] * 5

    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])  # assign directly: no group join wait
    seen = []
    deadline = time.monotonic() + 15
    while len(seen) < 5 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(json.loads(message.value())["i"])
    consumer.close()
    assert seen == [0, 1, 2, 3, 4]
