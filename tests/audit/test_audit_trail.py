"""Every change writes exactly one audit row, in its transaction; the log is read-only.

The first test walks the route table: a new mutating route under /v1/admin or
/runtime-config fails the suite until it has an example here and audits its change."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer, new_api_key
from tests.support.routes import app_routes

Example = Callable[[str], Awaitable[tuple[str, dict[str, Any]]]]  # database_url -> (path, json)


async def _create_key(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/api-keys", {"name": f"audited-{uuid.uuid4().hex[:6]}", "role": "viewer"}


async def _revoke_key(database_url: str) -> tuple[str, dict[str, Any]]:
    _, key_id = await new_api_key(database_url, Role.VIEWER)
    return f"/v1/admin/api-keys/{key_id}", {}


async def _set_flag(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/runtime-config/v1/features/external_read_cache", {
        "enabled": True,
        "configuration": {"ttl_seconds": 900},
    }


async def _reset_flag(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/runtime-config/v1/features/external_read_cache", {}


async def _patch_rate(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/ratelimits/noaa", {"requests_per_second": 2}


async def _reset_quota(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/quotas/fred", {}


async def _patch_budget(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/costs/fred", {"monthly_budget_usd": 4000}


async def _steer_breaker(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/circuit-breakers/eia/force-open", {"ttl_seconds": 1}


async def _legacy_reset(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/admin/reset-circuit-breaker?provider=eia", {}


async def _reload_config(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/config/reload", {}


def _sql(database_url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchone() if "RETURNING" in query else None


async def _pause_job(database_url: str) -> tuple[str, dict[str, Any]]:
    _sql(database_url, "DELETE FROM job_pauses WHERE job_id = 'monitor.cost'")
    return "/v1/admin/external/jobs/monitor.cost/pause", {"reason": "drill", "ttl_seconds": 60}


async def _resume_job(database_url: str) -> tuple[str, dict[str, Any]]:
    _sql(
        database_url,
        "INSERT INTO job_pauses (job_id, paused_by) VALUES ('monitor.cost', 'test') "
        "ON CONFLICT DO NOTHING",
    )
    return "/v1/admin/external/jobs/monitor.cost/resume", {}


async def _trigger_job(database_url: str) -> tuple[str, dict[str, Any]]:
    _sql(database_url, "DELETE FROM job_pauses WHERE job_id = 'monitor.daily_report'")
    return "/v1/admin/external/jobs/monitor.daily_report/trigger", {}


async def _cancel_run(database_url: str) -> tuple[str, dict[str, Any]]:
    row = _sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, trigger, status) "
        "VALUES (gen_random_uuid(), 'monitor.cost', 'manual', 'queued') RETURNING id",
    )
    return f"/v1/admin/external/runs/{row[0]}/cancel", {}


async def _backfill(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/backfill", {
        "providers": [{"name": "fred", "datasets": ["DEXUSEU"]}],
        "start": "2024-09-23",
        "end": "2024-09-23",
    }


async def _run_validation(database_url: str) -> tuple[str, dict[str, Any]]:
    return "/v1/admin/external/validation/worldbank/run", {}


# An outage's own row only: its mitigation (jobs, breaker, flags) writes one row per change,
# tested in tests/outages.
NO_ACTIONS = {"pause_jobs": False, "force_open_breaker": False, "read_cache": False}


async def _declare_outage(database_url: str) -> tuple[str, dict[str, Any]]:
    _sql(database_url, "DELETE FROM provider_outages WHERE provider = 'worldbank'")
    return "/v1/admin/external/outages", {
        "provider": "worldbank", "reason": "drill", "actions": NO_ACTIONS,
    }  # fmt: skip


async def _resolve_outage(database_url: str) -> tuple[str, dict[str, Any]]:
    _sql(database_url, "DELETE FROM provider_outages WHERE provider = 'worldbank'")
    row = _sql(
        database_url,
        "INSERT INTO provider_outages (id, provider, status, reason, declared_by) "
        "VALUES (gen_random_uuid(), 'worldbank', 'open', 'drill', 'test') RETURNING id",
    )
    body = {"force": True, "backfill": False}
    return f"/v1/admin/external/outages/{row[0]}/resolve", body


EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/v1/admin/external/outages"): _declare_outage,
    ("POST", "/v1/admin/external/outages/{outage_id}/resolve"): _resolve_outage,
    ("POST", "/v1/admin/external/jobs/{job_id}/pause"): _pause_job,
    ("POST", "/v1/admin/external/jobs/{job_id}/resume"): _resume_job,
    ("POST", "/v1/admin/external/jobs/{job_id}/trigger"): _trigger_job,
    ("POST", "/v1/admin/external/runs/{run_id}/cancel"): _cancel_run,
    ("POST", "/v1/admin/external/backfill"): _backfill,
    ("POST", "/v1/admin/external/validation/{provider}/run"): _run_validation,
    ("POST", "/v1/admin/external/config/reload"): _reload_config,
    ("PATCH", "/v1/admin/external/ratelimits/{provider}"): _patch_rate,
    ("DELETE", "/v1/admin/external/quotas/{provider}"): _reset_quota,
    ("PATCH", "/v1/admin/external/costs/{provider}"): _patch_budget,
    ("POST", "/v1/admin/external/circuit-breakers/{provider}/{action}"): _steer_breaker,
    ("POST", "/admin/reset-circuit-breaker"): _legacy_reset,
    ("POST", "/v1/admin/api-keys"): _create_key,
    ("DELETE", "/v1/admin/api-keys/{key_id}"): _revoke_key,
    ("POST", "/runtime-config/v1/features/{name}"): _set_flag,
    ("DELETE", "/runtime-config/v1/features/{name}"): _reset_flag,
}


def _mutating_routes(settings: Settings) -> set[tuple[str, str]]:
    return {
        (method, path)
        for method, path in app_routes(settings)
        if method != "GET" and path.startswith(("/v1/admin", "/runtime-config", "/admin/"))
    }


def _audit_rows(database_url: str, request_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        query = (
            "SELECT principal, role, action, target, reason FROM audit_log WHERE request_id = %s"
        )
        return conn.execute(query, (request_id,)).fetchall()


async def test_every_mutating_route_writes_exactly_one_audit_row(
    settings: Settings, database_url: str
) -> None:
    routes = _mutating_routes(settings)
    missing = routes - set(EXAMPLES)
    assert not missing, f"mutating routes with no audit example: {sorted(missing)}"
    headers = bearer(settings, Role.ADMIN, subject="auditor")
    async with client_for(settings) as client:
        for method, template in sorted(routes):
            path, body = await EXAMPLES[(method, template)](database_url)
            request_id = f"audit-{uuid.uuid4().hex}"
            response = await client.request(
                method,
                path,
                json=body or None,
                headers=headers | {"X-Request-ID": request_id, "X-Change-Reason": "drill"},
            )
            assert response.status_code < 300, f"{method} {path}: {response.text}"
            rows = _audit_rows(database_url, request_id)
            assert len(rows) == 1, f"{method} {template} wrote {len(rows)} audit rows"
            principal, role, _, _, reason = rows[0]
            assert (principal, role, reason) == ("jwt:auditor", "admin", "drill")


async def test_a_refused_change_writes_no_audit_row(settings: Settings, database_url: str) -> None:
    request_id = f"audit-{uuid.uuid4().hex}"
    async with client_for(settings) as client:
        response = await client.post(
            "/v1/admin/api-keys",
            json={"name": "", "role": "viewer"},
            headers=bearer(settings, Role.ADMIN) | {"X-Request-ID": request_id},
        )
    assert response.status_code == 422
    assert _audit_rows(database_url, request_id) == []


async def test_audit_is_filtered_and_paginated_by_cursor(
    settings: Settings, database_url: str
) -> None:
    subject = f"pager-{uuid.uuid4().hex[:6]}"
    headers = bearer(settings, Role.ADMIN, subject=subject)
    async with client_for(settings) as client:
        for i in range(5):
            await client.post(
                "/v1/admin/api-keys", json={"name": f"p{i}", "role": "viewer"}, headers=headers
            )
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"principal": f"jwt:{subject}", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/admin/audit", params=params, headers=headers)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 5 and seen == sorted(seen, reverse=True)
        by_action = await client.get(
            "/v1/admin/audit",
            params={"principal": f"jwt:{subject}", "action": "api_key.revoke"},
            headers=headers,
        )
        assert by_action.json()["items"] == []
        window = await client.get(
            "/v1/admin/audit",
            params={"since": "2030-01-01T00:00:00Z", "principal": f"jwt:{subject}"},
            headers=headers,
        )
        assert window.json()["items"] == []


async def test_bad_cursor_and_window_are_422(settings: Settings) -> None:
    headers = bearer(settings, Role.VIEWER)
    async with client_for(settings) as client:
        bad_cursor = await client.get("/v1/admin/audit?cursor=garbage!", headers=headers)
        assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["message"]
        bad_window = await client.get(
            "/v1/admin/audit",
            params={"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
            headers=headers,
        )
        assert bad_window.status_code == 422


async def test_audit_rows_cannot_be_changed_through_the_api(settings: Settings) -> None:
    headers = bearer(settings, Role.ADMIN)
    async with client_for(settings) as client:
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            response = await client.request(method, "/v1/admin/audit", headers=headers)
            assert response.status_code == 405
