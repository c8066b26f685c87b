"""The read API for downstream apps: catalog filters, cursor pages, ETags, the reader role, and
the `external_read_cache` flag: HIT/MISS, and STALE copies while PostgreSQL is unreachable."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import httpx
import psycopg
import pytest

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.main import create_app
from app.settings import Settings
from tests.support.apps import client_for, running_app
from tests.support.auth import bearer, new_api_key
from tests.support.tcp_proxy import TcpProxy, postgres_target

FLAG = "/runtime-config/v1/features/external_read_cache"


def _unseed(database_url: str, series: str) -> None:
    """Other tests read the whole catalog: leave it as found."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("DELETE FROM datasets WHERE series_id = %s", (series,))
        conn.execute("DELETE FROM external_timeseries_obs WHERE series_id = %s", (series,))


def _seed(database_url: str, tenant: str, rows: int, provider: str, series: str) -> str:
    """A catalog entry and `rows` daily observations of the series; its id."""
    first = date(2020, 1, 1)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO providers (name, display_name, enabled, mode, base_url) "
            "VALUES (%s, %s, true, 'live', '') "
            "ON CONFLICT DO NOTHING",
            (provider, provider.upper()),
        )
        conn.execute(
            "INSERT INTO datasets (provider, series_id, title, frequency, enabled, attributes) "
            "VALUES (%s, %s, %s, 'Daily', true, '{}')",
            (provider, series, f"Test rate {series}"),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
                "period_label, value, raw_value, units, metadata) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'Percent', '{}')",
                [
                    (tenant, provider, series, first + timedelta(days=i),
                     str(first + timedelta(days=i)), i / 10, str(i / 10))
                    for i in range(rows)
                ],
            )  # fmt: skip
    return series


Seed = Callable[..., str]


@pytest.fixture
def seed(database_url: str) -> Iterator[Seed]:
    """seed(tenant, rows[, provider, series]): a fresh FRED series unless named."""
    made: list[str] = []

    def make(tenant: str, rows: int, provider: str = "fred", series: str | None = None) -> str:
        series = series or f"T{uuid.uuid4().hex[:8].upper()}"
        made.append(_seed(database_url, tenant, rows, provider, series))
        return made[-1]

    yield make
    for series in made:
        _unseed(database_url, series)


async def test_catalog_and_observation_pages_with_cursor_and_etag(
    settings: Settings, seed: Seed
) -> None:
    series = seed(settings.tenant_id, 250)
    reader = bearer(settings, Role.READER)
    async with client_for(settings) as client:
        assert (await client.get("/v1/external/series")).status_code == 401
        assert (await client.post("/v1/external/series", headers=reader)).status_code in (403, 405)
        catalog = await client.get(
            f"/v1/external/series?provider=fred&frequency=daily&q={series.lower()}",
            headers=reader,
        )
        assert catalog.status_code == 200, catalog.text
        assert [s["series_id"] for s in catalog.json()["series"]] == [series]

        url = f"/v1/external/series/fred/{series}/observations"
        seen: list[str] = []
        cursor = None
        for _ in range(3):
            page = await client.get(
                url, params={"cursor": cursor} if cursor else {}, headers=reader
            )
            assert page.status_code == 200 and page.headers["x-cache"] == "MISS"
            body = page.json()
            seen += [o["date"] for o in body["observations"]]
            cursor = body["next_cursor"]
        assert len(seen) == 250 == len(set(seen)) and seen == sorted(seen) and cursor is None

        window = await client.get(
            url, params={"start": "2020-01-10", "end": "2020-01-19", "limit": 5}, headers=reader
        )
        assert window.json()["observations"][0]["date"] == "2020-01-10"
        assert len(window.json()["observations"]) == 5 and window.json()["next_cursor"]

        first = await client.get(url, headers=reader)
        again = await client.get(url, headers=reader | {"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]

        too_many = await client.get(url, params={"limit": 1001}, headers=reader)
        assert too_many.status_code == 422 and "limit" in too_many.text
        bad_cursor = await client.get(url, params={"cursor": "nope"}, headers=reader)
        assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["message"]
        missing = await client.get("/v1/external/series/fred/NOPE/observations", headers=reader)
        assert missing.status_code == 404


async def test_cache_hits_and_serves_stale_when_postgres_is_unreachable(
    settings: Settings, database_url: str, seed: Seed
) -> None:
    series = seed(settings.tenant_id, 120)
    url = f"/v1/external/series/fred/{series}/observations"
    reader = bearer(settings, Role.READER)
    operator = bearer(settings, Role.OPERATOR)
    proxy = await TcpProxy(*postgres_target(database_url)).start()
    # This replica reaches PostgreSQL only through the proxy, which the test then closes.
    cut_off = settings.model_copy(
        update={"database_url": proxy.url_for(database_url), "replica_id": "pod-cut"}
    )
    app = create_app(cut_off)
    try:
        async with running_app(app) as client:
            await client.post(
                f"{FLAG}?wait=true",
                json={"enabled": True, "configuration": {"ttl_seconds": 1}},
                headers=operator,
            )
            miss = await client.get(url, headers=reader)
            hit = await client.get(url, headers=reader)
            assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
            assert hit.content == miss.content and len(hit.json()["observations"]) == 100

            await asyncio.sleep(1.1)  # past ttl_seconds: the next read must go to PostgreSQL
            await proxy.close()
            stale = await client.get(url, headers=reader)
            assert stale.status_code == 200, stale.text
            assert stale.headers["x-cache"] == "STALE" and stale.content == miss.content

            never_cached = await client.get(f"{url}?limit=3", headers=reader)
            assert never_cached.status_code == 503
            assert "external_read_cache" in never_cached.json()["message"]
            # This replica stays in the Service while it serves those pages.
            ready = await client.get("/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["postgres"]["status"] == "down"
    finally:
        await proxy.close()
        async with client_for(settings) as client:
            await client.delete(FLAG, headers=operator)


async def test_a_series_id_with_slashes_reads_raw_and_percent_encoded_from_one_cache_entry(
    settings: Settings, seed: Seed
) -> None:
    # EIA ids are `route:frequency:facets:column`, and routes and facets contain `/`.
    tag = uuid.uuid4().hex[:6].upper()
    series = seed(settings.tenant_id, 120, "eia", f"petroleum/pri/spt:daily:T{tag}/X:value")
    encoded = series.replace("/", "%2F")
    reader = bearer(settings, Role.READER)
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        listed = await client.get(f"/v1/external/series?provider=eia&q={tag}", headers=reader)
        assert [s["series_id"] for s in listed.json()["series"]] == [series]

        raw = await client.get(f"/v1/external/series/eia/{series}/observations", headers=reader)
        assert raw.status_code == 200, raw.text
        assert raw.json()["series_id"] == series and len(raw.json()["observations"]) == 100
        quoted = await client.get(f"/v1/external/series/eia/{encoded}/observations", headers=reader)
        assert quoted.status_code == 200, quoted.text
        assert quoted.content == raw.content

        cursor = raw.json()["next_cursor"]
        rest = await client.get(
            f"/v1/external/series/eia/{encoded}/observations",
            params={"cursor": cursor},
            headers=reader,
        )
        assert len(rest.json()["observations"]) == 20 and rest.json()["next_cursor"] is None

        missing = await client.get(
            "/v1/external/series/eia/petroleum/pri/spt:daily:NOPE:value/observations",
            headers=reader,
        )
        assert missing.status_code == 404 and "No series" in missing.json()["message"]

        try:
            await client.post(
                f"{FLAG}?wait=true",
                json={"enabled": True, "configuration": {"ttl_seconds": 60}},
                headers=operator,
            )
            url = f"/v1/external/series/eia/{series}/observations?limit=7"
            first = await client.get(url, headers=reader)
            again = await client.get(url.replace(series, encoded), headers=reader)
            assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
            assert again.content == first.content
        finally:
            await client.delete(FLAG, headers=operator)


async def test_a_stalled_postgres_leaves_probes_cached_pages_and_redis_reads_answering(
    settings: Settings, database_url: str, seed: Seed
) -> None:
    """PostgreSQL stalled (connections open, nothing answered, as a SIGSTOPped server) under
    a caller whose API key was verified before: liveness and readiness answer at once, a
    cached page is served, a page never read answers the documented 503 within the budget,
    and a Redis-only admin read still answers, on the key's last verification."""
    cached, uncached = seed(settings.tenant_id, 20), seed(settings.tenant_id, 20)
    key, _ = await new_api_key(database_url, Role.ADMIN, name="stall")
    unchecked, _ = await new_api_key(database_url, Role.ADMIN, name="stall-unused")
    caller = {"X-API-Key": key}
    proxy = await TcpProxy(*postgres_target(database_url)).start()
    stalling = settings.model_copy(
        update={
            "database_url": proxy.url_for(database_url),
            "replica_id": "pod-stall",
            "api_key_cache_seconds": 0.2,  # the stall outlasts the key's verification
            "ready_check_timeout_seconds": 1.0,
        }
    )
    # README's "Dependency outages": 2 s for probes and admin reads; 3 s for a read page (the
    # key's lookup, then the page's load, each AURUM_DB_REQUEST_TIMEOUT_SECONDS at most).
    budget = 2.0
    read_budget = 3.0
    try:
        async with running_app(create_app(stalling)) as client:
            flag = {"enabled": True, "configuration": {"ttl_seconds": 900}}
            await client.post(f"{FLAG}?wait=true", json=flag, headers=caller)
            page = f"/v1/external/series/fred/{cached}/observations"
            assert (await client.get(page, headers=caller)).status_code == 200
            proxy.stall()
            await asyncio.sleep(0.3)  # past the key's cache: verifying it needs PostgreSQL

            async def timed(path: str) -> tuple[int | None, float, httpx.Response | None]:
                started = time.monotonic()
                try:
                    async with asyncio.timeout(read_budget + 2):
                        response = await client.get(path, headers=caller)
                except TimeoutError:
                    return None, time.monotonic() - started, None
                return response.status_code, time.monotonic() - started, response

            paths = {
                "liveness": "/health",
                "ready": "/ready",
                "cached": page,
                "uncached": f"/v1/external/series/fred/{uncached}/observations",
                "breakers": "/v1/admin/external/circuit-breakers",
                "jobs": "/v1/admin/external/jobs",
            }
            for _ in range(2):  # the second round finds the first one's lookups pending
                answers = dict(
                    zip(paths, await asyncio.gather(*map(timed, paths.values())), strict=True)
                )
                slow = {
                    name: round(a[1], 2)
                    for name, a in answers.items()
                    if a[1] > (read_budget if "cached" in name else budget)
                }
                assert not slow, (slow, {name: a[0] for name, a in answers.items()})
                statuses = {name: a[0] for name, a in answers.items()}
                assert statuses == {
                    "liveness": 200,
                    "ready": 200,
                    "cached": 200,
                    "uncached": 503,
                    "breakers": 200,
                    "jobs": statuses["jobs"] if statuses["jobs"] in {200, 503} else "200|503",
                }, statuses
                ready = answers["ready"][2]
                assert ready is not None and ready.json()["checks"]["postgres"]["status"] == "down"
                unavailable = answers["uncached"][2]
                assert unavailable is not None and unavailable.headers["retry-after"]
                assert unavailable.json()["error"] == "unavailable"
            # A key this replica never verified cannot be checked now: 503, not 401.
            started = time.monotonic()
            never = await client.get(paths["breakers"], headers={"X-API-Key": unchecked})
            assert never.status_code == 503 and never.headers["retry-after"], never.text
            assert time.monotonic() - started < budget
            proxy.resume()
            uncached_page = paths["uncached"]

            async def recovered() -> bool:
                response = await client.get(uncached_page, headers=caller)
                return response.status_code == 200

            deadline = time.monotonic() + 15
            while not await recovered():
                assert time.monotonic() < deadline, "did not recover after the stall"
                await asyncio.sleep(0.2)
    finally:
        proxy.resume()
        await proxy.close()
        async with client_for(settings) as client:
            await client.delete(FLAG, headers=caller)
