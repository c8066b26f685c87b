"""Refilling an empty embedded broker from the outbox.

The embedded default's broker (app/embedded/tansu.py) keeps its log in memory, so when it
starts it holds nothing, although the outbox says what was sent to it before. Marking the
retained sent rows unsent makes the relay publish them again, in outbox order and with their
event ids: after a restart the topics hold the messages of the last
`jobs.outbox_retention_days` again (at new offsets; consumers deduplicate by `event_id`).
Only for a broker the service has just started empty: never for a configured one.
"""

from __future__ import annotations

import psycopg

from app.db.engine import libpq_url

MARK_UNSENT = "UPDATE kafka_outbox SET sent_at = NULL WHERE sent_at IS NOT NULL"


def republish_to_empty_broker(database_url: str) -> int:
    """Mark every retained sent outbox row unsent; returns how many."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        return conn.execute(MARK_UNSENT).rowcount
