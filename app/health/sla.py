"""The SLA view over a window (24h, 7d, 30d): per provider, per dataset and overall.

- freshness: the ingestion lag sampled at every hour of the window (time since the last
  successful ingest run; per dataset, runs that finished that dataset): p50, p95 and the share
  of samples within the provider's ingest target (24 h, or the schedule interval + 1 h when it
  runs less often); met when that share is at least 99 %.
- request success rate: successes / attempts from the guarded client's hourly counters; 98 %.
- validation pass rate: completed validation runs that passed / completed runs; 95 %. A run
  passes when no error-severity expectation failed (warnings never fail it): the rule health
  applies, app/quality/scoring.run_passed.
- cost: the month-end projection within the budget + 10 %.
- completeness: distinct observation periods present / expected, per dataset (frequency-aware,
  see app/health/freshness.expected_periods); the provider's is its worst dataset's; 99 %.

A measure with nothing to measure (no runs, no calls, no validation yet, no budget, no period
due) is `null` with `met: null`: unknown, not failing.

Freshness and the per-dataset figures come from app/health/sla_datasets.py, which reads the
aggregates the ingest keeps (never the window's observations); the request counters are
summed inside Redis. So the view's cost follows the configured datasets, not the history.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError

from app.db.repositories import validation_reads
from app.health.sla_datasets import COMPLETENESS_TARGET, measure, provider_figures
from app.quality.scoring import run_passed
from app.resilience import call_log
from app.resources import Resources

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
REQUEST_TARGET = 0.98
VALIDATION_TARGET = 0.95
COST_TOLERANCE = 0.10


async def _provider(
    resources: Resources, name: str, start: datetime, now: datetime, pass_counts: Any
) -> dict[str, Any]:
    section = resources.providers.config.providers[name]  # type: ignore[index]
    hours = math.ceil((now - start).total_seconds() / 3600)
    async with resources.reads.session() as session:
        provider_fresh, datasets = await provider_figures(
            session, tenant_id=resources.settings.tenant_id, name=name, section=section,
            start=start, now=now,
        )  # fmt: skip
    guard = resources.providers.guards[name]
    # Concurrently: a stalled Redis costs the view one deadline (AURUM_REDIS_TIMEOUT_SECONDS).
    calls, cost = await asyncio.gather(
        _hours(resources, name, hours, now), guard.cost.report(now=now), return_exceptions=True
    )
    if isinstance(cost, BaseException):
        raise cost
    if isinstance(calls, RedisError | OSError):  # unknown while Redis is unreachable, not failing
        ok = failed = 0
    elif isinstance(calls, BaseException):
        raise calls
    else:
        ok, failed = calls
    passed, total = pass_counts.get(name, (0, 0))
    completeness_values = [
        d["completeness"]["value"]
        for d in datasets.values()
        if d["completeness"]["value"] is not None
    ]
    budget = cost["monthly_budget_usd"]
    cost_ratio = cost["projected_month_end_usd"] / budget if budget else None
    return {
        "freshness": provider_fresh,
        "request_success_rate": measure(ok / (ok + failed) if ok + failed else None, REQUEST_TARGET)
        | {"attempts": ok + failed},
        "validation_pass_rate": measure(passed / total if total else None, VALIDATION_TARGET)
        | {"runs": total},
        "cost": measure(cost_ratio, 1 + COST_TOLERANCE, higher_is_better=False)
        | {"projected_month_end_usd": cost["projected_month_end_usd"], "budget_usd": budget},
        "completeness": measure(
            min(completeness_values) if completeness_values else None, COMPLETENESS_TARGET
        ),
        "datasets": datasets,
    }


async def _hours(resources: Resources, name: str, hours: int, now: datetime) -> tuple[int, int]:
    return await call_log.window_totals(resources.redis, name, hours, now)


def _overall(providers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for objective in ("freshness", "request_success_rate", "validation_pass_rate", "cost",
                      "completeness"):  # fmt: skip
        mets = [p[objective]["met"] for p in providers.values()]
        known = [m for m in mets if m is not None]
        out[objective] = {
            "met": all(known) if known else None,
            "providers_missed": sorted(
                name for name, p in providers.items() if p[objective]["met"] is False
            ),
        }
    return out


async def sla(resources: Resources, window: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    start = now - WINDOWS[window]
    config = resources.providers.config
    names = sorted(p for p, s in config.providers.items() if s.enabled)
    async with resources.reads.session() as session:
        runs = await validation_reads.completed_failures(
            session, since=start, tenant_id=resources.settings.tenant_id
        )
    counts: dict[str, tuple[int, int]] = {}
    for provider, failed in runs:
        passed, total = counts.get(provider, (0, 0))
        counts[provider] = (passed + run_passed(failed), total + 1)
    views = await asyncio.gather(*(_provider(resources, p, start, now, counts) for p in names))
    providers = dict(zip(names, views, strict=True))
    return {
        "window": window,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": now.isoformat().replace("+00:00", "Z"),
        "overall": _overall(providers),
        "providers": providers,
    }
