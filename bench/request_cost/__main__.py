"""`python -m bench.request_cost`: what a refresh of many configured FRED series costs when a
few changed, counted by the provider sandbox, against a collector that asks every series every
time (measured in the same run)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

import click
import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import async_url, build_sessionmaker
from app.jobs.collect import CollectionRequest, CollectionSummary, collect_provider
from app.providers.config import load_provider_config
from app.providers.registry import collector_for
from app.resilience.client import GuardedClient
from app.resilience.config import RateConfig, ResilienceConfig
from app.resilience.guards import ProviderGuards
from app.sandbox.catalog import default_catalog
from app.sandbox.server import SandboxServer
from app.settings import Settings
from bench.api_overhead.dependencies import dependencies


def progress(message: str) -> None:
    print(f"[request_cost] {message}", file=sys.stderr, flush=True)


async def _collect(
    database_url: str,
    redis_url: str,
    sandbox: SandboxServer,
    series: list[str],
    tenant: str,
    provider: str = "fred",
) -> CollectionSummary:
    engine = create_async_engine(async_url(database_url))
    redis = Redis.from_url(redis_url, decode_responses=True)
    # Limits are off in this sandbox; a high rate keeps the benchmark about counting.
    rate = RateConfig(requests_per_second=2000, burst=200)
    config = ResilienceConfig(provider=provider, rate=rate)
    guards = ProviderGuards(redis, {provider: config}, replica="bench")
    http = httpx.AsyncClient()
    collector = collector_for(provider)
    assert collector is not None
    try:
        request = CollectionRequest(
            provider=provider,
            base_url=sandbox.base_urls()[provider],
            credential="sandbox",
            datasets=series,
            topic=f"aurum.ref.{provider}.series.v1",
            dlq_topic=f"aurum.ref.{provider}.series.dlq.v1",
            batch_size=5000,
        )
        return await collect_provider(
            sessionmaker=build_sessionmaker(engine),
            collector=collector,
            client=GuardedClient(guards, http),
            request=request,
            tenant_id=tenant,
        )
    finally:
        await guards.aclose()
        await http.aclose()
        await redis.aclose()
        await engine.dispose()


async def _naive(sandbox: SandboxServer, series: list[str]) -> None:
    """The reference: every series' observations, every time (no change detection)."""
    base = sandbox.base_urls()["fred"]
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(series_id: str) -> None:
            async with limit:
                params = {"series_id": series_id, "api_key": "sandbox", "file_type": "json"}
                response = await http.get(base + "series/observations", params=params)
                response.raise_for_status()

        await asyncio.gather(*(one(s) for s in series))


OTHERS = {
    "eia": "latest-period probe per series",
    "noaa": "station maxdate, shared by its datatypes",
    "worldbank": "source lastupdated, shared by its indicators",
}


def _other(database_url: str, redis_url: str, sandbox: SandboxServer, provider: str) -> str:
    """One refresh after one series changed, counted by the sandbox, against asking every
    configured series once (the naive collector's floor, before any paging)."""
    config = load_provider_config(Settings().provider_config_path)
    section = config.providers[provider]  # type: ignore[index]
    series = [str(d["series_id"]) for d in section.datasets]
    tenant = f"bench{uuid.uuid4().hex[:6]}"
    progress(f"{provider}: first collection of {len(series)} series")
    asyncio.run(_collect(database_url, redis_url, sandbox, series, tenant, provider))
    # The sandbox names EIA series without the column our ids end with.
    key = series[0].rsplit(":", 1)[0] if provider == "eia" else series[0]
    sandbox.control("POST", "advance", {"series": [f"{provider}:{key}"]})
    sandbox.control("DELETE", "stats")
    asyncio.run(_collect(database_url, redis_url, sandbox, series, tenant, provider))
    stats = sandbox.control("GET", "stats")
    return (
        f"  {provider:<10} {stats['total']:>4} requests for {len(series)} series "
        f"(naive: >= {len(series)})   via {OTHERS[provider]}   {stats['by_endpoint']}"
    )


@click.command()
@click.option("--series", "count", type=click.IntRange(10, 20_000), default=2000, show_default=True)
@click.option("--changed", type=click.IntRange(1, 1000), default=20, show_default=True)
def main(count: int, changed: int) -> None:
    """Refresh COUNT FRED series of which CHANGED changed; count the requests."""
    workdir = Path(tempfile.mkdtemp(prefix="aurum-request-cost-"))
    series = [f"SYN{i:04d}" for i in range(1, count + 1)]
    moved = series[:: max(1, count // changed)][:changed]
    tenant = f"bench{uuid.uuid4().hex[:6]}"
    with dependencies(workdir) as deps:
        sandbox = SandboxServer(default_catalog(fred_synthetic=count), enforce_limits=False)
        with sandbox:
            progress(f"first collection of {count} series (fills the checkpoints)")
            first = asyncio.run(
                _collect(deps.database_url, deps.redis_url, sandbox, series, tenant)
            )
            progress(f"  {first.requests} requests, {first.rows_new} rows")
            sandbox.control("POST", "advance", {"series": [f"fred:{s}" for s in moved]})
            sandbox.control("DELETE", "stats")
            progress(f"refresh after {changed} series changed")
            refresh = asyncio.run(
                _collect(deps.database_url, deps.redis_url, sandbox, series, tenant)
            )
            ours = sandbox.control("GET", "stats")
            sandbox.control("DELETE", "stats")
            progress("reference: a collector that asks every series every time")
            asyncio.run(_naive(sandbox, series))
            naive = sandbox.control("GET", "stats")
            others = [_other(deps.database_url, deps.redis_url, sandbox, p) for p in OTHERS]
    target = 2 + changed
    verdict = "PASS" if ours["total"] <= target else "MISS"
    ratio = naive["total"] / max(1, ours["total"])
    click.echo(f"request_cost  FRED  series={count}  changed={changed}")
    click.echo(f"  refresh with change detection: {ours['total']:>6} requests")
    click.echo(f"    by endpoint: {ours['by_endpoint']}")
    click.echo(
        f"    series fetched {refresh.series_fetched}, unchanged {refresh.skipped_unchanged}, "
        f"rows changed {refresh.rows_changed}, new {refresh.rows_new}"
    )
    click.echo(f"  naive (every series every time): {naive['total']:>4} requests")
    click.echo(f"  ratio naive/ours: {ratio:.0f}x   target: at most {target} requests ({verdict})")
    click.echo("other providers (the configured datasets; one series changed):")
    for line in others:
        click.echo(line)


if __name__ == "__main__":
    main()
