"""Every series the alerts read, exported by every replica from its start.

An alert over a series that does not exist yet cannot fire: `increase()` misses a counter's
first event when the counter is born with it, and a gauge set only by the leader's next run
(or by an API call) is blind after a restart or a failover. So, at start, each replica
creates every labelled series the rules use (per job id from the job definitions, per provider
and outcome from the provider file) at 0; and every `metrics_refresh_seconds` it re-reads the
state those gauges describe from where it is kept, independent of which replica leads:

- PostgreSQL: the outbox backlog (whether or not Kafka is configured), automatic pauses, each
  dataset's last successful ingest, each provider's latest quality score;
- Redis: each provider's cost this month and its budget;
- the provider file: each provider's quota warning and critical ratios.

Each part is refreshed on its own: one dependency down leaves the others current (and its
gauges at their last value). Values set in between by the process itself (a run, a call)
stay; the last-success gauge only moves forward.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.db.models.ingest import is_dataset
from app.db.repositories import metric_reads
from app.messaging.outbox_relay import OutboxRelay
from app.monitoring import metrics
from app.resilience.retry import Outcome

if TYPE_CHECKING:
    from app.resources import Resources

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 2.0


class MetricsRefresher:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._outbox = OutboxRelay(resources.sessionmaker, None)  # counts, never sends
        self._task: asyncio.Task[None] | None = None
        self._auto_paused: set[str] = set()

    def start(self) -> None:
        self.initialise()
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def aclose(self) -> None:
        """Stop refreshing. Bounded: a read stuck in a client that ignores the cancellation
        must not hold up the replica's shutdown."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_SECONDS)

    def _job_ids(self) -> list[str]:
        scheduler = self._resources.scheduler
        return sorted(scheduler.definitions()) if scheduler is not None else []

    def initialise(self) -> None:
        """Create every labelled series the alert rules read, at 0 (no I/O)."""
        for job_id in self._job_ids():
            metrics.JOB_RUNS_ABANDONED.labels(job_id)
            metrics.JOB_AUTO_PAUSED.labels(job_id).set(1 if job_id in self._auto_paused else 0)
        for provider in self._resources.providers.config.providers:
            for outcome in Outcome:
                metrics.EXTERNAL_REQUESTS.labels(provider, outcome.value)
            metrics.EXTERNAL_REQUEST_DURATION.labels(provider)
            metrics.EXTERNAL_BREAKER_REFUSED.labels(provider)
        self._quota_levels()

    async def refresh_once(self) -> None:
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("outbox", self._outbox_backlog),
            ("pauses", self._pauses),
            ("last success", self._last_successes),
            ("quality", self._quality),
            ("provider guards", self._guards),
        ]
        self.initialise()  # jobs and providers may have changed (config reload)
        for name, part in parts:
            try:
                await part()
            except Exception as exc:  # one dependency down must not stop the others
                log.debug("metrics refresh of %s skipped: %s", name, exc)

    async def _run_forever(self) -> None:
        every = self._resources.settings.metrics_refresh_seconds
        while True:
            await self.refresh_once()
            await asyncio.sleep(every)

    def _quota_levels(self) -> None:
        for guard in self._resources.providers.guards:
            quota = guard.quota.config
            metrics.EXTERNAL_QUOTA_WARN_RATIO.labels(guard.provider).set(quota.warn_ratio)
            metrics.EXTERNAL_QUOTA_CRITICAL_RATIO.labels(guard.provider).set(quota.critical_ratio)

    async def _outbox_backlog(self) -> None:
        await self._outbox.refresh_backlog()

    async def _pauses(self) -> None:
        async with self._resources.sessionmaker() as session:
            self._auto_paused = await metric_reads.automatically_paused(session)
        for job_id in self._job_ids():
            metrics.JOB_AUTO_PAUSED.labels(job_id).set(1 if job_id in self._auto_paused else 0)

    async def _last_successes(self) -> None:
        """Each configured dataset's last successful ingest, as PostgreSQL records it: a new
        leader (or any replica) exports it before its first run."""
        config = self._resources.providers.config
        ingest_jobs = [job_id for job_id in self._job_ids() if job_id.startswith("ingest.")]
        async with self._resources.sessionmaker() as session:
            stored = await metric_reads.dataset_last_successes(
                session, tenant_id=self._resources.settings.tenant_id, ingest_jobs=ingest_jobs
            )
        current = {
            (sample.labels["provider"], sample.labels["dataset"]): sample.value
            for family in metrics.EXTERNAL_DATA_LAST_SUCCESS.collect()
            for sample in family.samples
        }
        # Sets, built once: a provider may configure tens of thousands of datasets.
        configured: dict[str, set[str]] = {
            name: set(section.series_ids) for name, section in config.providers.items()
        }
        for (provider, series_id), at in stored.items():
            section = config.providers.get(provider)  # type: ignore[call-overload]
            if section is None or not section.enabled or not is_dataset(series_id):
                continue
            if configured[provider] and series_id not in configured[provider]:
                continue  # no longer configured: not collected, so not stale either
            if at.timestamp() > current.get((provider, series_id), 0.0):
                metrics.EXTERNAL_DATA_LAST_SUCCESS.labels(provider, series_id).set(at.timestamp())

    async def _quality(self) -> None:
        tenant_id = self._resources.settings.tenant_id
        async with self._resources.sessionmaker() as session:
            scores = await metric_reads.latest_quality_scores(session, tenant_id=tenant_id)
        for provider, score in scores.items():
            if provider in self._resources.providers.config.providers:
                metrics.EXTERNAL_QUALITY_SCORE.labels(provider).set(score)

    async def _guards(self) -> None:
        """Cost and budget (the report sets both gauges). Quota use and breaker state are set
        by every call that goes through them."""
        for guard in self._resources.providers.guards:
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                    await guard.cost.report()
            except Exception as exc:
                log.debug("metrics refresh of %s's guards skipped: %s", guard.provider, exc)
