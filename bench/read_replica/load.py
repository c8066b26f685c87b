"""The two background parts of bench/read_replica: an ingest load on the primary, and the
replication lag sampled while it runs."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from app.db.engine import libpq_url
from app.db.read_sessions import LAG_QUERY

BATCH_ROWS = 2_000
SAMPLE_SECONDS = 0.05
COPY = (
    "COPY external_timeseries_obs (tenant_id, provider, series_id, obs_date, period_label, "
    "value, raw_value, units, metadata) FROM STDIN"
)


class IngestLoad(threading.Thread):
    """Batches of new observations COPied into the primary, one transaction each, as fast as
    the primary takes them: the WAL a collection writes, without the provider round-trips."""

    def __init__(self, database_url: str) -> None:
        super().__init__(name="ingest-load", daemon=True)
        self._url = libpq_url(database_url)
        self._halt = threading.Event()
        self.rows = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        first = date(1900, 1, 1)
        try:
            with psycopg.connect(self._url) as conn:
                while not self._halt.is_set():
                    series = f"BENCHLAG{uuid.uuid4().hex[:10].upper()}"
                    with conn.cursor() as cur, cur.copy(COPY) as copy:
                        for i in range(BATCH_ROWS):
                            day = first + timedelta(days=i)
                            copy.write_row(
                                ("default", "fred", series, day, str(day), i / 7, str(i / 7),
                                 "Percent", "{}")
                            )  # fmt: skip
                    conn.commit()
                    self.rows += BATCH_ROWS
        except BaseException as exc:  # reported by the benchmark, never lost in a thread
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


@dataclass
class LagSamples:
    # pg_stat_replication.replay_lag on the primary: commit on the primary → replayed there.
    replay_ms: list[float] = field(default_factory=list)
    # What the service's ReadSessions computes on the standby (its fallback decision).
    service_ms: list[float] = field(default_factory=list)
    # WAL written on the primary and not yet replayed on the standby.
    behind_bytes: list[int] = field(default_factory=list)

    @staticmethod
    def summary(values: list[float] | list[int]) -> tuple[float, float, float]:
        """(p50, p99, peak); zeros when nothing was sampled."""
        if not values:
            return 0.0, 0.0, 0.0
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return float(statistics.median(ordered)), float(p99), float(ordered[-1])


class LagSampler(threading.Thread):
    def __init__(self, primary_url: str, replica_url: str) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self._primary, self._replica = libpq_url(primary_url), libpq_url(replica_url)
        self._halt = threading.Event()
        self.samples = LagSamples()

    def run(self) -> None:
        with (
            psycopg.connect(self._primary, autocommit=True) as primary,
            psycopg.connect(self._replica, autocommit=True) as replica,
        ):
            while not self._halt.is_set():
                row = primary.execute(
                    "SELECT EXTRACT(EPOCH FROM replay_lag)::float8 * 1000, "
                    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                    "FROM pg_stat_replication LIMIT 1"
                ).fetchone()
                seen = replica.execute(str(LAG_QUERY.text)).fetchone()
                if row is not None:
                    if row[0] is not None:
                        self.samples.replay_ms.append(row[0])
                    if row[1] is not None:
                        self.samples.behind_bytes.append(int(row[1]))
                if seen is not None and seen[0] is not None:
                    self.samples.service_ms.append(float(seen[0]) * 1000)
                time.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
