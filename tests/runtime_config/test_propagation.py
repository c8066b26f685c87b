"""Flags reach every replica: two app instances on one PostgreSQL and Redis, each with its own
replica id, as two pods would be."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg
from fastapi import FastAPI

from app.audit.service import AuditContext
from app.auth.principal import SYSTEM, Role
from app.db.engine import libpq_url
from app.main import create_app
from app.runtime_config import service
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer

URL = "/runtime-config/v1/features"


@asynccontextmanager
async def replica(
    settings: Settings, name: str, **changes: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings.model_copy(update={"replica_id": name, **changes}))
    async with running_app(app) as client:
        yield app, client


async def _until(predicate, within: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < within, f"not within {within} s"
        await asyncio.sleep(0.002)
    return time.monotonic() - started


async def test_a_change_on_one_replica_is_applied_on_the_other_well_within_a_second(
    settings: Settings,
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    # A reconcile period far longer than the test: only pub/sub can deliver in time.
    slow = {"flags_reconcile_seconds": 60.0}
    async with (
        replica(settings, "pod-a", **slow) as (_, a),
        replica(settings, "pod-b", **slow) as (app_b, _),
    ):
        snapshot_b = app_b.state.resources.flags.snapshot
        response = await a.post(
            f"{URL}/external_ingest",
            json={"enabled": True, "configuration": {"batch_size": 321}},
            headers=operator,
        )
        version = response.json()["version"]
        took = await _until(lambda: snapshot_b.get("external_ingest").version >= version, 1.0)
        assert took < 0.5
        assert snapshot_b.configuration("external_ingest")["batch_size"] == 321  # type: ignore[index]

        waited = await a.post(
            f"{URL}/external_ingest?wait=true",
            json={"enabled": True, "configuration": {"batch_size": 322}},
            headers=operator,
        )
        propagation = waited.json()["propagation"]
        assert propagation["complete"] is True
        assert propagation["applied"] == propagation["live_replicas"] >= 2

        status = await a.get("/runtime-config/v1/status", headers=bearer(settings, Role.VIEWER))
        body = status.json()
        replicas = {r["replica_id"]: r for r in body["replicas"]}
        assert {"pod-a", "pod-b"} <= set(replicas)
        assert replicas["pod-b"]["flags"]["external_ingest"] == waited.json()["version"]
        assert replicas["pod-b"]["applied_at"] and replicas["pod-b"]["in_sync"] is True


async def test_a_lost_message_is_reconciled_from_postgres(settings: Settings) -> None:
    async with replica(settings, "pod-r", flags_reconcile_seconds=0.2) as (app, _):
        snapshot = app.state.resources.flags.snapshot
        # Written to PostgreSQL with no publish at all: as if the message were dropped.
        async with app.state.resources.sessionmaker() as session, session.begin():
            flag = await service.set_flag(
                session,
                AuditContext(principal=SYSTEM),
                "provider_fallback",
                enabled=True,
                configuration={"eia": True},
            )
        await _until(lambda: snapshot.get("provider_fallback").version >= flag["version"], 3.0)
        assert snapshot.for_provider("provider_fallback", "eia", False) is True


async def test_ttl_expiry_reverts_once_across_replicas_and_audits_as_system(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    fast = {"flags_reconcile_seconds": 0.2}
    async with (
        replica(settings, "pod-x", **fast) as (app_x, x),
        replica(settings, "pod-y", **fast) as (app_y, _),
    ):
        before = (await x.get(f"{URL}/api_rate_limit", headers=operator)).json()
        temporary = await x.post(
            f"{URL}/api_rate_limit",
            json={"enabled": True, "configuration": {"rps": 7}, "ttl_seconds": 1},
            headers=operator,
        )
        assert temporary.status_code == 200, temporary.text
        version = temporary.json()["version"]
        snapshot_y = app_y.state.resources.flags.snapshot
        # Reverted by whichever replica got there first, and applied on both.
        await _until(lambda: snapshot_y.get("api_rate_limit").version > version, 5.0)
        await _until(
            lambda: app_x.state.resources.flags.snapshot.get("api_rate_limit").version > version,
            2.0,
        )
        after = (await x.get(f"{URL}/api_rate_limit", headers=operator)).json()
    assert after["enabled"] == before["enabled"] and after["expires_at"] is None
    assert after["version"] == version + 1  # reverted exactly once
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT principal, reason FROM audit_log WHERE action = 'flag.expire' "
            "AND target = 'flag:api_rate_limit' AND after->>'version' = %s",
            (str(version + 1),),
        ).fetchall()
    assert rows == [("system", "ttl expired")]


async def test_api_rate_limit_changes_the_inbound_limit_on_every_replica(
    settings: Settings,
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    viewer = bearer(settings, Role.VIEWER, subject="noisy-consumer")
    async with (
        replica(settings, "pod-l1") as (_, one),
        replica(settings, "pod-l2") as (
            app_two,
            two,
        ),
    ):
        limiter = app_two.state.resources.rate_limiter
        try:
            await one.post(
                f"{URL}/api_rate_limit?wait=true",
                json={"enabled": True, "configuration": {"rps": 2}},
                headers=operator,
            )
            assert limiter.override is not None and limiter.override.amount == 2
            statuses = [
                (await two.get("/v1/admin/whoami", headers=viewer)).status_code for _ in range(6)
            ]
            assert 429 in statuses
            await one.post(
                f"{URL}/api_rate_limit?wait=true", json={"enabled": False}, headers=operator
            )
            assert limiter.override is None
        finally:
            await one.delete(f"{URL}/api_rate_limit", headers=operator)


async def test_a_replica_whose_subscription_is_killed_catches_up(
    settings: Settings, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    operator = bearer(settings, Role.OPERATOR)
    async with (
        replica(settings, "pod-w", flags_reconcile_seconds=60.0) as (_, writer),
        replica(settings, "pod-k", flags_reconcile_seconds=60.0) as (app_k, _),
    ):
        flags_k = app_k.state.resources.flags
        await asyncio.wait_for(flags_k.subscribed.wait(), 5)
        admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            clients = await admin.client_list(_type="pubsub")
            ids = [c["id"] for c in clients if c.get("name") == flags_k.subscriber_name]
            assert len(ids) == 1
            await admin.execute_command("CLIENT", "KILL", "ID", ids[0])
        finally:
            await admin.aclose()
        response = await writer.post(
            f"{URL}/provider_enabled",
            json={"enabled": True, "configuration": {"worldbank": False}},
            headers=operator,
        )
        version = response.json()["version"]
        try:
            # The reconcile period is 60 s: the resubscription's own reconcile delivers it.
            await _until(lambda: flags_k.snapshot.get("provider_enabled").version >= version, 5.0)
        finally:
            await writer.delete(f"{URL}/provider_enabled", headers=operator)
