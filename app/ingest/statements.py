"""The SQL of one ingest batch. Every statement is set-based: no per-row round trips.

Per batch: (1) one lookup of the keys the batch shares with stored rows (EXISTING_KEYS);
(2) rows with a new key: under a savepoint, one COPY straight into the observations table and
one COPY of their outbox messages (built in Python, app/ingest/messages.py); (3) rows whose
key is stored (or every row, when the savepoint caught a unique violation): drop/create the
staging table, COPY them into it, ANALYZE it, and one upsert whose RETURNING set feeds the
outbox insert in the same statement; (4) dead letters and their DLQ outbox rows (only when
rows were rejected); (5) the checkpoint upsert (only when checkpoints are given). With Kafka
off no outbox row is written: the COPY of messages is skipped, and UPSERT / DEAD_LETTERS are
the same statements without their outbox inserts.
"""

from __future__ import annotations

from app.ingest.copy_text import OBSERVATION_COLUMNS

STAGING = "pg_temp.aurum_ingest_staging"
# The observation messages' schema (payload field and header), written into the statement
# below. 2: one message per series per batch with an `observations` list (1: one per
# observation). Dead-letter messages are unchanged, still one per row, schema 1.
SCHEMA_VERSION = 2

# ON COMMIT DROP: the table never outlives the transaction, so nothing leaks into pooled
# connections; dropping first lets one transaction ingest several batches.
CREATE_STAGING = f"""
DROP TABLE IF EXISTS {STAGING};
CREATE TEMP TABLE aurum_ingest_staging (
    tenant_id text NOT NULL,
    provider text NOT NULL,
    run_id uuid NOT NULL,
    batch_id uuid NOT NULL,
    series_id text NOT NULL,
    obs_date date NOT NULL,
    period_label text NOT NULL,
    value double precision,
    raw_value text,
    units text,
    metadata jsonb NOT NULL
) ON COMMIT DROP
"""

# Both COPYs take the same text (app/ingest/copy_text.py): the batch's constant columns, then
# the row's. The staging table carries the constants only so that one text serves both paths;
# the upsert takes them from its parameters.
LEADING_COLUMNS = "tenant_id, provider, run_id, batch_id"
COPY_STAGING = f"COPY {STAGING} ({LEADING_COLUMNS}, {OBSERVATION_COLUMNS}) FROM STDIN"
COPY_OBSERVATIONS = (
    f"COPY external_timeseries_obs ({LEADING_COLUMNS}, {OBSERVATION_COLUMNS}) FROM STDIN"
)
COPY_OUTBOX = "COPY kafka_outbox (topic, key, payload, headers) FROM STDIN"

# The stored keys among the batch's: one index range scan per series of the batch, over the
# batch's dates (from its first to its last, all series together; a key it returns outside a
# series' own dates is simply not among the batch's). Constants, not a join against
# unnest(): while the table grows without statistics the planner took a join's keys as a
# filter over the tenant's whole history. A key it does not return is new unless another
# writer inserts it before this transaction does: the COPY then fails with a unique
# violation, the savepoint is rolled back and every row takes the upsert instead, so the
# lookup only has to be right to be fast.
EXISTING_KEYS = """
SELECT to_json(now())::text, k.series_id, k.obs_date
FROM (SELECT 1) AS one LEFT JOIN (
    SELECT series_id, obs_date FROM external_timeseries_obs
    WHERE tenant_id = %(tenant_id)s AND provider = %(provider)s
      AND series_id = ANY(%(series)s::text[]) AND obs_date BETWEEN %(first)s AND %(last)s
) AS k ON true
"""
# The first column of every row (there is always one) is the transaction's now() as the SQL
# path puts it into a message (`ingested_at`).
# Released by the commit: nothing after the new rows' COPY needs to outlive it separately.
SAVEPOINT = "SAVEPOINT aurum_new_rows"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT aurum_new_rows"

# Without statistics the planner guesses the staging table's size; with them it picks index
# probes (small batch, big provider) or a hash anti-join (big batch) correctly. Cheap: ANALYZE
# samples at most 30,000 rows.
ANALYZE_STAGING = f"ANALYZE {STAGING}"

# The ON CONFLICT ... WHERE IS DISTINCT FROM guard alone keeps an unchanged row from being
# rewritten (it is only locked until commit). A NOT EXISTS anti-join before it also skipped
# the lock, but the planner turned it into a scan of the tenant's whole history once the table
# grew, so each batch got slower than the last. Only rows that are new, or whose value /
# raw_value / units / period_label changed, come back from RETURNING; `updated_at IS NULL`
# tells an insert from an update (only the update sets it; neither COPY sets it). Not
# xmax = 0: the table is partitioned, and xmax is a detail of one physical row version, not a
# contract across partitions. The outbox insert reads that set, so exactly the inserted or
# changed observations are published.
#
# Message shape (schema_version 2): one outbox row per series per batch, carrying up to
# OBSERVATIONS_PER_MESSAGE of its inserted or changed observations in date order (a batch
# with more of one series makes several, `part` 0, 1, ...). One message per observation
# made the relay and the outbox inserts most of the ingest cost. The event_id is stable per
# message (stored in the payload, so a resend carries the same one) and differs between
# batches, so a value that goes A -> B -> A is three events. Outbox ids are assigned in
# (series_id, part) order, so each key's observations go out in date order. %(part_base)s
# (JSON, series id -> parts already taken in this batch by its new rows' messages) offsets
# the part numbers, so the two paths never derive the same event id.
OBSERVATIONS_PER_MESSAGE = 1000
_UPSERT = """
    INSERT INTO external_timeseries_obs AS o (
        tenant_id, provider, series_id, obs_date, period_label, value, raw_value, units,
        metadata, run_id, batch_id
    )
    SELECT %(tenant_id)s::text, %(provider)s::text, s.series_id, s.obs_date, s.period_label,
           s.value, s.raw_value, s.units, s.metadata, %(run_id)s::uuid, %(batch_id)s::uuid
    FROM pg_temp.aurum_ingest_staging AS s
    ORDER BY s.series_id, s.obs_date
    ON CONFLICT (tenant_id, provider, series_id, obs_date) DO UPDATE SET
        period_label = EXCLUDED.period_label,
        value = EXCLUDED.value,
        raw_value = EXCLUDED.raw_value,
        units = EXCLUDED.units,
        metadata = EXCLUDED.metadata,
        run_id = EXCLUDED.run_id,
        batch_id = EXCLUDED.batch_id,
        updated_at = now()
    WHERE o.value IS DISTINCT FROM EXCLUDED.value
       OR o.raw_value IS DISTINCT FROM EXCLUDED.raw_value
       OR o.units IS DISTINCT FROM EXCLUDED.units
       OR o.period_label IS DISTINCT FROM EXCLUDED.period_label
    RETURNING o.series_id, o.obs_date, o.period_label, o.value, o.raw_value, o.units,
              o.metadata, (o.updated_at IS NULL) AS inserted"""
# The third column, the (series, month) pairs of the inserted or changed rows, tells the
# monthly stats (app/db/repositories/series_stats.py) which months to recompute.
_COUNTS = """SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
       (SELECT coalesce(json_agg(json_build_array(t.series_id, t.month)), '[]'::json)
        FROM (SELECT DISTINCT series_id, date_trunc('month', obs_date)::date AS month
              FROM up) AS t)
FROM up"""
UPSERT_WITH_OUTBOX = f"""
WITH up AS ({_UPSERT}
), parts AS (
    SELECT up.*,
           (row_number() OVER (PARTITION BY up.series_id ORDER BY up.obs_date) - 1)
               / {OBSERVATIONS_PER_MESSAGE}
               + COALESCE((%(part_base)s::jsonb ->> up.series_id)::int, 0) AS part
    FROM up
), messages AS (
    SELECT p.series_id, p.part,
           md5(concat_ws('|', %(tenant_id)s::text, %(provider)s::text, p.series_id,
                         %(batch_id)s::text, p.part))::uuid::text AS event_id,
           json_agg(
               json_build_object(
                   'change', CASE WHEN p.inserted THEN 'new' ELSE 'changed' END,
                   'obs_date', p.obs_date,
                   'period_label', p.period_label,
                   'value', p.value,
                   'raw_value', p.raw_value,
                   'units', p.units,
                   'metadata', p.metadata
               ) ORDER BY p.obs_date
           ) AS observations
    FROM parts AS p
    GROUP BY p.series_id, p.part
), outbox AS (
    INSERT INTO kafka_outbox (topic, key, payload, headers)
    SELECT %(topic)s, m.series_id,
           json_build_object(
               'schema_version', {SCHEMA_VERSION},
               'event_id', m.event_id,
               'tenant_id', %(tenant_id)s::text,
               'provider', %(provider)s::text,
               'series_id', m.series_id,
               'part', m.part,
               'run_id', %(run_id)s::text,
               'batch_id', %(batch_id)s::text,
               'ingested_at', now(),
               'observations', m.observations
           ),
           jsonb_build_object('schema_version', '{SCHEMA_VERSION}', 'event_id', m.event_id)
    FROM messages AS m
    ORDER BY m.series_id, m.part
)
{_COUNTS}
"""  # noqa: S608 - only the module's integer constants are interpolated
# With Kafka off (AURUM_KAFKA_ENABLED=false): the same upsert, and no messages.
UPSERT = f"WITH up AS ({_UPSERT}\n)\n{_COUNTS}\n"

# %(rows)s: a JSON array of {"series_id", "reason", "payload"} in rejection order.
_REJECTED = """
WITH r AS (
    SELECT d.n, NULLIF(left(d.item->>'series_id', 256), '') AS series_id,
           left(d.item->>'reason', 1024) AS reason, d.item->'payload' AS payload
    FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS d(item, n)
)"""
_INSERT_DEAD_LETTERS = """
    INSERT INTO ingest_dead_letters (
        tenant_id, provider, series_id, reason, payload, run_id, batch_id
    )
    SELECT %(tenant_id)s, %(provider)s, r.series_id, r.reason, r.payload,
           %(run_id)s::uuid, %(batch_id)s::uuid
    FROM r ORDER BY r.n"""
# With Kafka off: the dead letters, and no DLQ messages.
DEAD_LETTERS = f"{_REJECTED}{_INSERT_DEAD_LETTERS}\n"
DEAD_LETTERS_WITH_DLQ = f"""{_REJECTED}, dl AS ({_INSERT_DEAD_LETTERS}
    RETURNING id, series_id, reason, payload
), events AS (
    SELECT dl.*, md5(concat_ws('|', 'dlq', %(batch_id)s::text, dl.id))::uuid::text AS event_id
    FROM dl
)
INSERT INTO kafka_outbox (topic, key, payload, headers)
SELECT %(dlq_topic)s, e.series_id,
       json_build_object(
           'schema_version', 1,
           'event_id', e.event_id,
           'dead_letter_id', e.id,
           'tenant_id', %(tenant_id)s::text,
           'provider', %(provider)s::text,
           'series_id', e.series_id,
           'reason', e.reason,
           'row', e.payload,
           'run_id', %(run_id)s::text,
           'batch_id', %(batch_id)s::text,
           'rejected_at', now()
       ),
       jsonb_build_object(
           'schema_version', '1',
           'event_id', e.event_id,
           'content_type', 'application/json'
       )
FROM events AS e
ORDER BY e.id
"""  # noqa: S608 - only the module's constants are interpolated

# A checkpoint never moves backwards: a backfill of an old window must not rewind where the
# next incremental fetch starts (GREATEST ignores NULLs). The cursor is replaced as given.
UPSERT_CHECKPOINTS = """
INSERT INTO ingest_checkpoints AS c (
    tenant_id, provider, series_id, last_obs_date, provider_last_updated, cursor, run_id,
    updated_at
)
SELECT %(tenant_id)s, %(provider)s, x.series_id, x.last_obs_date, x.provider_last_updated,
       COALESCE(x.cursor, '{}'::jsonb), %(run_id)s::uuid, now()
FROM jsonb_to_recordset(%(rows)s::jsonb)
    AS x(series_id text, last_obs_date date, provider_last_updated timestamptz, cursor jsonb)
ON CONFLICT (tenant_id, provider, series_id) DO UPDATE SET
    last_obs_date = GREATEST(c.last_obs_date, EXCLUDED.last_obs_date),
    provider_last_updated = GREATEST(c.provider_last_updated, EXCLUDED.provider_last_updated),
    cursor = EXCLUDED.cursor,
    run_id = EXCLUDED.run_id,
    updated_at = now()
"""
