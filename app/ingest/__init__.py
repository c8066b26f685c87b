"""The ingest pipeline: row checks → COPY to staging → upsert + outbox + checkpoint, one transaction."""
