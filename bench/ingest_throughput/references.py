"""The references, measured in the same run on the same rows: (a) a raw COPY into the same
observations table under another tenant; (b) dlt merging them into the same PostgreSQL."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from app.db.models.observations import OBSERVATIONS_TABLE

COLUMNS = ("series_id", "obs_date", "period_label", "value", "raw_value", "units", "metadata")
INSTALL_DLT = '.venv/bin/pip install "dlt[postgres]>=1.31,<2"'


@dataclass(frozen=True)
class Timed:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def libpq_url(database_url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy's form) → a plain libpq URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def dlt_credentials(database_url: str) -> str:
    """dlt insists on a host and a password: over a Unix socket (the embedded server) the
    socket directory stays in `?host=`, which libpq prefers, and the password is unused."""
    url = make_url(database_url).set(drivername="postgresql")
    if url.host is None:
        url = url.set(host="localhost")
    if url.password is None:
        url = url.set(password="unused")  # noqa: S106 - trust auth; never sent anywhere else
    return url.render_as_string(hide_password=False)


def stored_rows(database_url: str, tenant: str) -> list[tuple[Any, ...]]:
    """The rows our path stored (metadata as JSON text), in key order."""
    query = sql.SQL(
        "SELECT {columns}, metadata::text FROM {table} "
        "WHERE tenant_id = %s AND provider = 'fred' ORDER BY series_id, obs_date"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS[:-1])),
        table=sql.Identifier(OBSERVATIONS_TABLE),
    )
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(query, (tenant,)).fetchall()


def raw_copy(database_url: str, tenant: str, rows: list[tuple[Any, ...]]) -> Timed:
    """(a) One COPY of `rows` into the observations table, committed; only this is timed."""
    columns = ", ".join(("tenant_id", "provider", *COLUMNS))
    statement = f"COPY {OBSERVATIONS_TABLE} ({columns}) FROM STDIN"
    with psycopg.connect(libpq_url(database_url)) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write((tenant, "fred", *row))
        conn.commit()
        seconds = time.perf_counter() - started
    return Timed(len(rows), seconds)


def dlt_available() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        return False
    return True


def dlt_version() -> str:
    import dlt

    return str(dlt.__version__)


def dlt_merge(
    database_url: str, workdir: Path, dataset: str, tenant: str, rows: list[tuple[Any, ...]]
) -> Timed:
    """(b) dlt's `merge` of the same rows, keyed by (series_id, obs_date), into a dataset
    (schema) of the same database; the whole `pipeline.run` (extract, normalize, load) is
    timed. The rows are handed over as the dicts a dlt source would yield."""
    # dlt reads its settings from the environment only: keep its telemetry (an outside
    # endpoint) off and its state inside the run's temporary directory.
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt-data")
    import dlt
    from dlt.destinations import postgres

    records = [
        {
            "tenant_id": tenant,
            "provider": "fred",
            "series_id": series_id,
            "obs_date": obs_date,
            "period_label": label,
            "value": value,
            "raw_value": raw,
            "units": units,
            "metadata": metadata,
        }
        for series_id, obs_date, label, value, raw, units, metadata in rows
    ]
    resource = dlt.resource(
        records,
        name="observations",
        write_disposition="merge",
        primary_key=("series_id", "obs_date"),
        columns={"metadata": {"data_type": "json"}, "value": {"data_type": "double"}},
    )
    pipeline = dlt.pipeline(
        pipeline_name=dataset,
        pipelines_dir=str(workdir / "dlt-pipelines"),
        destination=postgres(credentials=dlt_credentials(database_url)),
        dataset_name=dataset,
    )
    started = time.perf_counter()
    pipeline.run(resource)
    seconds = time.perf_counter() - started
    with psycopg.connect(libpq_url(database_url)) as conn:
        count = sql.SQL("SELECT count(*) FROM {}.observations").format(sql.Identifier(dataset))
        loaded = conn.execute(count).fetchone()
    if loaded is None or loaded[0] != len(rows):
        raise RuntimeError(f"dlt loaded {loaded} rows, expected {len(rows)}")
    return Timed(len(rows), seconds)


def drop_bench_data(database_url: str, tenants: list[str], dataset: str) -> None:
    """In a database the bench does not own: remove what it wrote."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        delete = sql.SQL("DELETE FROM {} WHERE tenant_id = ANY(%s)")
        conn.execute(delete.format(sql.Identifier(OBSERVATIONS_TABLE)), (tenants,))
        conn.execute("DELETE FROM ingest_checkpoints WHERE tenant_id = ANY(%s)", (tenants,))
        conn.execute("DELETE FROM kafka_outbox WHERE payload->>'tenant_id' = ANY(%s)", (tenants,))
        for schema in (dataset, f"{dataset}_staging"):
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
            conn.execute(drop.format(sql.Identifier(schema)))
