"""Embedded dependencies for a machine with nothing but Python: PostgreSQL and Redis started
from pip wheels under the data directory, and Tansu (a Kafka-protocol broker) for tests."""
