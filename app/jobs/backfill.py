"""Backfills: validate the request, estimate its cost, compare it with what is left of each
provider's quota and budget (keeping what the live schedule needs), and queue one run per
provider for the leader."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.errors import Conflict, InvalidInput
from app.jobs import control
from app.jobs.scheduler import JobScheduler
from app.providers.config import ProvidersConfig, ProviderSection
from app.providers.estimates import estimate_requests
from app.resilience.guards import ProviderGuards

# Requests per day the live schedule used lately: kept out of a backfill's reach.
_LIVE_NEEDS = text(
    "SELECT coalesce(sum(requests_used), 0) / 7.0 FROM job_runs "
    "WHERE job_id = :job AND trigger = 'scheduled' AND created_at >= now() - interval '7 days'"
)


class BackfillProvider(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="fred, eia, noaa or worldbank")
    datasets: list[str] | None = Field(
        default=None, description="Series ids from the provider file; all when omitted"
    )


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[BackfillProvider] = Field(min_length=1)
    start: date
    end: date
    dry_run: bool = False
    force: bool = Field(default=False, description="Run even if it would exhaust quota/budget")
    reason: str | None = Field(default=None, max_length=1024)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])


# An error names this many configured datasets at most: a provider may configure thousands.
LISTED_DATASETS = 20


def check_datasets(
    provider: str, section: ProviderSection, datasets: list[str], *, field: str
) -> None:
    """A 422 naming `field[j]` for the first dataset the provider file does not configure."""
    configured = section.series_ids
    known = set(configured)
    for j, dataset in enumerate(datasets):
        if dataset not in known:
            shown = ", ".join(configured[:LISTED_DATASETS])
            more = len(configured) - LISTED_DATASETS
            raise _invalid(
                f"{field}[{j}]",
                f"unknown dataset {dataset!r} for {provider}; configured: {shown}"
                + (f" and {more} more (GET /v1/external/series lists them)" if more > 0 else ""),
            )


def validate(body: BackfillRequest, config: ProvidersConfig, max_days: int) -> dict[str, list[str]]:
    """{provider: datasets} or a 422 naming the first field at fault."""
    if body.start > body.end:
        raise _invalid("start", f"must not be after end ({body.start} > {body.end})")
    if body.end > datetime.now(UTC).date():
        raise _invalid("end", "must not be in the future")
    days = (body.end - body.start).days + 1
    if days > max_days:
        raise _invalid("end", f"the window is {days} days; at most {max_days} are allowed")
    chosen: dict[str, list[str]] = {}
    for i, item in enumerate(body.providers):
        section = config.providers.get(item.name)  # type: ignore[call-overload]
        if section is None:
            known = ", ".join(sorted(config.providers))
            raise _invalid(
                f"providers[{i}].name", f"unknown provider {item.name!r}; known: {known}"
            )
        if not section.enabled:
            raise _invalid(f"providers[{i}].name", f"{item.name} is disabled in the provider file")
        if item.name in chosen:
            raise _invalid(f"providers[{i}].name", f"{item.name} is listed twice")
        check_datasets(item.name, section, item.datasets or [], field=f"providers[{i}].datasets")
        chosen[item.name] = list(dict.fromkeys(item.datasets or section.series_ids))
    return chosen


async def estimate(
    session: AsyncSession,
    guards: ProviderGuards,
    config: ProvidersConfig,
    chosen: dict[str, list[str]],
    start: date,
    end: date,
) -> dict[str, dict[str, Any]]:
    """Per provider: requests per dataset, total, quota and budget left, and whether it fits."""
    out: dict[str, dict[str, Any]] = {}
    for provider, datasets in chosen.items():
        section = config.providers[provider]  # type: ignore[index]
        specs = [
            d
            for d, sid in zip(section.datasets, section.series_ids, strict=True)
            if sid in datasets
        ]
        per_dataset = estimate_requests(provider, specs, start, end)
        total = sum(per_dataset.values())
        guard = guards[provider]
        usage = await guard.quota.usage()
        live_needs = math.ceil(
            float(await session.scalar(_LIVE_NEEDS, {"job": f"ingest.{provider}"}) or 0)
        )
        daily_left = usage.daily.remaining
        available = None if daily_left is None else max(0, daily_left - live_needs)
        cost = await guard.cost.report()
        per_request = cost["cost_per_1000_requests_usd"] / 1000
        budget = cost["monthly_budget_usd"]
        budget_left = None if budget is None else max(0.0, budget - cost["spent_usd"])
        cost_usd = total * per_request
        problems = []
        if available is not None and total > available:
            problems.append(
                f"needs {total} requests; {daily_left} are left today and the live schedule "
                f"needs about {live_needs}"
            )
        if budget_left is not None and cost_usd > budget_left:
            problems.append(f"costs ${cost_usd:.4f}; ${budget_left:.4f} of the budget is left")
        out[provider] = {
            "datasets": per_dataset,
            "requests": total,
            "daily_quota_remaining": daily_left,
            "reserved_for_schedule": live_needs,
            "available_requests": available,
            "cost_usd": round(cost_usd, 6),
            "budget_remaining_usd": None if budget_left is None else round(budget_left, 4),
            "fits": not problems,
            "problems": problems,
        }
    return out


def refuse_if_over(estimates: dict[str, dict[str, Any]], force: bool) -> None:
    over = {p: e for p, e in estimates.items() if not e["fits"]}
    if over and not force:
        summary = "; ".join(f"{p}: {', '.join(e['problems'])}" for p, e in over.items())
        raise Conflict(
            f"The backfill would exhaust quota or budget ({summary}). Narrow the window or the "
            'datasets, or send "force": true to run it anyway.',
            details={"estimate": estimates},
        )


async def queue_runs(
    session: AsyncSession,
    audit: AuditContext,
    scheduler: JobScheduler,
    *,
    chosen: dict[str, list[str]],
    estimates: dict[str, dict[str, Any]],
    start: date,
    end: date,
    force: bool,
    reason: str | None,
) -> list[dict[str, Any]]:
    """One queued `ingest.<p>` run per provider for the leader, audited as `job.backfill`."""
    runs = []
    for provider, datasets in chosen.items():
        definition = control.definition_of(scheduler, f"ingest.{provider}")
        run = await control.queue_run(
            session, definition, trigger="backfill",
            parameters={"datasets": datasets, "start": start.isoformat(),
                        "end": end.isoformat(), "forced": force},
            progress={d: {"status": "pending", "rows": 0} for d in datasets},
        )  # fmt: skip
        runs.append(control.run_view(run))
    await record(
        session, audit, action="job.backfill", target="backfill",
        after={"runs": [run["id"] for run in runs], "start": start, "end": end,
               "providers": chosen, "forced": force,
               "requests": {p: e["requests"] for p, e in estimates.items()}},
        reason=reason,
    )  # fmt: skip
    return runs
