"""`python -m bench.ingest_throughput`: observations served by the provider sandbox, fetched,
parsed, checked and upserted with outbox into PostgreSQL, then published to a Kafka-protocol
broker (Tansu); against, in the same run and on the same rows, (a) a raw COPY into the same
table and (b) dlt's merge into the same database. Prints rows/s of each and the ratios."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import click

from app.embedded.tansu import TansuBroker
from app.messaging.outbox_relay import DEFAULT_CHUNK
from bench.api_overhead.dependencies import dependencies
from bench.ingest_throughput.ours import (
    BenchFailed,
    OursResult,
    bulk_series,
    create_topics,
    progress,
    run_ours,
)
from bench.ingest_throughput.references import (
    INSTALL_DLT,
    Timed,
    dlt_available,
    dlt_merge,
    dlt_version,
    drop_bench_data,
    raw_copy,
    stored_rows,
)
from bench.ingest_throughput.sandbox_process import sandbox_process

COPY_TARGET = 0.25  # ours / raw COPY, at least
DLT_TARGET = 5.0  # ours / dlt merge, at least


def _verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio >= target else "MISS"


def _report(
    rows: int,
    batch_size: int,
    ours: OursResult,
    copy: Timed,
    dlt: Timed | None,
    dlt_note: str,
) -> None:
    e2e = ours.end_to_end_rate
    click.echo(
        f"ingest_throughput  FRED sandbox  rows={rows:,}  series={len(bulk_series(rows))}  "
        f"batch={batch_size:,}"
    )
    click.echo(
        f"  ours, fetch+parse+check+upsert+outbox: {ours.ingest_rate:>10,.0f} rows/s  "
        f"({ours.collect_seconds:.1f}s, {ours.requests} requests)"
    )
    click.echo(
        f"  ours, outbox relay to the broker:      {ours.published / ours.relay_seconds:>10,.0f} "
        f"rows/s  ({ours.messages:,} messages, {ours.relay_seconds:.1f}s)"
    )
    click.echo(f"  ours, end to end (collect + relay):    {e2e:>10,.0f} rows/s")
    click.echo(
        f"  (a) raw COPY, same rows, same table:   {copy.rate:>10,.0f} rows/s  "
        f"({copy.seconds:.1f}s)"
    )
    if dlt is not None:
        click.echo(
            f"  (b) dlt merge, same rows, same db:     {dlt.rate:>10,.0f} rows/s  "
            f"({dlt.seconds:.1f}s, {dlt_note})"
        )
    else:
        click.echo(f"  (b) dlt merge: skipped, {dlt_note}")
    to_copy = e2e / copy.rate
    click.echo(
        f"  ratio ours/COPY (end to end): {to_copy:.2f}   target >= {COPY_TARGET}  "
        f"({_verdict(to_copy, COPY_TARGET)});  collect only: {ours.ingest_rate / copy.rate:.2f}"
    )
    if dlt is not None:
        to_dlt = e2e / dlt.rate
        click.echo(
            f"  ratio ours/dlt  (end to end): {to_dlt:.1f}    target >= {DLT_TARGET:.0f}     "
            f"({_verdict(to_dlt, DLT_TARGET)});  collect only: {ours.ingest_rate / dlt.rate:.1f}"
        )
    else:
        click.echo(f"  ratio ours/dlt: not measured (target >= {DLT_TARGET:.0f})")


@click.command()
@click.option("--rows", type=click.IntRange(1_000, 5_000_000), default=1_000_000, show_default=True)
@click.option("--batch-size", type=click.IntRange(100, 100_000), default=5000, show_default=True)
@click.option(
    "--relay-chunk",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_CHUNK,
    show_default=True,
    help="Outbox rows per relay pass (default: the service's).",
)
@click.option("--partitions", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--timeout",
    type=click.IntRange(10, 7200),
    default=1800,
    show_default=True,
    help="Seconds allowed for our collect + relay.",
)
@click.option("--skip-dlt", is_flag=True, help="Do not run reference (b).")
def main(
    rows: int, batch_size: int, relay_chunk: int, partitions: int, timeout: int, skip_dlt: bool
) -> None:
    """Ingest ROWS FRED observations from the sandbox and publish them; compare with COPY and
    dlt."""
    workdir = Path(tempfile.mkdtemp(prefix="aurum-ingest-throughput-"))
    series = bulk_series(rows)
    run = uuid.uuid4().hex[:6]
    tenant, copy_tenant, dataset = f"bench{run}", f"bench{run}copy", f"bench_dlt_{run}"
    try:
        with dependencies(workdir) as deps, contextlib.ExitStack() as stack:
            if not deps.embedded_database:
                tenants = [tenant, copy_tenant]
                stack.callback(drop_bench_data, deps.database_url, tenants, dataset)
            progress("starting the Tansu broker")
            broker = TansuBroker(log_path=workdir / "tansu.log")
            stack.callback(broker.stop)
            broker.start()
            create_topics(broker.bootstrap_servers, partitions)
            progress("starting the provider sandbox in its own process")
            sandbox = stack.enter_context(sandbox_process(workdir / "sandbox.log"))
            # Making up the provider's data is not our cost (serving it over HTTP still is).
            progress(f"generating {len(series)} BULK series ({rows:,} observations) in the sandbox")
            sandbox.generate("fred", series)

            progress(f"ours: collecting {rows:,} rows (batch {batch_size:,})")
            coroutine = run_ours(
                database_url=deps.database_url,
                redis_url=deps.redis_url,
                fred_base_url=sandbox.base_url("fred"),
                bootstrap=broker.bootstrap_servers,
                series=series,
                tenant=tenant,
                batch_size=batch_size,
                relay_chunk=relay_chunk,
            )
            ours = asyncio.run(asyncio.wait_for(coroutine, timeout))
            if ours.rows != rows or ours.published != rows:
                raise BenchFailed(f"expected {rows} rows stored and published, got {ours}")

            same = stored_rows(deps.database_url, tenant)
            progress(f"(a) raw COPY of the same {len(same):,} rows under another tenant")
            copy = raw_copy(deps.database_url, copy_tenant, same)
            progress(f"  {copy.seconds:.1f}s")

            dlt: Timed | None = None
            if skip_dlt:
                dlt_note = "--skip-dlt"
            elif not dlt_available():
                dlt_note = f"dlt is not installed; install it with: {INSTALL_DLT}"
                progress(dlt_note)
            else:
                dlt_note = f"dlt {dlt_version()}"
                progress(f"(b) {dlt_note}: merge of the same rows into dataset {dataset}")
                started = time.perf_counter()
                dlt = dlt_merge(deps.database_url, workdir, dataset, tenant, same)
                progress(f"  {time.perf_counter() - started:.1f}s")
            progress("stopping the sandbox, the broker and the embedded servers")
    except BenchFailed as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for name in ("dlt-data", "dlt-pipelines"):
            shutil.rmtree(workdir / name, ignore_errors=True)
    _report(rows, batch_size, ours, copy, dlt, dlt_note)


if __name__ == "__main__":
    main()
