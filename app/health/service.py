"""The health view: everything from state the service already keeps, never a provider call.

Two round-trips, concurrently: one SQL statement returning the PostgreSQL side as JSON
(health_reads.snapshot) and one Redis pipeline for every provider's call log, stored status,
breaker, quota and limiter state; dependencies come from the per-replica cache
(app/health/dependencies.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any

from redis.exceptions import RedisError

from app.db.models import JobRun
from app.db.repositories import health_reads
from app.health import freshness, outage_recorder, status_store
from app.health.dependencies import DependencyCache
from app.health.derive import Facts, Verdict, derive, overall
from app.health.last_known import LastKnown, age_fields
from app.quality.scoring import error_failures
from app.resilience import call_log
from app.resources import Resources


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def run_view(run: JobRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": str(run.id),
        "status": run.status,
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_ms": run.duration_ms,
        "rows_new": run.rows_new,
        "rows_changed": run.rows_changed,
        "rows_rejected": run.rows_rejected,
        "error_summary": run.error_summary,
    }


def json_run_view(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    view = {key: run[key] for key in RUN_FIELDS}
    view["id"] = str(run["id"])
    for key in ("started_at", "finished_at"):
        view[key] = _stamp(run[key])
    return view


RUN_FIELDS = ("id", "status", "trigger", "started_at", "finished_at", "duration_ms", "rows_new",
              "rows_changed", "rows_rejected", "error_summary")  # fmt: skip


def _validation_view(result: Any) -> tuple[dict[str, Any] | None, int]:
    """The latest result's summary and its count of failed error-severity expectations;
    none stored yet is `unknown`, never failing."""
    if result is None:
        return {"status": "unknown", "reason": "no validation results stored yet"}, 0
    failed = result.get("failed_expectations") or []
    errors = error_failures(failed)  # the SLA's pass rate applies the same rule
    percent = result.get("success_percent")
    return {
        "status": result["status"],
        "success": result.get("success"),
        "success_percent": percent,
        "quality_score": None if percent is None else round(percent / 100, 4),
        "failed_error_expectations": errors,
        "failed_expectations": len(failed),
        "finished_at": _stamp(result.get("finished_at")),
    }, errors


async def _database_reads(
    resources: Resources, names: list[str], *, replica: bool = True
) -> dict[str, Any]:
    """One round-trip (health_reads.snapshot), reshaped by job, provider and series. The
    views read the replica when it is fit; a job (`replica=False`) reads the primary, which
    has its own run's writes."""
    sections = resources.providers.config.providers
    configured = [
        (p, str(entry.get("series_id") or entry.get("id")))
        for p in names
        for entry in sections[p].datasets  # type: ignore[index]
    ]
    scope = resources.reads.session() if replica else resources.sessionmaker()
    async with scope as session:
        raw = await health_reads.snapshot(
            session, jobs=[f"ingest.{p}" for p in names], tenant_id=resources.settings.tenant_id,
            datasets=configured,
        )  # fmt: skip
    return {
        "last": {run["job_id"]: run for run in raw["last"]},
        "successes": {job: _parse(at) for job, at in raw["successes"].items()},
        "pauses": {pause["job_id"]: pause for pause in raw["pauses"]},
        "series": {
            (row["provider"], row["series_id"]): [
                date.fromisoformat(row["last_obs_date"]) if row["last_obs_date"] else None,
                _parse(row["updated_at"]),
                row["frequency"],
            ]
            for row in raw["series"]
        },
        "validation": {row["provider"]: row for row in raw["validation"]},
    }


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stamp(value: str | None) -> str | None:
    """A PostgreSQL JSON timestamp as the rest of the API writes it."""
    return _iso(_parse(value))


async def _redis_reads(
    resources: Resources, names: list[str], last_known: LastKnown | None = None
) -> dict[str, Any]:
    """One pipeline for every provider: its call log, stored status, breaker snapshot, quota
    use and limiter state, within AURUM_REDIS_TIMEOUT_SECONDS. A part that is degraded
    (counting in memory because Redis failed) is read through its own method instead. If the
    pipeline fails or times out, each provider shows its last-known state (`last_known`),
    marked stale with its age; one never read is read through its guards' own methods, which
    fall back to per-replica state within their own deadlines."""
    guards = resources.providers.guards
    now = datetime.now(UTC)
    queued: dict[tuple[str, str], int] = {}
    failed = False
    try:
        async with asyncio.timeout(resources.settings.redis_timeout_seconds):
            async with resources.redis.pipeline(transaction=False) as pipe:
                for p in names:
                    pipe.hgetall(call_log.calls_key(p))
                    pipe.get(status_store.status_key(p))
                index = 2 * len(names)
                for p in names:
                    guard = guards[p]
                    for part, queue in (
                        ("breaker", guard.breaker.queue_snapshot),
                        ("limiter", guard.limiter.queue_state),
                    ):
                        if await queue(pipe):
                            queued[(p, part)], index = index, index + 1
                    if guard.quota.queue_usage(pipe, now):
                        queued[(p, "quota")], index = index, index + 1
                replies = await pipe.execute()
    except (RedisError, OSError, TimeoutError):
        replies, queued, failed = [None] * (2 * len(names)), {}, True
    out: dict[str, Any] = {"calls": {}, "stored": {}, "guards": {}, "freshness": {}}

    async def provider(p: str) -> None:
        guard = guards[p]
        reading = last_known.get(p) if failed and last_known is not None else None
        known = reading.guard if reading is not None else {}

        def reply(part: str) -> Any:
            return replies[queued[(p, part)]]

        async def breaker() -> Any:
            if (p, "breaker") in queued:
                return guard.breaker.snapshot_from(reply("breaker"))
            if "breaker" in known and not guard.breaker.degraded:
                return known["breaker"]
            return await guard.breaker.snapshot()

        async def quota() -> Any:
            if (p, "quota") in queued:
                return guard.quota.usage_from(reply("quota"), now)
            if "quota" in known and not guard.quota.degraded:
                return known["quota"]
            return await guard.quota.usage(now=now)

        async def limiter() -> Any:
            if (p, "limiter") in queued:
                return guard.limiter.state_from(reply("limiter"))
            if "limiter" in known and not guard.limiter.degraded:
                return known["limiter"]
            return await guard.limiter.state()

        parts = await asyncio.gather(breaker(), quota(), limiter())
        view = dict(zip(("breaker", "quota", "limiter"), parts, strict=True))
        calls = reading.calls if reading is not None else replies[2 * names.index(p)]
        if not failed and last_known is not None:
            last_known.remember(p, calls, view)
        out["calls"][p] = calls
        out["stored"][p] = replies[2 * names.index(p) + 1]
        out["guards"][p] = view | {"degraded": guard.degraded}
        out["freshness"][p] = age_fields(reading, stale=failed)

    # Concurrently: a guard never read before may wait for its own deadline.
    await asyncio.gather(*(provider(p) for p in names))
    out["failed"] = failed
    return out


def _pause_view(pause: dict[str, Any] | None) -> dict[str, Any] | None:
    if pause is None:
        return None
    return {
        "by": pause["paused_by"],
        "reason": pause["reason"],
        "since": _stamp(pause["paused_at"]),
        "until": _stamp(pause["until"]),
        "automatic": pause["automatic"],
    }


def _sandboxed(resources: Resources) -> set[str]:
    scheduler = resources.scheduler
    return scheduler.targets.sandboxed() if scheduler is not None else set()


def provider_view(
    resources: Resources,
    name: str,
    db: dict[str, Any],
    calls_raw: dict[str, str] | None,
    guard: dict[str, Any],
    sandboxed: set[str],
    now: datetime,
) -> tuple[dict[str, Any], Verdict]:
    section = resources.providers.config.providers[name]  # type: ignore[index]
    job = f"ingest.{name}"
    calls = call_log.parse_calls(calls_raw)
    last_run: dict[str, Any] | None = db["last"].get(job)
    last_success_run = db["successes"].get(job)
    target = freshness.ingest_target_seconds(section.schedule.get("ingest"))
    lag = (now - last_success_run).total_seconds() if last_success_run else None
    catalog = {s: st[2] for (p, s), st in db["series"].items() if p == name}
    frequencies = freshness.configured_frequencies(name, section, catalog)
    datasets = {}
    for series_id, frequency in frequencies.items():
        state = db["series"].get((name, series_id))
        age = freshness.data_age(frequency, state[0] if state else None, now.date())
        datasets[series_id] = age.as_dict() | {"checkpoint_at": _iso(state[1]) if state else None}
    stale = sorted(s for s, d in datasets.items() if d["stale"])
    pause = _pause_view(db["pauses"].get(job))
    validation, error_failures = _validation_view(db["validation"].get(name))
    quota = guard["quota"]
    facts = Facts(
        enabled=section.enabled,
        breaker_state=guard["breaker"]["state"],
        quota_level=quota.level.value,
        paused=pause,
        last_run_status=last_run["status"] if last_run else None,
        ingestion_lag_seconds=lag,
        ingestion_target_seconds=target,
        stale_datasets=stale,
        last_success_epoch=call_log.epoch(calls_raw, "last_success_at"),
        last_error_epoch=call_log.epoch(calls_raw, "last_error_at"),
        now_epoch=now.timestamp(),
        validation_error_failures=error_failures,
        guard_degraded=guard["degraded"],
    )
    verdict = derive(facts)
    breaker = guard["breaker"]
    view = {
        "enabled": section.enabled,
        "mode": _mode(resources, name, section, sandboxed),
        "mirror_url_configured": section.mirror_url is not None,
        "status": verdict.status,
        "reason": verdict.reason,
        "reasons": verdict.reasons,
        "breaker": {
            "state": breaker["state"],
            "changed_at": breaker["changed_at"],
            "open_until": breaker["open_until"],
            "last_failure_reason": breaker["last_failure_reason"],
        },
        **calls,
        "last_successful_ingest_at": _iso(last_success_run),
        "staleness": {
            "ingestion_lag_seconds": None if lag is None else round(lag, 1),
            "target_seconds": target,
            "stale": None if lag is None else lag > target,
            "stale_datasets": stale,
        },
        "quota": {
            "level": quota.level.value,
            "daily": quota.daily.as_dict(),
            "hourly": quota.hourly.as_dict(),
            "projected_exhaustion": _iso(quota.projected_exhaustion),
        },
        "effective_requests_per_second": guard["limiter"].get("effective_requests_per_second"),
        "last_run": json_run_view(last_run),
        "paused": pause,
        # An operator-declared outage (app/outages/board.py): current within a second.
        "outage": resources.outages.get(name) if resources.outages is not None else None,
        "quality": validation,
    }
    return view | {"datasets": datasets}, verdict


async def health(
    resources: Resources, cache: DependencyCache, *, only: str | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    config = resources.providers.config
    names: list[str] = [only] if only else sorted(config.providers)
    now = datetime.now(UTC)
    db, rds, deps = await asyncio.gather(
        _database_reads(resources, names),
        _redis_reads(resources, names, cache.redis_state),
        cache.get(),
    )
    sandboxed = _sandboxed(resources)
    providers: dict[str, Any] = {}
    verdicts: dict[str, Verdict] = {}
    for name in names:
        guard = rds["guards"][name]
        view, verdict = provider_view(
            resources, name, db, rds["calls"][name], guard, sandboxed, now
        )
        providers[name] = view | rds["freshness"][name]
        verdicts[name] = verdict
    if rds["failed"]:
        # This view just saw Redis miss its deadline: say so now, not at the next check.
        timeout = resources.settings.redis_timeout_seconds
        deps["redis"] = {
            "status": "down",
            "latency_ms": None,
            "error": f"no answer within {timeout:g}s (health view)",
            "as_of": _iso(now),
            "age_seconds": 0.0,
            "stale": False,
        }
    else:
        moved = await status_store.write_changed(resources.redis, rds["stored"], verdicts)
        await outage_recorder.record_transitions(resources.sessionmaker, moved)
    if only is None:
        for view in providers.values():
            view.pop("datasets")
    dep_status = {k: v.get("status", "unknown") for k, v in deps.items()}
    status, reason = overall({p: v["status"] for p, v in providers.items()}, dep_status)
    return {
        "status": status,
        "reason": reason,
        "checked_at": _iso(now),
        "providers": providers,
        "dependencies": deps,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }


async def provider_verdict(resources: Resources, name: str) -> Verdict:
    """One provider's status, as the probe job refreshes it (no dependency checks)."""
    now = datetime.now(UTC)
    db, rds = await asyncio.gather(
        _database_reads(resources, [name], replica=False), _redis_reads(resources, [name])
    )
    guard = rds["guards"][name]
    _, verdict = provider_view(
        resources, name, db, rds["calls"][name], guard, _sandboxed(resources), now
    )
    return verdict


def _mode(resources: Resources, name: str, section: Any, sandboxed: set[str]) -> str:
    """Where its collections go: the sandbox, its mirror (the provider_fallback flag, with a
    mirror_url configured), or its live API."""
    if name in sandboxed:
        return "sandbox"
    fallback = resources.flags.snapshot.for_provider("provider_fallback", name, False)
    return "mirror" if fallback and section.mirror_url else "live"
