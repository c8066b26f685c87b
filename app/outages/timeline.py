"""An outage's timeline, merged from what the service recorded: the outage row (declared,
each applied action with before/after, resolved), its events (breaker and health
transitions, undo, backfill, completeness), the provider's failed, refused and skipped runs
of the window and of the hour before it, the backfill run with its rows, and the audit rows
about the provider.

Sources overlap: the declaration's own audit rows repeat its actions, and the service may
record an action or a resolve as an event too. An entry that another source already shows
is left out, so each step appears once. Every source is read with a limit; a cut source
adds a `note` entry saying so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AuditLog, JobRun, OutageEvent, ProviderOutage
from app.db.repositories import outage_timeline as repo

MAX_ENTRIES = 500
EVENT_LIMIT = 300
RUN_LIMIT = 100
LEAD_UP = timedelta(hours=1)
AUDIT_LIMIT = 100
# An audit row this close to a step the timeline already shows, on the same target, is that
# step's own audit row (written in the same transaction).
SAME_STEP = timedelta(seconds=5)

_ACTION_WORDS = {
    "pause_job": "paused job {target}",
    "force_open_breaker": "forced the {target} circuit breaker open",
    "flag": "turned flag {target} on",
    "fallback": "switched {target} to its mirror",
}


def iso(value: datetime | None) -> str | None:
    """The API's timestamp form: UTC, `Z`."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def audit_target(action: dict[str, Any]) -> str:
    """The audit target a declaration's action is recorded under."""
    kind, target = action.get("action"), str(action.get("target"))
    if kind == "pause_job":
        return f"job:{target}"
    if kind == "force_open_breaker":
        return f"provider:{target}"
    return f"flag:{target}"


def action_summary(action: dict[str, Any], provider: str) -> str:
    template = _ACTION_WORDS.get(str(action.get("action")), "{action} {target}")
    target = provider if action.get("action") == "fallback" else action.get("target")
    text = template.format(target=target, action=action.get("action"))
    return text if action.get("changed", True) else f"{text} (already so: nothing to undo)"


class _Timeline:
    def __init__(self, outage: ProviderOutage) -> None:
        self.outage = outage
        self.entries: list[tuple[datetime, int, dict[str, Any]]] = []
        self.covered: list[tuple[str, datetime]] = []  # (audit target, when) already shown
        self.notes: list[str] = []

    def add(
        self,
        at: datetime | None,
        kind: str,
        summary: str,
        *,
        actor: str | None = None,
        detail: dict[str, Any] | None = None,
        covers: list[str] | None = None,
    ) -> None:
        when = at or self.outage.declared_at or datetime.now(UTC)
        entry = {"at": when, "kind": kind, "actor": actor, "summary": summary,
                 "detail": detail or {}}  # fmt: skip
        self.entries.append((when, len(self.entries), entry))
        self.covered += [(target, when) for target in covers or []]

    def is_covered(self, target: str, at: datetime | None) -> bool:
        if at is None:
            return False
        return any(t == target and abs(at - when) <= SAME_STEP for t, when in self.covered)

    def result(self) -> list[dict[str, Any]]:
        ordered = [entry for _, _, entry in sorted(self.entries, key=lambda e: (e[0], e[1]))]
        if len(ordered) > MAX_ENTRIES - len(self.notes):
            cut = len(ordered) - (MAX_ENTRIES - len(self.notes) - 1)
            ordered = ordered[: MAX_ENTRIES - len(self.notes) - 1]
            self.notes.append(f"{cut} later entries left out (at most {MAX_ENTRIES} are shown)")
        last = ordered[-1]["at"] if ordered else datetime.now(UTC)
        for note in self.notes:
            ordered.append(
                {"at": last, "kind": "note", "actor": None, "summary": note, "detail": {}}
            )
        for entry in ordered:
            entry["at"] = iso(entry["at"])
        return ordered


async def build_timeline(session: AsyncSession, outage: ProviderOutage) -> list[dict[str, Any]]:
    """TimelineEntry dicts {at, kind, actor, summary, detail}, oldest first."""
    timeline = _Timeline(outage)
    start = outage.declared_at or datetime.now(UTC)
    end = outage.resolved_at or datetime.now(UTC)
    events = list(await repo.events(session, outage.id, limit=EVENT_LIMIT))
    if len(events) > EVENT_LIMIT:
        events = events[:EVENT_LIMIT]
        timeline.notes.append(f"only the first {EVENT_LIMIT} recorded events are shown")
    kinds = {event.kind for event in events}
    _outage_row(timeline, outage, events, kinds)
    for event in events:
        _event(timeline, event)
    backfill = None
    if outage.backfill_run_id is not None:
        backfill = await repo.run(session, outage.backfill_run_id)
        if backfill is not None:
            _backfill(timeline, backfill, events)
    # The hour before the declaration: the failed runs that led to it.
    lead_up = start - LEAD_UP
    runs = list(await repo.notable_runs(session, outage.provider, lead_up, end, limit=RUN_LIMIT))
    if len(runs) > RUN_LIMIT:
        runs = runs[:RUN_LIMIT]
        timeline.notes.append(f"only the first {RUN_LIMIT} failed or skipped runs are shown")
    for run in runs:
        if backfill is None or run.id != backfill.id:
            _run(timeline, run)
    rows = list(
        await repo.audit_rows(
            session, outage.provider, outage.id, start, end, limit=AUDIT_LIMIT, shared_from=start
        )
    )
    if len(rows) > AUDIT_LIMIT:
        rows = rows[:AUDIT_LIMIT]
        timeline.notes.append(f"only the first {AUDIT_LIMIT} audit rows are shown")
    for row in rows:
        if not timeline.is_covered(row.target, row.occurred_at):
            _audit(timeline, row)
    return timeline.result()


def _outage_row(
    timeline: _Timeline, outage: ProviderOutage, events: list[OutageEvent], kinds: set[str]
) -> None:
    """Declared, its actions and resolved, unless an event already records them."""
    actions = list(outage.applied_actions or [])
    targets = [f"outage:{outage.id}", *(audit_target(a) for a in actions)]
    if "declared" not in kinds:
        ttl = None
        if outage.expires_at is not None and outage.declared_at is not None:
            ttl = int((outage.expires_at - outage.declared_at).total_seconds())
        timeline.add(
            outage.declared_at, "declared",
            f"{outage.declared_by} declared an outage of {outage.provider}: {outage.reason}",
            actor=outage.declared_by,
            detail={"reason": outage.reason, "ttl_seconds": ttl,
                    "expires_at": iso(outage.expires_at),
                    "requested_actions": outage.requested_actions or {}},
            covers=targets,
        )  # fmt: skip
    else:
        timeline.covered += [(t, outage.declared_at) for t in targets if outage.declared_at]
    recorded = {
        (e.detail.get("action"), e.detail.get("target")) for e in events if e.kind == "action"
    }
    for action in actions:
        if (action.get("action"), action.get("target")) in recorded:
            continue
        timeline.add(
            outage.declared_at, "action", action_summary(action, outage.provider),
            actor=outage.declared_by, detail=dict(action),
        )  # fmt: skip
    if outage.resolved_at is None:
        return
    resolution = outage.resolution or {}
    resolve_targets = [*targets, "backfill"]
    if "resolved" not in kinds and "expired" not in kinds:
        timeline.add(
            outage.resolved_at, "resolved",
            f"{outage.resolved_by or 'someone'} resolved the outage"
            + (f": {outage.resolve_reason}" if outage.resolve_reason else ""),
            actor=outage.resolved_by,
            detail={"reason": outage.resolve_reason, "probe": resolution.get("probe")},
            covers=resolve_targets,
        )  # fmt: skip
    else:
        timeline.covered += [(t, outage.resolved_at) for t in resolve_targets]
    if "undo" not in kinds:
        for item in resolution.get("undone") or []:
            timeline.add(
                outage.resolved_at, "undo", f"undid: {action_summary(item, outage.provider)}",
                actor=outage.resolved_by, detail=dict(item),
            )  # fmt: skip
        for item in resolution.get("left_alone") or []:
            why = f" ({item['reason']})" if item.get("reason") else ""
            timeline.add(
                outage.resolved_at, "undo",
                f"left {item.get('target')} alone: expected {item.get('expected')!r}, "
                f"found {item.get('found')!r}{why}",
                actor=outage.resolved_by, detail=dict(item),
            )  # fmt: skip
    refused = resolution.get("backfill_refused")
    if refused and "backfill" not in kinds:
        timeline.add(
            outage.resolved_at, "backfill",
            f"backfill refused: {refused.get('reason', refused)}",
            actor=outage.resolved_by, detail=dict(refused),
        )  # fmt: skip
    if outage.completeness and "completeness" not in kinds:
        checked = outage.completeness.get("checked_at")
        at = datetime.fromisoformat(checked.replace("Z", "+00:00")) if checked else None
        timeline.add(
            at, "completeness", completeness_summary(outage.completeness),
            actor="system", detail=dict(outage.completeness),
        )  # fmt: skip


def completeness_summary(result: dict[str, Any]) -> str:
    if result.get("error"):
        return f"completeness not established: {result['error']}"
    if result.get("complete"):
        return f"stored data matches the provider for all {result.get('series_checked')} series"
    return (
        f"stored data differs from the provider: {result.get('missing', 0)} missing, "
        f"{result.get('different', 0)} different, in {result.get('series_checked')} series"
    )


def _event(timeline: _Timeline, event: OutageEvent) -> None:
    detail = dict(event.detail or {})
    covers = [str(detail["audit_target"])] if detail.get("audit_target") else []
    if event.kind == "action" and detail.get("action"):
        covers.append(audit_target(detail))
    timeline.add(
        event.at, event.kind, event.summary, actor=event.actor, detail=detail, covers=covers
    )


def _backfill(timeline: _Timeline, run: JobRun, events: list[OutageEvent]) -> None:
    params = run.parameters or {}
    detail = {
        "run_id": str(run.id), "status": run.status,
        "window_start": params.get("start"), "window_end": params.get("end"),
        "rows_new": run.rows_new, "rows_changed": run.rows_changed,
        "rows_rejected": run.rows_rejected, "error": run.error_summary,
    }  # fmt: skip
    queued_event = any(
        e.kind == "backfill" and str(e.detail.get("run_id")) == str(run.id) for e in events
    )
    if not queued_event:
        timeline.add(
            run.created_at, "backfill",
            f"backfill run {run.id} queued for {params.get('start')} .. {params.get('end')}",
            actor=run.trigger, detail=detail, covers=["backfill"],
        )  # fmt: skip
    if run.finished_at is not None:
        outcome = f"{run.rows_new} new, {run.rows_changed} changed rows"
        if run.error_summary:
            outcome += f"; {run.error_summary}"
        timeline.add(
            run.finished_at, "backfill", f"backfill run {run.id} {run.status}: {outcome}",
            actor=run.replica_id, detail=detail,
        )  # fmt: skip


def run_outcome(run: JobRun) -> str:
    """`refused` for a run its circuit breaker let no call through, else its status."""
    if run.error_summary and run.error_summary.startswith("CircuitOpen"):
        return "refused"
    return str(run.status)


def _run(timeline: _Timeline, run: JobRun) -> None:
    outcome = run_outcome(run)
    summary = f"{run.trigger} run of {run.job_id} {outcome}"
    if run.error_summary:
        summary += f": {run.error_summary.splitlines()[0][:300]}"
    timeline.add(
        run.finished_at or run.created_at, "run", summary, actor=run.replica_id,
        detail={"run_id": str(run.id), "job_id": run.job_id, "status": run.status,
                "outcome": outcome, "trigger": run.trigger, "error": run.error_summary},
    )  # fmt: skip


def _audit(timeline: _Timeline, row: AuditLog) -> None:
    summary = f"{row.principal}: {row.action} {row.target}"
    if row.reason:
        summary += f" ({row.reason})"
    timeline.add(
        row.occurred_at, "audit", summary, actor=row.principal,
        detail={"action": row.action, "target": row.target, "before": row.before,
                "after": row.after, "reason": row.reason, "role": row.role},
    )  # fmt: skip
