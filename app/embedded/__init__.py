"""Embedded dependencies for a machine with nothing but Python: PostgreSQL, Redis and Tansu (a
Kafka-protocol broker) started from pip wheels under the data directory, shared by every
process using it and stopped by the last one (holders.py)."""
