"""A thin, blocking wrapper over confluent-kafka's Producer. Call it from a worker thread
(`asyncio.to_thread`), never on the event loop: `produce` can block on a full queue and
`flush` blocks until every delivery report is in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

DEFAULT_MESSAGE_TIMEOUT_MS = 30_000


def producer_config(bootstrap_servers: str | None, **overrides: Any) -> dict[str, Any] | None:
    """The relay's producer settings, or None when Kafka is off (no bootstrap servers).

    Idempotence (with acks=all) keeps a librdkafka-internal retry from writing a message twice
    and keeps per-partition order.
    """
    if not bootstrap_servers:
        return None
    return {
        "bootstrap.servers": bootstrap_servers,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "snappy",
        "linger.ms": 20,
        "batch.size": 32768,
        "message.timeout.ms": DEFAULT_MESSAGE_TIMEOUT_MS,
        **overrides,
    }


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: int
    topic: str
    key: str | None
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


@dataclass
class DeliveryOutcome:
    """What the broker confirmed: delivered ids, failed ids with their error."""

    delivered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    fatal: str | None = None


class KafkaProducer:
    """One librdkafka producer; `send_all` returns only once every message has a report."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        timeout_ms = int(config.get("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS))
        # librdkafka reports every message by message.timeout.ms; the margin covers the
        # report's own trip. A message still unreported after that is counted as failed.
        self.flush_timeout = timeout_ms / 1000 + 5

    def send_all(self, messages: Sequence[OutgoingMessage]) -> DeliveryOutcome:
        """Produce every message and wait for its delivery report (blocking)."""
        outcome = DeliveryOutcome()
        reported: set[int] = set()

        def report(message_id: int, error: KafkaError | None, _: Message) -> None:
            reported.add(message_id)
            if error is None:
                outcome.delivered.append(message_id)
                return
            outcome.failed[message_id] = str(error)
            if error.fatal():
                outcome.fatal = str(error)

        for message in messages:
            self._produce(message, report, outcome, reported)
        self._producer.flush(self.flush_timeout)
        for message in messages:
            if message.id not in reported:
                outcome.failed[message.id] = f"no delivery report within {self.flush_timeout:.0f}s"
        return outcome

    def _produce(
        self,
        message: OutgoingMessage,
        report: Any,
        outcome: DeliveryOutcome,
        reported: set[int],
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    headers=message.headers,
                    on_delivery=partial(report, message.id),
                )
            except BufferError:  # local queue full: serve reports to make room, then retry
                self._producer.poll(0.1)
                continue
            except KafkaException as error:  # refused locally (e.g. message too large)
                reported.add(message.id)
                outcome.failed[message.id] = str(error)
            self._producer.poll(0)
            return

    def close(self, timeout: float = 10.0) -> int:
        """Wait for outstanding reports; returns how many messages were still queued."""
        return int(self._producer.flush(timeout))
