"""An outage's timeline, merged from the outage row, its events, the provider's runs and the
audit log, each step once, in time order, within the outage's window, and bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import build_sessionmaker
from app.db.models import AuditLog, JobRun, OutageEvent, OutageStatus, ProviderOutage
from app.outages import timeline as timeline_module
from app.outages.timeline import build_timeline


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url)
    made = build_sessionmaker(engine)
    yield made
    async with made() as session, session.begin():
        await session.execute(delete(ProviderOutage))
        await session.execute(delete(JobRun))
        await session.execute(delete(AuditLog))
    await engine.dispose()


async def _store(sessionmaker: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    async with sessionmaker() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


def _run(provider: str, at: datetime, status: str, **fields: Any) -> JobRun:
    return JobRun(
        job_id=fields.pop("job_id", f"ingest.{provider}"), provider=provider,
        trigger=fields.pop("trigger", "scheduled"), status=status, created_at=at,
        started_at=at, finished_at=at + timedelta(seconds=2), replica_id="replica-a", **fields,
    )  # fmt: skip


def _audit(at: datetime, principal: str, action: str, target: str, **fields: Any) -> AuditLog:
    return AuditLog(
        occurred_at=at, principal=principal, role="operator", action=action, target=target,
        **fields,
    )  # fmt: skip


async def test_every_step_once_in_time_order(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    resolved_at = t0 + timedelta(hours=1)
    backfill = _run(
        "eia", resolved_at + timedelta(seconds=1), "succeeded", trigger="backfill",
        parameters={"start": "2026-09-01", "end": "2026-12-07", "datasets": ["a/b:monthly:X"]},
        rows_new=3, rows_changed=7,
    )  # fmt: skip
    actions = [
        {"action": "pause_job", "target": "ingest.eia", "before": False, "after": True,
         "changed": True},
        {"action": "pause_job", "target": "probe.eia", "before": False, "after": True,
         "changed": True},
        {"action": "force_open_breaker", "target": "eia", "before": "closed",
         "after": "forced_open", "changed": True},
        {"action": "flag", "target": "external_read_cache", "before": True, "after": True,
         "changed": False},
    ]  # fmt: skip
    outage = ProviderOutage(
        provider="eia", status=OutageStatus.RESOLVED, reason="EIA 5xx", declared_by="jwt:oncall",
        declared_at=t0, expires_at=t0 + timedelta(hours=4), applied_actions=actions,
        resolved_at=resolved_at, resolved_by="jwt:oncall", resolve_reason="back",
        resolution={
            "probe": {"ok": True, "error": None, "forced": False},
            "undone": [actions[0], actions[1], actions[2]],
            "left_alone": [{"action": "fallback", "target": "provider_fallback",
                            "expected": {"eia": True}, "found": {}}],
            "backfill_refused": None,
        },
        backfill_run_id=backfill.id,
        completeness={"checked_at": (resolved_at + timedelta(minutes=5)).isoformat(),
                      "complete": True, "series_checked": 1, "missing": 0, "different": 0,
                      "details": []},
    )  # fmt: skip
    await _store(sessionmaker, backfill, outage)
    oid = outage.id
    await _store(
        sessionmaker,
        # The service recorded one action as an event too: shown once.
        OutageEvent(outage_id=oid, at=t0, kind="action", actor="jwt:oncall",
                    summary="paused job probe.eia",
                    detail={"action": "pause_job", "target": "probe.eia"}),
        OutageEvent(outage_id=oid, at=t0 + timedelta(minutes=1), kind="health", actor="system",
                    summary="health degraded -> down: breaker forced open"),
        OutageEvent(outage_id=oid, at=t0 + timedelta(minutes=61), kind="breaker",
                    summary="circuit breaker forced_open -> closed"),
        # Runs: failed and refused within the window; the rest are not the timeline's.
        _run("eia", t0 + timedelta(minutes=5), "failed",
             error_summary="CircuitOpen: eia circuit breaker is forced_open"),
        _run("eia", t0 + timedelta(minutes=6), "failed", error_summary="ProviderError: 503"),
        _run("eia", t0 + timedelta(minutes=7), "skipped", job_id="ingest.eia.bulk",
             error_summary="the job's previous run was still running"),
        _run("eia", t0 + timedelta(minutes=8), "succeeded"),
        _run("fred", t0 + timedelta(minutes=9), "failed", error_summary="ProviderError: 500"),
        _run("eia", t0 - timedelta(hours=2), "failed", error_summary="long before the outage"),
        _run("eia", t0 - timedelta(minutes=10), "failed", error_summary="ProviderError: 502"),
        # Audit: the declaration's own rows repeat its actions; another operator's flag
        # change in the window is a step of its own; other providers and times are not.
        _audit(t0, "jwt:oncall", "outage.declare", f"outage:{oid}", reason="EIA 5xx"),
        _audit(t0, "jwt:oncall", "job.pause", "job:ingest.eia", reason="EIA 5xx"),
        _audit(t0 + timedelta(minutes=30), "jwt:other", "flag.set", "flag:provider_fallback",
               reason="try the mirror"),
        _audit(t0 + timedelta(minutes=31), "jwt:other", "breaker.reset", "provider:fred"),
        _audit(t0 - timedelta(minutes=5), "jwt:other", "job.pause", "job:ingest.eia"),
        _audit(resolved_at, "jwt:oncall", "outage.resolve", f"outage:{oid}", reason="back"),
    )  # fmt: skip

    async with sessionmaker() as session:
        stored = await session.get(ProviderOutage, oid)
        assert stored is not None
        entries = await build_timeline(session, stored)

    times = [e["at"] for e in entries]
    assert times == sorted(times)
    assert all(e["at"].endswith("Z") and set(e) == {"at", "kind", "actor", "summary", "detail"}
               for e in entries)  # fmt: skip
    kinds = [e["kind"] for e in entries]
    # The failed run ten minutes before the declaration is its lead-up; two hours before is not.
    assert kinds[:2] == ["run", "declared"] and kinds[-1] == "completeness"
    assert "502" in entries[0]["summary"]
    declared = entries[1]
    assert declared["actor"] == "jwt:oncall" and declared["detail"]["ttl_seconds"] == 4 * 3600
    assert declared["detail"]["reason"] == "EIA 5xx"

    action_targets = [e["detail"]["target"] for e in entries if e["kind"] == "action"]
    assert sorted(action_targets) == ["eia", "external_read_cache", "ingest.eia", "probe.eia"]
    unchanged = next(e for e in entries if e["detail"].get("target") == "external_read_cache")
    assert "nothing to undo" in unchanged["summary"]
    assert unchanged["detail"]["before"] is True and unchanged["detail"]["after"] is True

    runs = [e for e in entries if e["kind"] == "run"][1:]
    assert [r["detail"]["outcome"] for r in runs] == ["refused", "failed", "skipped"]
    assert "refused" in runs[0]["summary"] and "503" in runs[1]["summary"]

    audits = [e for e in entries if e["kind"] == "audit"]
    assert [a["detail"]["target"] for a in audits] == ["flag:provider_fallback"]
    assert audits[0]["actor"] == "jwt:other" and "try the mirror" in audits[0]["summary"]

    resolved = next(e for e in entries if e["kind"] == "resolved")
    assert resolved["detail"]["probe"]["ok"] is True
    undo = [e["summary"] for e in entries if e["kind"] == "undo"]
    assert len(undo) == 4 and any("left provider_fallback alone" in u for u in undo)
    fills = [e for e in entries if e["kind"] == "backfill"]
    assert len(fills) == 2  # queued, then finished with its rows
    assert "3 new, 7 changed rows" in fills[1]["summary"]
    assert fills[1]["detail"]["rows_new"] == 3 and fills[1]["detail"]["rows_changed"] == 7
    assert [e["kind"] for e in entries].count("health") == 1
    assert [e["kind"] for e in entries].count("breaker") == 1
    assert "note" not in kinds


async def test_an_open_outage_runs_to_now_and_a_long_one_is_cut(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    outage = ProviderOutage(
        provider="fred", reason="FRED 5xx", declared_by="jwt:oncall", declared_at=t0
    )
    await _store(sessionmaker, outage)
    events = [
        OutageEvent(outage_id=outage.id, at=t0 + timedelta(seconds=i), kind="breaker",
                    summary=f"transition {i}")
        for i in range(12)
    ]  # fmt: skip
    runs = [
        _run("fred", t0 + timedelta(minutes=1, seconds=i), "failed", error_summary="503")
        for i in range(5)
    ]
    await _store(sessionmaker, *events, *runs)
    monkeypatch.setattr(timeline_module, "EVENT_LIMIT", 10)
    monkeypatch.setattr(timeline_module, "RUN_LIMIT", 3)

    async with sessionmaker() as session:
        entries = await build_timeline(session, outage)

    kinds = [e["kind"] for e in entries]
    assert kinds.count("breaker") == 10 and kinds.count("run") == 3
    assert "resolved" not in kinds
    notes = [e["summary"] for e in entries if e["kind"] == "note"]
    assert len(notes) == 2 and entries[-1]["kind"] == "note"
    assert any("first 10 recorded events" in n for n in notes)

    monkeypatch.setattr(timeline_module, "MAX_ENTRIES", 8)
    async with sessionmaker() as session:
        entries = await build_timeline(session, outage)
    assert len(entries) == 8
    assert any("later entries left out" in e["summary"] for e in entries)
