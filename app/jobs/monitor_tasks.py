"""Monitoring and maintenance jobs: staleness, full-history quality, cost, the daily report,
retention."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.jobs.context import RunContext, RunCounters
from app.jobs.recovery import abandon_dead_runs
from app.jobs.storage_tasks import delete_in_chunks, expire_observations
from app.outages import service as outages

log = logging.getLogger(__name__)

FRESHNESS_TARGET = timedelta(hours=24)
# Declared outages resolved per run at most (each probes its provider); the rest next run.
EXPIRIES_PER_RUN = 20

# Datasets only: a collector's own marker rows (see is_dataset) are never stale.
_STALE_SERIES = text(
    "SELECT provider, count(*) FROM ingest_checkpoints "
    "WHERE tenant_id = :tenant AND updated_at < now() - make_interval(secs => :seconds) "
    r"AND series_id NOT LIKE '\_%' GROUP BY provider"
)
_DAILY = text(
    "SELECT coalesce(provider, job_id), count(*), "
    "count(*) FILTER (WHERE status = 'failed'), sum(rows_new), sum(rows_changed), "
    "sum(rows_rejected), sum(requests_used) "
    "FROM job_runs WHERE created_at >= now() - interval '24 hours' GROUP BY 1 ORDER BY 1"
)
# Published outbox rows are kept a while (to inspect, or to replay by hand), then deleted;
# an unsent row is never deleted, however old. Oldest first, along the primary key.
_OUTBOX_RETENTION = text(
    "DELETE FROM kafka_outbox WHERE id = ANY(ARRAY("
    "SELECT id FROM kafka_outbox WHERE sent_at < :cutoff ORDER BY id LIMIT :chunk))"
)


async def staleness(ctx: RunContext) -> RunCounters:
    """Abandon runs whose replica died (the leader does too, at every sync: see
    app.jobs.recovery) and count series whose checkpoint has not moved within the freshness
    target. Frequency-aware freshness per dataset is the health and SLA endpoints' job."""
    settings = ctx.resources.settings
    abandoned = await abandon_dead_runs(
        ctx.resources.sessionmaker,
        leader_epoch=None,
        silent_seconds=settings.run_stale_after_seconds,
    )
    async with ctx.resources.sessionmaker() as session:
        stale = (
            await session.execute(
                _STALE_SERIES,
                {"tenant": settings.tenant_id, "seconds": FRESHNESS_TARGET.total_seconds()},
            )
        ).all()
    ctx.counters.progress = {
        "abandoned_runs": [str(run.id) for run in abandoned],
        "series_without_update_24h": {provider: count for provider, count in stale},
    }
    return ctx.counters


async def cost(ctx: RunContext) -> RunCounters:
    guards = ctx.resources.providers.guards
    reports = {name: await guards[name].cost.report() for name in guards.names}
    for name, report in reports.items():
        if report["status"] in {"over", "at_risk"}:
            log.warning("cost of %s is %s its budget", name, report["status"], extra=report)
    ctx.counters.progress = {
        name: {k: report[k] for k in ("spent_usd", "monthly_budget_usd", "status")}
        for name, report in reports.items()
    }
    return ctx.counters


async def daily_report(ctx: RunContext) -> RunCounters:
    async with ctx.resources.sessionmaker() as session:
        rows = (await session.execute(_DAILY)).all()
    report = {
        key: {
            "runs": runs,
            "failed": failed,
            "rows_new": int(new or 0),
            "rows_changed": int(changed or 0),
            "rows_rejected": int(rejected or 0),
            "requests": int(requests or 0),
        }
        for key, runs, failed, new, changed, rejected, requests in rows
    }
    log.info("daily data report", extra={"report": report})
    ctx.counters.progress = report
    return ctx.counters


async def retention(ctx: RunContext) -> RunCounters:
    """Drop observation partitions wholly older than `jobs.retention_days`, delete the older
    rows left in the partition that straddles the horizon, and delete outbox rows sent more
    than `jobs.outbox_retention_days` ago, a chunk per transaction."""
    jobs = ctx.resources.providers.config.jobs
    now = datetime.now(UTC)
    cutoff = (now - timedelta(days=jobs.retention_days)).date()
    sent_before = now - timedelta(days=jobs.outbox_retention_days)
    observations = await expire_observations(ctx, cutoff)
    outbox = await delete_in_chunks(ctx, _OUTBOX_RETENTION, {"cutoff": sent_before})
    ctx.counters.progress = {
        "cutoff": cutoff.isoformat(),
        **observations,
        "outbox_sent_before": sent_before.isoformat(),
        "outbox_deleted": outbox,
    }
    return ctx.counters


async def full_history(ctx: RunContext) -> RunCounters:
    """Every enabled provider's expectation suite over its whole history, in bounded chunks
    (app.quality.full_history; Great Expectations in a worker thread). It claims the `full`
    scope only: collections and their own run-scope validations go on meanwhile."""
    from app.quality.service import ValidationRunning, run_validation

    results: dict[str, str] = {}
    for provider, section in ctx.resources.providers.config.providers.items():
        if not section.enabled:
            continue
        try:
            result_id = await run_validation(
                ctx.resources, provider, trigger="scheduled", run_id=ctx.run_id
            )
            results[provider] = str(result_id)
        except ValidationRunning:
            results[provider] = "already running"
        ctx.checkpoint()
    ctx.counters.progress = {"validation_results": results}
    return ctx.counters


async def outage_expiry(ctx: RunContext) -> RunCounters:
    """Resolve declared outages past their expiry, as `system`, each in its own transaction,
    so a forgotten outage never leaves a feed paused."""
    # Here, not at the top: job control imports the scheduler, which imports these tasks.
    from app.jobs.outage_operations import outage_deps

    deps = outage_deps(ctx.resources)
    expired = []
    for _ in range(EXPIRIES_PER_RUN):
        async with ctx.resources.sessionmaker() as session:
            outcome = await outages.expire_next(session=session, deps=deps)
            if outcome is None:
                break
            await outages.commit(session, outcome, ctx.resources.flags)
        log.info("outage %s of %s expired", outcome.outage.id, outcome.outage.provider)
        expired.append(str(outcome.outage.id))
    ctx.counters.progress = {"expired": expired}
    return ctx.counters
