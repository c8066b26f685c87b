"""The resolve's steps: the breaker back first (the probe cannot pass a breaker the outage
holds open), the probe, then undo what is still as the declaration left it, and queue the
backfill of the outage window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from app.audit.service import record
from app.db.models import OutageStatus, ProviderOutage
from app.db.repositories import outage_events as events
from app.db.repositories import outages as repo
from app.errors import AurumError, Conflict
from app.outages import actions as act
from app.outages.context import OutageDeps, Outcome
from app.outages.views import outage_view
from app.outages.window import backfill_window
from app.runtime_config import service as flags

ANOTHER_OUTAGE = "another outage is open"


def _verdict(item: dict[str, Any], found: dict[str, Any]) -> str:
    """undo: still as the outage left it; already: someone put it back; left: someone changed it."""
    if act.still_as(item["action"], found, item["after"]):
        return "undo"
    if act.still_as(item["action"], found, item["before"]):
        return "already"
    return "left"


def _entry(item: dict[str, Any], found: Any = None, **extra: Any) -> dict[str, Any]:
    entry = {"action": item["action"], "target": item["target"]}
    if found is not None:
        entry |= {"expected": item["after"], "found": found}
    return entry | extra


async def _current(steps: act.Steps, item: dict[str, Any]) -> dict[str, Any]:
    kind = item["action"]
    if kind == "pause_job":
        return await act.job_state(steps.session, item["target"])
    if kind == "flag":
        return act.flag_state(await flags.get_flag(steps.session, act.READ_CACHE))
    return act.fallback_state(await flags.get_flag(steps.session, act.FALLBACK), steps.provider)


async def _undo(steps: act.Steps, item: dict[str, Any]) -> None:
    kind = item["action"]
    if kind == "pause_job":
        await act.resume_job(steps, item["target"])
    elif kind == "flag":
        await act.restore_read_cache(steps, item["before"])
    else:
        await act.restore_fallback(steps, item["before"])


async def _breaker_back(
    steps: act.Steps, outage: ProviderOutage, deps: OutageDeps, undone: list[Any], left: list[Any]
) -> None:
    breaker = deps.guards[outage.provider].breaker
    for item in outage.applied_actions or []:
        if item["action"] != "force_open_breaker" or not item["changed"]:
            continue
        found = act.breaker_state(await breaker.snapshot())
        if breaker.degraded:  # this replica's memory says nothing of the shared state
            raise act.redis_down(outage.provider, "closed")
        verdict = _verdict(item, found)
        if verdict == "undo":
            await act.restore_breaker(breaker, item["before"], steps)
            if breaker.degraded:
                raise act.redis_down(outage.provider, "closed")
            left_seconds = (outage.expires_at or datetime.now(UTC)) - datetime.now(UTC)
            ttl = max(60.0, left_seconds.total_seconds())

            async def reopen(ttl: float = ttl) -> None:
                await breaker.force_open(
                    actor=steps.audit.principal.id, reason=steps.reason, ttl_seconds=ttl
                )

            steps.change.compensations.append(reopen)
            await record(
                steps.session, steps.audit, action="breaker.reset",
                target=f"provider:{outage.provider}", before={"state": found["state"]},
                after={"state": item["before"]["state"]},
            )  # fmt: skip
            undone.append(_entry(item))
        elif verdict == "already":
            left.append(_entry(item, found, reason="already put back by someone else meanwhile"))
        else:
            left.append(_entry(item, found, reason="changed by someone else meanwhile"))


async def _probe(steps: act.Steps, provider: str, force: bool) -> dict[str, Any]:
    probe = await steps.ops.probe(provider)
    ok = probe.get("outcome") == "succeeded"
    if not ok and not force:
        raise Conflict(
            f"The probe of {provider} still fails ({probe.get('outcome')}): "
            f'{probe.get("error")}. Resolve when it passes, or send "force": true.',
            details={"probe": probe},
        )
    outcome = probe.get("outcome")
    return {"ok": ok, "error": probe.get("error"), "forced": not ok, "outcome": outcome}


async def _undo_db(
    steps: act.Steps, outage: ProviderOutage, undone: list[Any], left: list[Any]
) -> None:
    others = [o for o in await repo.open_outages(steps.session) if o.id != outage.id]
    heir = next((o for o in others if (o.requested_actions or {}).get("read_cache")), None)
    for item in outage.applied_actions or []:
        if item["action"] == "force_open_breaker" or not item["changed"]:
            continue
        found = await _current(steps, item)
        verdict = _verdict(item, found)
        if verdict == "undo" and item["action"] == "flag" and heir is not None:
            # The other outage now undoes it when it resolves, to what it was before both.
            heir.applied_actions = [
                a | {"changed": True, "before": item["before"], "after": found}
                if a["action"] == "flag" else a
                for a in heir.applied_actions or []
            ]  # fmt: skip
            steps.session.add(heir)
            await events.add(
                steps.session, heir.id, kind="action", actor=steps.audit.principal.id,
                summary=f"flag {act.READ_CACHE}: handed over by the outage of "
                f"{outage.provider} as it resolved; this outage turns it off when it resolves",
                detail={"action": "flag", "target": act.READ_CACHE, "from_outage": str(outage.id)},
            )  # fmt: skip
            left.append(_entry(item, found, reason=ANOTHER_OUTAGE, outage_id=str(heir.id)))
        elif verdict == "undo":
            await _undo(steps, item)
            undone.append(_entry(item))
        elif verdict == "already":
            left.append(_entry(item, found, reason="already put back by someone else meanwhile"))
        else:
            left.append(_entry(item, found, reason="changed by someone else meanwhile"))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


async def _backfill(
    steps: act.Steps, outage: ProviderOutage, deps: OutageDeps, wanted: bool
) -> dict[str, Any] | None:
    section = deps.config.providers[outage.provider]  # type: ignore[index]
    declared = outage.declared_at or datetime.now(UTC)
    start, end = backfill_window(
        outage.provider, section, declared, datetime.now(UTC).date(), deps.backfill_max_days
    )
    outage.window_start, outage.window_end = _midnight(start), _midnight(end)
    if not wanted:
        return None
    try:
        async with steps.session.begin_nested():
            outage.backfill_run_id = await steps.ops.queue_backfill(
                steps.session, steps.audit, outage.provider,
                start=start, end=end, reason=steps.reason,
            )  # fmt: skip
    except AurumError as exc:
        return {"reason": exc.message, "status": exc.status_code, "details": exc.details}
    return None


async def undo_actions(
    steps: act.Steps,
    outage: ProviderOutage,
    deps: OutageDeps,
    *,
    reason: str | None,
    backfill: bool,
    force: bool,
    expired: bool,
) -> Outcome:
    actor = steps.audit.principal.id
    undone: list[dict[str, Any]] = []
    left: list[dict[str, Any]] = []
    await _breaker_back(steps, outage, deps, undone, left)
    probe = await _probe(steps, outage.provider, force)
    before = outage_view(outage)
    await _undo_db(steps, outage, undone, left)
    refused = await _backfill(steps, outage, deps, backfill)
    outage.status = OutageStatus.RESOLVED
    outage.resolved_at = datetime.now(UTC)
    outage.resolved_by = actor
    outage.resolve_reason = reason
    outage.resolution = {
        "probe": probe, "undone": undone, "left_alone": left, "backfill_refused": refused,
    }  # fmt: skip
    steps.session.add(outage)
    await steps.session.flush()
    for entry in undone:
        await events.add(
            steps.session, outage.id, kind="undo", actor=actor, detail=entry,
            summary=f"{entry['action']} {entry['target']}: {entry.get('note', 'undone')}",
        )  # fmt: skip
    for entry in left:
        await events.add(
            steps.session, outage.id, kind="undo", actor=actor, detail=entry,
            summary=f"{entry['action']} {entry['target']}: left alone ({entry['reason']})",
        )  # fmt: skip
    if backfill:
        summary = (
            f"backfill refused: {refused['reason']}"
            if refused
            else f"backfill queued for {outage.window_start:%Y-%m-%d}..{outage.window_end:%Y-%m-%d}"
        )
        detail = {"run_id": str(outage.backfill_run_id) if outage.backfill_run_id else None}
        await events.add(
            steps.session, outage.id, kind="backfill", actor=actor, summary=summary,
            detail=detail | {"refused": refused},
        )  # fmt: skip
    kind = "expired" if expired else "resolved"
    await events.add(
        steps.session, outage.id, kind=kind, actor=actor, detail={"probe": probe},
        summary=f"outage of {outage.provider} {kind}" + (f": {reason}" if reason else ""),
    )  # fmt: skip
    await record(
        steps.session, steps.audit, action=f"outage.{'expire' if expired else 'resolve'}",
        target=f"outage:{outage.id}", before=before, after=outage_view(outage),
    )  # fmt: skip
    return Outcome(outage, steps.change)
