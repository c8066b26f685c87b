"""Each mitigation an outage applies, and its undo, through the services that own them: job
control (through the ports), the circuit breaker, runtime flags. Every action is kept as
`{action, target, before, after, changed}`; `changed` false means it was already so, and the
resolve leaves it alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.db.repositories import jobs as job_repo
from app.errors import ServiceUnavailable
from app.outages.ports import OutageOperations
from app.resilience.breaker import CircuitBreaker
from app.runtime_config import service as flags
from app.runtime_config.snapshot import FlagState

READ_CACHE = "external_read_cache"
FALLBACK = "provider_fallback"
# What each kind of action compares to tell whether it is still as the outage left it.
COMPARED = {
    "pause_job": ("paused", "since"),
    "force_open_breaker": ("state",),
    "flag": ("enabled", "configuration"),
    "fallback": ("enabled", "value"),
}


@dataclass
class Change:
    """What a declaration or a resolve did beyond its transaction: the flags to publish once
    it commits, and how to take back its Redis-side changes if it does not."""

    flags: list[FlagState] = field(default_factory=list)
    compensations: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def compensate(self) -> None:
        for undo in reversed(self.compensations):
            await undo()
        self.compensations.clear()


@dataclass
class Steps:
    """The context every action runs in."""

    session: AsyncSession
    audit: AuditContext  # carries the outage's reason
    ops: OutageOperations
    provider: str
    change: Change

    @property
    def reason(self) -> str:
        return self.audit.reason or ""


def action(kind: str, target: str, before: Any, after: Any) -> dict[str, Any]:
    changed = still_as(kind, before, after) is False
    return {
        "action": kind,
        "target": target,
        "before": to_jsonable_python(before),
        "after": to_jsonable_python(after),
        "changed": changed,
    }


def still_as(kind: str, found: Any, expected: Any) -> bool:
    keys = COMPARED[kind]
    found, expected = to_jsonable_python(found), to_jsonable_python(expected)
    return all(found.get(key) == expected.get(key) for key in keys)


# -- jobs ------------------------------------------------------------------------------------


async def job_state(session: AsyncSession, job_id: str) -> dict[str, Any]:
    pause = await job_repo.get_pause(session, job_id)
    if pause is None:
        return {"paused": False}
    return to_jsonable_python(
        {"paused": True, "by": pause.paused_by, "reason": pause.reason, "since": pause.paused_at}
    )


async def pause_jobs(steps: Steps) -> list[dict[str, Any]]:
    applied = []
    for job_id in steps.ops.provider_jobs(steps.provider):
        before = await job_state(steps.session, job_id)
        await steps.ops.pause_job(steps.session, steps.audit, job_id, reason=steps.reason)
        applied.append(action("pause_job", job_id, before, await job_state(steps.session, job_id)))
    return applied


async def resume_job(steps: Steps, job_id: str) -> None:
    await steps.ops.resume_job(steps.session, steps.audit, job_id, reason=steps.reason)


# -- flags -----------------------------------------------------------------------------------


def flag_state(view: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": view["enabled"], "configuration": view["configuration"]}


def fallback_state(view: dict[str, Any], provider: str) -> dict[str, Any]:
    return {"enabled": view["enabled"], "value": view["configuration"].get(provider)}


async def _set_flag(
    steps: Steps, name: str, *, enabled: bool, configuration: dict[str, Any]
) -> dict[str, Any]:
    view = await flags.set_flag(
        steps.session, steps.audit, name,
        enabled=enabled, configuration=configuration, reason=steps.reason,
    )  # fmt: skip
    steps.change.flags.append(
        FlagState(view["name"], view["enabled"], view["configuration"], view["version"])
    )
    return view


async def read_cache_on(steps: Steps) -> dict[str, Any]:
    before = flag_state(await flags.get_flag(steps.session, READ_CACHE))
    after = before
    if not before["enabled"]:
        after = flag_state(await _set_flag(steps, READ_CACHE, enabled=True, configuration={}))
    return action("flag", READ_CACHE, before, after)


async def restore_read_cache(steps: Steps, before: dict[str, Any]) -> None:
    await _set_flag(
        steps, READ_CACHE, enabled=before["enabled"], configuration=before["configuration"]
    )


async def fallback_on(steps: Steps) -> dict[str, Any]:
    p = steps.provider
    before = fallback_state(await flags.get_flag(steps.session, FALLBACK), p)
    after = before
    if not (before["enabled"] and before["value"]):
        view = await _set_flag(steps, FALLBACK, enabled=True, configuration={p: True})
        after = fallback_state(view, p)
    return action("fallback", FALLBACK, before, after)


async def restore_fallback(steps: Steps, before: dict[str, Any]) -> None:
    p = steps.provider
    current = await flags.get_flag(steps.session, FALLBACK)
    # Other providers' fallbacks turned on meanwhile keep the flag enabled.
    others = any(v for name, v in current["configuration"].items() if name != p)
    await _set_flag(
        steps, FALLBACK, enabled=bool(before["enabled"] or others),
        configuration={p: before["value"]},
    )  # fmt: skip


# -- the breaker (Redis) ---------------------------------------------------------------------


def breaker_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"state": snapshot["state"], "forced_until": snapshot.get("forced_until")}


def redis_down(provider: str, done: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"{provider}: Redis is unreachable, so the circuit breaker could not be {done} on "
        "every replica; nothing was changed. Retry when /ready shows Redis up."
    )


async def restore_breaker(breaker: CircuitBreaker, before: dict[str, Any], steps: Steps) -> None:
    """Back to how it was: CLOSED (an OPEN breaker re-opens at its next failure)."""
    actor = steps.audit.principal.id
    if before.get("state") == "disabled":
        await breaker.disable(actor=actor, reason=steps.reason)
    else:
        await breaker.reset(actor=actor, reason=steps.reason)


async def force_open(steps: Steps, breaker: CircuitBreaker, ttl_seconds: float) -> dict[str, Any]:
    """Force the breaker open for the outage's ttl. Redis must take it (a breaker that fell
    back to this process's memory would hold it on this replica only): else 503."""
    before = breaker_state(await breaker.snapshot())
    if breaker.degraded:
        raise redis_down(steps.provider, "forced open")
    if before["state"] == "forced_open":
        return action("force_open_breaker", steps.provider, before, before)
    snapshot = await breaker.force_open(
        actor=steps.audit.principal.id, reason=steps.reason, ttl_seconds=ttl_seconds
    )
    if breaker.degraded:
        await restore_breaker(breaker, before, steps)  # this replica's memory only
        raise redis_down(steps.provider, "forced open")
    steps.change.compensations.append(lambda: restore_breaker(breaker, before, steps))
    after = breaker_state(snapshot)
    await record(
        steps.session, steps.audit, action="breaker.force-open",
        target=f"provider:{steps.provider}", before={"state": before["state"]},
        after={"state": after["state"], "ttl_seconds": ttl_seconds}, reason=steps.reason,
    )  # fmt: skip
    return action("force_open_breaker", steps.provider, before, after)
