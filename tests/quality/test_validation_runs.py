"""Validation runs against real PostgreSQL with rows from the ingest pipeline: a clean FRED
dataset passes, a bad value fails with its evidence and severity, runs are exclusive per
provider (409), and an unknown provider is 404. Great Expectations is slow to import and run
(seconds), so the runs here are few."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from app.auth.principal import Role
from app.db.repositories import validation_results
from app.main import create_app
from app.quality import service
from app.quality.provider_checks import CHECK_IDS
from app.quality.scoring import latest_quality
from app.settings import Settings
from tests.ingest.support import obs
from tests.quality.conftest import SM, clean_fred_rows, ingest
from tests.support.apps import running_app
from tests.support.auth import bearer


async def test_clean_rows_pass_then_a_bad_value_fails_as_an_error(
    tenant_settings: Settings, sessionmaker: SM
) -> None:
    tenant = tenant_settings.tenant_id
    await ingest(sessionmaker, tenant, "fred", clean_fred_rows())
    headers = bearer(tenant_settings, Role.OPERATOR)
    async with running_app(create_app(tenant_settings)) as client:
        started = await client.post("/v1/admin/external/validation/fred/run", headers=headers)
        assert started.status_code == 202, started.text
        first_id = started.json()["id"]
        view = (await client.get("/v1/admin/external/validation/fred", headers=headers)).json()
        latest = view["latest"]
        assert latest["id"] == first_id and latest["status"] == "completed"
        assert latest["failed_expectations"] == [], latest["failed_expectations"]
        assert latest["success"] is True and latest["quality_score"] == 1.0
        # The suite's expectations and the full-history job's own SQL checks.
        assert latest["evaluated"] == view["expectations"] + len(CHECK_IDS)
        assert view["expectations"] >= 35 and latest["scope"] == "full"
        assert latest["success_percent"] == 100.0 and latest["trigger"] == "manual"
        assert _score("fred") == 1.0

        bad_day = datetime.now(UTC).date() - timedelta(days=3)
        await ingest(sessionmaker, tenant, "fred", [obs("DGS10", bad_day, 500.0)])
        again = await client.post("/v1/admin/external/validation/fred/run", headers=headers)
        assert again.status_code == 202
        view = (await client.get("/v1/admin/external/validation/fred", headers=headers)).json()

    latest = view["latest"]
    assert latest["id"] == again.json()["id"]
    assert latest["success"] is False and latest["has_error_failures"] is True
    failed = {item["id"]: item for item in latest["failed_expectations"]}
    assert failed["fred.DGS10.range"]["severity"] == "error"
    assert 500.0 in failed["fred.DGS10.range"]["observed"]["partial_unexpected_list"]
    # The jump to 500 is also a spike (a warning) in both directions.
    assert failed["fred.DGS10.no_spikes"]["severity"] == "warning"
    spikes = failed["fred.DGS10.no_spikes"]["observed"]
    assert spikes["observed_value"] == 2
    assert {row["obs_date"] for row in spikes["details"]["unexpected_rows"]} == {
        bad_day.isoformat(),
        (bad_day + timedelta(days=1)).isoformat(),
    }
    assert set(failed) == {"fred.DGS10.range", "fred.DGS10.no_spikes"}
    assert [h["id"] for h in view["history"]] == [again.json()["id"], first_id]
    assert view["history"][0]["failed_expectations"] == sorted(failed, key=list(failed).index)

    async with sessionmaker() as session:
        quality = await latest_quality(session, "fred", tenant_id=tenant)
    assert quality is not None and quality.degraded and not quality.success
    assert 0 < quality.score < 1 and _score("fred") == quality.score


def _score(provider: str) -> float | None:
    return REGISTRY.get_sample_value("aurum_external_quality_score", {"provider": provider})


async def test_a_second_run_while_one_runs_is_409_with_the_running_id(
    tenant_settings: Settings, sessionmaker: SM
) -> None:
    app = create_app(tenant_settings)
    headers = bearer(tenant_settings, Role.OPERATOR)
    async with running_app(app) as client:
        resources = app.state.resources
        async with sessionmaker() as session, session.begin():
            running_id = await service.claim(session, resources, "eia", trigger="scheduled")
        refused = await client.post("/v1/admin/external/validation/eia/run", headers=headers)
        assert refused.status_code == 409
        body = refused.json()
        assert body["error"] == "conflict" and body["details"] == {"running_id": str(running_id)}
        assert str(running_id) in body["message"]
        with pytest.raises(service.ValidationRunning):
            await service.run_validation(resources, "eia", trigger="scheduled")
        view = (await client.get("/v1/admin/external/validation/eia", headers=headers)).json()
        assert view["running"]["id"] == str(running_id)
        # Another provider is not blocked by it (no GE run needed to see the claim succeed).
        async with sessionmaker() as session:
            other = await service.claim(session, resources, "noaa", trigger="scheduled")
            await session.rollback()
        assert other != running_id


async def test_a_run_abandoned_by_a_dead_replica_stops_blocking(
    tenant_settings: Settings, sessionmaker: SM
) -> None:
    app = create_app(tenant_settings)
    async with running_app(app):
        resources = app.state.resources
        async with sessionmaker() as session, session.begin():
            stale = await service.claim(session, resources, "noaa", trigger="scheduled")
            await session.execute(
                text(
                    "UPDATE validation_results SET started_at = now() - interval '7 hours' "
                    "WHERE id = :id"
                ),
                {"id": stale},
            )
        async with sessionmaker() as session, session.begin():
            fresh = await service.claim(session, resources, "noaa", trigger="scheduled")
        async with sessionmaker() as session:
            old = await validation_results.get(session, stale)
        assert fresh != stale and old is not None
        assert old.status == "errored" and "abandoned" in (old.error or "")


async def test_unknown_provider_is_404_naming_the_known_ones(settings: Settings) -> None:
    headers = bearer(settings, Role.OPERATOR)
    async with running_app(create_app(settings)) as client:
        for method, path in (
            ("GET", "/v1/admin/external/validation/acme"),
            ("POST", "/v1/admin/external/validation/acme/run"),
        ):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 404, response.text
            body = response.json()
            assert body["error"] == "not_found"
            assert "eia, fred, noaa, worldbank" in body["message"]
            assert body["details"] == {"known": ["eia", "fred", "noaa", "worldbank"]}


async def test_viewers_read_but_cannot_start_a_run(settings: Settings) -> None:
    async with running_app(create_app(settings)) as client:
        viewer = bearer(settings, Role.VIEWER)
        assert (
            await client.get("/v1/admin/external/validation/fred", headers=viewer)
        ).status_code == 200
        refused = await client.post("/v1/admin/external/validation/fred/run", headers=viewer)
        assert refused.status_code == 403
