"""Replication lag under ingest, and read API throughput on the primary vs a replica."""
