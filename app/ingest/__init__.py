"""The ingest pipeline: row checks → new keys COPYed into the table, stored keys upserted
through staging → outbox + dead letters + checkpoint, in one transaction per batch."""
