"""The ingest pipeline: row checks → COPY to staging → upsert + outbox + checkpoint, in one
transaction."""
