"""The post-incident check "confirm backfill completeness": once an outage's backfill run has
succeeded, re-read what the provider serves for the backfill's window, through the
provider's collector and the guarded client (quota, rate limit and breaker apply), without
storing anything, and compare it with the stored rows.

`missing`: an observation the provider serves that is not stored. `different`: one whose
stored value is not the provider's (a revision published after the backfill shows here: the
store holds one row per observation, the latest version ingested). The result is stored on
the outage with a `completeness` event. A re-read that fails is retried at the next tick,
up to MAX_ATTEMPTS, then recorded as not established.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import JobRun, ProviderOutage
from app.db.repositories import outage_events
from app.db.repositories import outage_timeline as repo
from app.outages.timeline import completeness_summary, iso
from app.providers.base import CollectContext, Collector
from app.resilience.client import GuardedClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DETAILS_LIMIT = 100
# Rows per batch the collector yields: large, nothing is written between batches.
READ_BATCH = 100_000


@dataclass(frozen=True)
class ProviderSource:
    """Where and how to read a provider, as its collections do (resolved by the caller)."""

    collector: Collector
    client: GuardedClient
    base_url: str
    credential: str | None
    datasets: list[str]  # the series the provider file configures
    mode: str = "live"  # live | sandbox | mirror


SourceFor = Callable[[str], Awaitable[ProviderSource | None]]


def _same(stored: float | None, served: float | None) -> bool:
    if stored is None or served is None:
        return stored is None and served is None
    return math.isclose(stored, served, rel_tol=1e-9, abs_tol=1e-12)


def window_of(outage: ProviderOutage, run: JobRun | None) -> tuple[date, date] | None:
    """The backfill's data window: the outage's, else the run's parameters."""
    if outage.window_start is not None and outage.window_end is not None:
        return outage.window_start.date(), outage.window_end.date()
    params = (run.parameters if run is not None else None) or {}
    try:
        return date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    except (KeyError, TypeError, ValueError):
        return None


def series_of(run: JobRun | None, source: ProviderSource) -> list[str]:
    """The series the backfill covered, else every configured one."""
    covered = (run.parameters if run is not None else None) or {}
    datasets = covered.get("datasets")
    if isinstance(datasets, list) and datasets:
        return [str(d) for d in datasets]
    return list(source.datasets)


async def served(
    source: ProviderSource, series: list[str], start: date, end: date
) -> dict[str, dict[date, float | None]]:
    """What the provider serves for [start, end], per series and observation date; nothing
    is stored (the batches' rows are read, their checkpoints and catalog entries dropped)."""
    ctx = CollectContext(
        client=source.client, base_url=source.base_url, credential=source.credential,
        datasets=series, states={}, now=datetime.now(UTC), batch_size=READ_BATCH,
        start=start, end=end,
    )  # fmt: skip
    out: dict[str, dict[date, float | None]] = {s: {} for s in series}
    async for batch in source.collector.collect(ctx):
        for row in batch.rows:
            if row.obs_date is not None and row.series_id in out:
                out[row.series_id][row.obs_date] = row.value  # the last of duplicates wins
    return out


async def compare(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    provider_rows: dict[str, dict[date, float | None]],
) -> dict[str, Any]:
    """{series_checked, missing, different, complete, details} for the rows the provider
    served (only the dates it served are compared: a period-aligned request may start
    before the window)."""
    missing = different = 0
    details: list[dict[str, Any]] = []
    for series_id, rows in provider_rows.items():
        if not rows:
            details.append({"series": series_id, "served": 0, "missing": 0, "different": 0})
            continue
        stored = await repo.stored_values(
            session, tenant_id=tenant_id, provider=provider, series_id=series_id,
            start=min(rows), end=max(rows),
        )  # fmt: skip
        gone = [d for d in rows if d not in stored]
        off = [d for d, v in rows.items() if d in stored and not _same(stored[d], v)]
        missing += len(gone)
        different += len(off)
        details.append({
            "series": series_id, "served": len(rows), "missing": len(gone),
            "different": len(off),
            "examples": [{"date": d.isoformat(), "stored": stored.get(d), "served": rows[d]}
                         for d in sorted([*gone, *off])[:5]],
        })  # fmt: skip
    # The series with something wrong first, so the bounded list keeps them.
    details.sort(key=lambda d: (not (d["missing"] or d["different"]), d["series"]))
    return {
        "series_checked": len(provider_rows),
        "missing": missing,
        "different": different,
        "complete": missing == 0 and different == 0,
        "details": details[:DETAILS_LIMIT],
        "details_truncated": len(details) > DETAILS_LIMIT,
    }


async def check_outage(
    sessionmaker: async_sessionmaker[AsyncSession],
    outage: ProviderOutage,
    source: ProviderSource,
    *,
    tenant_id: str,
) -> dict[str, Any] | None:
    """Re-read the outage's window and store its completeness; the stored result, or None
    when it was not stored (the backfill has no window, or another replica stored one)."""
    async with sessionmaker() as session:
        run = await repo.run(session, outage.backfill_run_id) if outage.backfill_run_id else None
    window = window_of(outage, run)
    if window is None:
        return await _store(sessionmaker, outage.id, {"error": "the backfill has no window"})
    series = series_of(run, source)
    started = datetime.now(UTC)
    try:
        provider_rows = await served(source, series, *window)
    except Exception as exc:  # the provider may be failing again: try at the next tick
        return await _failed(sessionmaker, outage, f"{type(exc).__name__}: {exc}"[:500])
    async with sessionmaker() as session:
        result = await compare(
            session, tenant_id=tenant_id, provider=outage.provider, provider_rows=provider_rows
        )
    result = {
        "checked_at": iso(datetime.now(UTC)), "started_at": iso(started),
        "window_start": window[0].isoformat(), "window_end": window[1].isoformat(),
        "backfill_run_id": str(outage.backfill_run_id), "source": source.mode, **result,
    }  # fmt: skip
    return await _store(sessionmaker, outage.id, result)


async def _failed(
    sessionmaker: async_sessionmaker[AsyncSession], outage: ProviderOutage, error: str
) -> dict[str, Any] | None:
    """Record the failed attempt; after MAX_ATTEMPTS, store the check as not established."""
    log.warning("completeness check of outage %s failed: %s", outage.id, error,
                extra={"provider": outage.provider, "outage_id": str(outage.id)})  # fmt: skip
    async with sessionmaker() as session, session.begin():
        attempts = await repo.count_events(session, outage.id, kind="completeness") + 1
        await outage_events.add(
            session, outage.id, kind="completeness", actor="system",
            summary=f"completeness check failed (attempt {attempts} of {MAX_ATTEMPTS}): {error}",
            detail={"error": error, "attempt": attempts},
        )  # fmt: skip
    if attempts < MAX_ATTEMPTS:
        return None
    return await _store(
        sessionmaker, outage.id,
        {"error": f"the provider could not be re-read after {attempts} attempts: {error}"},
    )  # fmt: skip


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession], outage_id: uuid.UUID, result: dict[str, Any]
) -> dict[str, Any] | None:
    """Store the result and its event, unless a result is already stored (two leaders in
    turn, or a check that outlived its leadership)."""
    if "error" in result:
        result = {"checked_at": iso(datetime.now(UTC)), "complete": False, "series_checked": 0,
                  "missing": 0, "different": 0, "details": [], **result}  # fmt: skip
    async with sessionmaker() as session, session.begin():
        outage = await repo.get_for_update(session, outage_id)
        if outage is None or isinstance(outage.completeness, dict):
            return None
        outage.completeness = result
        session.add(outage)
        await outage_events.add(
            session, outage_id, kind="completeness", actor="system",
            summary=completeness_summary(result),
            detail={k: v for k, v in result.items() if k != "details"},
        )  # fmt: skip
    return result


async def check_pending(
    sessionmaker: async_sessionmaker[AsyncSession], *, tenant_id: str, source_for: SourceFor
) -> list[uuid.UUID]:
    """Check every outage whose backfill succeeded and whose completeness is unknown; the
    ids checked. One small query when there is none (the job runs every minute)."""
    async with sessionmaker() as session:
        waiting = list(await repo.awaiting_completeness(session))
    checked = []
    for outage in waiting:
        source = await source_for(outage.provider)
        if source is None:
            await _store(
                sessionmaker, outage.id, {"error": f"no collector serves {outage.provider}"}
            )
            continue
        if await check_outage(sessionmaker, outage, source, tenant_id=tenant_id) is not None:
            checked.append(outage.id)
    return checked
