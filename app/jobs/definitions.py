"""Which jobs exist, with stable dotted ids, derived from the provider file and settings.

Every replica derives the same list, so any replica can answer `GET /jobs` (schedule, next
run) without asking the leader; only the leader runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from apscheduler.triggers.base import BaseTrigger

from app.jobs.triggers import parse_schedule
from app.providers.config import ProvidersConfig


class JobKind(StrEnum):
    INGEST = "ingest"
    INGEST_BULK = "ingest_bulk"
    PROBE = "probe"
    STALENESS = "monitor.staleness"
    QUALITY = "quality.full_history"
    COST = "monitor.cost"
    DAILY_REPORT = "monitor.daily_report"
    OUTAGE_EXPIRY = "monitor.outage_expiry"
    RETENTION = "maintenance.retention"
    PARTITIONS = "maintenance.partitions"
    OUTBOX_RELAY = "outbox.relay"
    OUTAGE_COMPLETENESS = "monitor.outage_completeness"


QUALITY_JOB = "quality.full_history"
# Old job ids still accepted wherever a job is named (routes, the CLI, runbooks): the hourly
# quality job was `monitor.quality` before validation after an ingest read only that run's
# rows and the job took over the whole history.
JOB_ALIASES = {"monitor.quality": QUALITY_JOB}


def canonical_job_id(job_id: str) -> str:
    return JOB_ALIASES.get(job_id, job_id)


@dataclass(frozen=True)
class JobDefinition:
    id: str
    kind: JobKind
    schedule: str
    description: str
    provider: str | None = None
    # Probes (every minute) and the relay (every second) keep no run records: metrics cover
    # them, and a record per tick would bury the runs operators look for.
    records_runs: bool = True
    # Run once as soon as a replica starts leading (sandbox collections show data at once).
    run_at_start: bool = False

    @property
    def trigger(self) -> BaseTrigger:
        return parse_schedule(self.schedule)


def job_definitions(
    config: ProvidersConfig, *, sandbox_providers: set[str], sandbox_interval_seconds: int
) -> dict[str, JobDefinition]:
    jobs: list[JobDefinition] = []
    for name, section in config.providers.items():
        if not section.enabled:
            continue  # the allow-list: a disabled provider has no jobs
        sandboxed = name in sandbox_providers and sandbox_interval_seconds > 0
        ingest = (
            f"every {sandbox_interval_seconds}s" if sandboxed else section.schedule.get("ingest")
        )
        if ingest:
            jobs.append(
                JobDefinition(
                    f"ingest.{name}",
                    JobKind.INGEST,
                    ingest,
                    f"Collect changed {section.display_name} series",
                    provider=name,
                    run_at_start=sandboxed,
                )
            )
        if bulk := section.schedule.get("bulk"):
            jobs.append(
                JobDefinition(
                    f"ingest.{name}.bulk",
                    JobKind.INGEST_BULK,
                    bulk,
                    f"Full refresh of every configured {name.upper()} series (bulk)",
                    provider=name,
                )
            )
        jobs.append(
            JobDefinition(
                f"probe.{name}",
                JobKind.PROBE,
                config.jobs.probe,
                "A cheap request that feeds breaker recovery and health",
                provider=name,
                records_runs=False,
            )
        )
    cadence = config.jobs
    jobs += [
        JobDefinition("monitor.staleness", JobKind.STALENESS, cadence.staleness,
                      "Flag series past their freshness target; abandon runs of dead replicas"),
        JobDefinition(QUALITY_JOB, JobKind.QUALITY, cadence.quality,
                      "Validate every provider's whole history, in bounded chunks"),
        JobDefinition("monitor.cost", JobKind.COST, cadence.cost,
                      "Compare request cost with each provider's monthly budget"),
        JobDefinition("monitor.daily_report", JobKind.DAILY_REPORT, cadence.daily_report,
                      "Log the daily data report: rows, runs, failures, cost per provider"),
        JobDefinition("monitor.outage_expiry", JobKind.OUTAGE_EXPIRY, cadence.outage_expiry,
                      "Resolve declared outages past their ttl_seconds (as system)",
                      records_runs=False),
        JobDefinition("maintenance.partitions", JobKind.PARTITIONS, cadence.partitions,
                      f"Create observation partitions {cadence.partitions_ahead_years} years "
                      "ahead; move rows out of the DEFAULT partition"),
        JobDefinition("maintenance.retention", JobKind.RETENTION, cadence.retention,
                      f"Drop observation partitions (delete rows) older than "
                      f"{cadence.retention_days} days"),
        JobDefinition("outbox.relay", JobKind.OUTBOX_RELAY,
                      f"every {max(1, round(cadence.outbox_relay_seconds))}s",
                      "Publish committed outbox rows to Kafka", records_runs=False),
        JobDefinition("monitor.outage_completeness", JobKind.OUTAGE_COMPLETENESS,
                      cadence.outage_completeness,
                      "Compare stored data with the provider's after an outage's backfill",
                      records_runs=False),
    ]  # fmt: skip
    return {job.id: job for job in jobs}
