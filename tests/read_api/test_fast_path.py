"""The read API's fast path (app/read_api/fast_path.py) and its pool (app/db/read_pool.py):
well-formed GETs answered before routing send the same bytes as the routes and as the
serialisation pages always had (json.dumps of the dicts), errors keep the one JSON shape, and
a database that cannot answer (down, or the pool exhausted) is the documented 503."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.db.read_pool import ReadPool
from app.main import create_app
from app.read_api.cache import etag_of
from app.read_api.encoding import observations_json
from app.settings import Settings
from tests.support.apps import client_for, running_app
from tests.support.auth import bearer
from tests.support.tcp_proxy import TcpProxy, postgres_target

FIRST = date(2021, 3, 1)
# A fixed, valid request id: error bodies carry it, so two answers can be compared as bytes.
SAME_ID = {"X-Request-ID": "fastpath-test-0001"}


def _values(rows: int) -> list[tuple[date, str, float | None, str | None]]:
    """Values with the shapes a body must spell exactly: non-ASCII, quotes, None, floats."""
    made = []
    for i in range(rows):
        day = FIRST + timedelta(days=i)
        value = None if i % 17 == 5 else (i / 7 if i % 3 else float(i) * 1e-7)
        units = None if i % 11 == 3 else ('Mt "CO₂"' if i % 2 else "Percent")
        made.append((day, f"{day} é", value, units))
    return made


@pytest.fixture
def seeded(database_url: str, settings: Settings) -> Iterator[tuple[str, str, list[Any]]]:
    """A catalog entry under a fresh provider, an EIA-like id containing `/`, 230 rows."""
    provider = f"p{uuid.uuid4().hex[:6]}"
    series = f"petroleum/pri/spt:daily:{uuid.uuid4().hex[:6].upper()}/X:value"
    values = _values(230)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO providers (name, display_name, enabled, mode, base_url) "
            "VALUES (%s, %s, true, 'live', '')",
            (provider, provider.upper()),
        )
        for sid in (series, series + "-2"):
            conn.execute(
                "INSERT INTO datasets (provider, series_id, title, frequency, enabled, "
                "attributes, observation_start) VALUES (%s, %s, %s, 'Daily', true, '{}', %s)",
                (provider, sid, f"Fast path {sid} ✓", FIRST),
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
                "period_label, value, raw_value, units, metadata) "
                "VALUES (%s, %s, %s, %s, %s, %s, '', %s, '{}')",
                [(settings.tenant_id, provider, series, *row) for row in values],
            )
    yield provider, series, values
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("DELETE FROM external_timeseries_obs WHERE provider = %s", (provider,))
        conn.execute("DELETE FROM datasets WHERE provider = %s", (provider,))
        conn.execute("DELETE FROM providers WHERE name = %s", (provider,))


def _previous_body(provider: str, series: str, rows: list[Any], limit: int, cursor: Any) -> bytes:
    """What pages wrote before the fast path: json.dumps of one dict per row."""
    observations = [
        {"date": d.isoformat(), "period": p, "value": v, "units": u} for d, p, v, u in rows
    ]
    data = {
        "provider": provider,
        "series_id": series,
        "observations": observations,
        "limit": limit,
        "next_cursor": cursor,
    }
    return json.dumps(data, separators=(",", ":"), default=str).encode()


def test_the_row_writer_spells_what_json_dumps_spells() -> None:
    rows = [
        *_values(40),
        (FIRST, "nan", float("nan"), "\u2028\x00\\"),
        (FIRST, "inf", float("inf"), ""),
        (FIRST, "-inf", -float("inf"), "😀"),
        (FIRST, "big", 1e22, "u"),
        (FIRST, "int", 3, "u"),
    ]
    for cursor in (None, "eyJhZnRlciI6MX0"):
        expected = _previous_body("eia", "a/b:ö", rows, 7, cursor)
        assert observations_json("eia", "a/b:ö", rows, 7, cursor) == expected


async def test_pages_match_the_route_and_the_previous_bytes_page_by_page(
    settings: Settings, seeded: tuple[str, str, list[Any]]
) -> None:
    provider, series, values = seeded
    reader = bearer(settings, Role.READER) | SAME_ID
    async with client_for(settings) as client:
        for spelled in (series, series.replace("/", "%2F")):
            url = f"/v1/external/series/{provider}/{spelled}/observations"
            cursor, seen, pages = None, 0, 0
            while True:
                params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
                fast = await client.get(url, params=params, headers=reader)
                # An extra parameter the route ignores: the fast path leaves it to the route.
                routed = await client.get(url, params=params | {"via": "route"}, headers=reader)
                assert fast.status_code == routed.status_code == 200, fast.text
                assert fast.content == routed.content
                body = fast.json()
                chunk = values[seen : seen + 100]
                expected = _previous_body(provider, series, chunk, 100, body["next_cursor"])
                assert fast.content == expected
                assert fast.headers["etag"] == routed.headers["etag"] == etag_of(expected)
                assert fast.headers["x-cache"] == "MISS"
                assert fast.headers["content-type"] == "application/json"
                seen, pages, cursor = seen + len(chunk), pages + 1, body["next_cursor"]
                if cursor is None:
                    break
            assert (seen, pages) == (230, 3)

        # A window, and an empty page of a series that exists.
        url = f"/v1/external/series/{provider}/{series}/observations"
        window = {"start": "2021-03-05", "end": "2021-03-09", "limit": "3"}
        fast = await client.get(url, params=window, headers=reader)
        routed = await client.get(url, params=window | {"via": "route"}, headers=reader)
        assert fast.content == routed.content and len(fast.json()["observations"]) == 3
        empty_url = f"/v1/external/series/{provider}/{series}-2/observations"
        empty = await client.get(empty_url, headers=reader)
        assert empty.status_code == 200
        assert empty.content == _previous_body(provider, series + "-2", [], 100, None)

        # If-None-Match: 304 without a body, from both.
        etag = fast.headers["etag"]
        for extra in ({}, {"via": "route"}):
            again = await client.get(
                url, params=window | extra, headers=reader | {"If-None-Match": etag}
            )
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag


async def test_the_catalog_matches_the_route_and_its_cursor(
    settings: Settings, seeded: tuple[str, str, list[Any]]
) -> None:
    provider, series, _ = seeded
    reader = bearer(settings, Role.READER)
    async with client_for(settings) as client:
        params = {"provider": provider, "limit": "1"}
        first = await client.get("/v1/external/series", params=params, headers=reader)
        routed = await client.get(
            "/v1/external/series", params=params | {"via": "route"}, headers=reader
        )
        assert first.status_code == 200 and first.content == routed.content
        listed = first.json()
        assert [s["series_id"] for s in listed["series"]] == [series]
        assert listed["series"][0]["observation_start"] == FIRST.isoformat()
        assert listed["series"][0]["title"] == f"Fast path {series} ✓"
        assert b"\\u2713" in first.content  # ASCII-escaped, as json.dumps writes it
        rest = await client.get(
            "/v1/external/series",
            params=params | {"cursor": listed["next_cursor"]},
            headers=reader,
        )
        assert [s["series_id"] for s in rest.json()["series"]] == [series + "-2"]
        assert rest.json()["next_cursor"] is None
        for q, found in (
            ("value-2", [series + "-2"]),
            ("%", []),
            ("/X:VALUE", [series, series + "-2"]),
        ):
            text = await client.get(
                "/v1/external/series", params={"q": q, "provider": provider}, headers=reader
            )
            assert [s["series_id"] for s in text.json()["series"]] == found, q


async def test_errors_keep_the_one_shape_on_both_paths(
    settings: Settings, seeded: tuple[str, str, list[Any]]
) -> None:
    provider, series, _ = seeded
    reader = bearer(settings, Role.READER) | SAME_ID
    url = f"/v1/external/series/{provider}/{series}/observations"
    async with client_for(settings) as client:
        missing = f"/v1/external/series/{provider}/no/such:series/observations"
        for path, params, status in (
            (missing, {}, 404),
            (url, {"cursor": "nope"}, 422),
            ("/v1/external/series", {"cursor": "bm9wZQ"}, 422),
        ):
            fast = await client.get(path, params=params, headers=reader)
            routed = await client.get(path, params=params | {"via": "route"}, headers=reader)
            assert fast.status_code == routed.status_code == status, fast.text
            assert fast.content == routed.content
            body = fast.json()
            assert set(body) == {"error", "message", "request_id", "details"}
            assert body["request_id"] == SAME_ID["X-Request-ID"]
        # What only the route validates still answers as before.
        for params in (
            {"limit": "0"},
            {"limit": "abc"},
            {"start": "2021-03-09", "end": "2021-03-01"},
        ):
            refused = await client.get(url, params=params, headers=reader)
            assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
        anonymous = await client.get(url)
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
        assert (await client.get("/v1/external/series")).status_code == 401


async def test_postgres_down_is_the_documented_503(
    settings: Settings, database_url: str, seeded: tuple[str, str, list[Any]]
) -> None:
    provider, series, _ = seeded
    reader = bearer(settings, Role.READER)
    proxy = await TcpProxy(*postgres_target(database_url)).start()
    cut_off = settings.model_copy(
        update={"database_url": proxy.url_for(database_url), "replica_id": "pod-readpool"}
    )
    try:
        async with running_app(create_app(cut_off)) as client:
            url = f"/v1/external/series/{provider}/{series}/observations"
            assert (await client.get(url, headers=reader)).status_code == 200
            await proxy.close()
            for path in (url + "?limit=5", "/v1/external/series?limit=5"):
                down = await client.get(path, headers=reader)
                assert down.status_code == 503, down.text
                assert down.json()["error"] == "unavailable" and down.headers["retry-after"]
    finally:
        await proxy.close()


async def test_an_exhausted_pool_is_the_documented_503(
    settings: Settings, seeded: tuple[str, str, list[Any]]
) -> None:
    provider, series, _ = seeded
    reader = bearer(settings, Role.READER)
    one = settings.model_copy(
        update={"read_pool_size": 1, "db_request_timeout_seconds": 0.5, "replica_id": "pod-one"}
    )
    app = create_app(one)
    async with running_app(app) as client:
        url = f"/v1/external/series/{provider}/{series}/observations"
        assert (await client.get(url, headers=reader)).status_code == 200
        rows: ReadPool = app.state.resources.read_rows
        busy = asyncio.ensure_future(rows.fetch("SELECT pg_sleep(1.5)", ()))
        await asyncio.sleep(0.2)
        try:
            waited = await client.get(url + "?limit=4", headers=reader)
            assert waited.status_code == 503, waited.text
            assert waited.json()["error"] == "unavailable" and waited.headers["retry-after"]
        finally:
            await busy
        assert (await client.get(url + "?limit=4", headers=reader)).status_code == 200


async def test_the_pool_reads_rows_as_tuples_and_reports_a_dead_server(database_url: str) -> None:
    pool = ReadPool(database_url, size=1, wait_seconds=0.5)
    await pool.open()
    try:
        assert await pool.fetch("SELECT %s::int, %s::text", (1, "a/b")) == [(1, "a/b")]
    finally:
        await pool.close()
    dead = ReadPool("postgresql://nobody@127.0.0.1:9/none", size=1, wait_seconds=0.3)
    await dead.open()
    try:
        with pytest.raises(psycopg.OperationalError):
            await dead.fetch("SELECT 1", ())
    finally:
        await dead.close()
