"""Kafka: the producer wrapper and the outbox relay that publishes committed outbox rows."""
