"""`/v1/admin/external/jobs`: the scheduler's jobs, pause/resume/trigger (viewer reads,
operator writes, audited). Calls on any replica take effect on the leader within a second."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.errors import InvalidInput
from app.http.openapi import error_responses
from app.jobs import control
from app.jobs.backfill import check_datasets
from app.jobs.definitions import JobKind
from app.jobs.probing import OPERATOR_PROBE_SECONDS, probe_provider
from app.jobs.scheduler import JobScheduler
from app.providers.config import ProvidersConfig

router = APIRouter(prefix="/v1/admin/external/jobs", tags=["external: jobs"])

MAX_PAUSE_SECONDS = 30 * 86_400


class PauseCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1024)
    ttl_seconds: int | None = Field(
        default=None, gt=0, le=MAX_PAUSE_SECONDS, description="Resume on its own after this"
    )


class ResumeCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1024)


class TriggerCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasets: list[str] | None = Field(default=None, description="Ingest jobs: these only")
    start: date | None = Field(default=None, description="Ingest jobs: a window to re-read")
    end: date | None = None
    force: bool = Field(default=False, description="Run even though the job is paused")
    reason: str | None = Field(default=None, max_length=1024)


def scheduler_of(request: Request) -> JobScheduler:
    scheduler: JobScheduler = request.app.state.resources.scheduler
    return scheduler


def _parameters(
    scheduler: JobScheduler, config: ProvidersConfig, job_id: str, command: TriggerCommand
) -> dict[str, Any]:
    definition = control.definition_of(scheduler, job_id)
    if definition.kind not in {JobKind.INGEST, JobKind.INGEST_BULK}:
        if command.datasets or command.start or command.end:
            raise InvalidInput(
                f"{job_id} takes no datasets or window; send an empty body.",
                details=[{"field": "datasets", "message": "only ingest jobs take parameters"}],
            )
        return {}
    if command.start and command.end and command.start > command.end:
        raise InvalidInput(
            "start: must not be after end",
            details=[{"field": "start", "message": "must not be after end"}],
        )
    provider = definition.provider or ""
    section = config.providers[provider]  # type: ignore[index]
    check_datasets(provider, section, command.datasets or [], field="datasets")
    params: dict[str, Any] = {}
    if command.datasets:
        params["datasets"] = command.datasets
    if command.start:
        params["start"] = command.start.isoformat()
    if command.end:
        params["end"] = command.end.isoformat()
    return params


@router.get("")
async def list_jobs(request: Request, session: SessionDep) -> dict[str, Any]:
    scheduler = scheduler_of(request)
    return {
        "leader": scheduler.is_leader,
        "jobs": await control.list_jobs(session, scheduler),
    }


@router.get("/{job_id}")
async def get_job(job_id: str, request: Request, session: SessionDep) -> dict[str, Any]:
    scheduler = scheduler_of(request)
    definition = control.definition_of(scheduler, job_id)  # an old id names its job too
    jobs = await control.list_jobs(session, scheduler)
    return next(job for job in jobs if job["id"] == definition.id)


@router.post("/{job_id}/pause")
async def pause_job(
    job_id: str,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    command: PauseCommand | None = None,
) -> dict[str, Any]:
    command = command or PauseCommand()
    return await control.pause(
        session, audit, scheduler_of(request), job_id,
        reason=command.reason, ttl_seconds=command.ttl_seconds,
    )  # fmt: skip


@router.post("/{job_id}/resume")
async def resume_job(
    job_id: str,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    command: ResumeCommand | None = None,
) -> dict[str, Any]:
    reason = (command or ResumeCommand()).reason
    scheduler = scheduler_of(request)
    result = await control.resume(session, audit, scheduler, job_id, reason=reason)
    definition = control.definition_of(scheduler, job_id)
    if result["changed"] and definition.provider and definition.kind in control.COLLECTING:
        # Test the provider now: health shows how it is, not the failures that paused it. The
        # resume (and its audit entry) is committed first, so the probe's health verdict no
        # longer sees the pause and no row stays locked while the provider is called.
        await session.commit()
        result["probe"] = await probe_provider(
            request.app.state.resources, scheduler.targets, definition.provider,
            timeout_seconds=OPERATOR_PROBE_SECONDS,
        )  # fmt: skip
    return result


@router.post(
    "/{job_id}/trigger", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(409)
)
async def trigger_job(
    job_id: str,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    command: TriggerCommand | None = None,
) -> dict[str, Any]:
    command = command or TriggerCommand()
    scheduler = scheduler_of(request)
    params = _parameters(scheduler, request.app.state.resources.providers.config, job_id, command)
    run = await control.trigger(
        session, audit, scheduler, job_id,
        parameters=params, force=command.force, reason=command.reason,
    )  # fmt: skip
    return {"run": control.run_view(run), "status_url": f"/v1/admin/external/runs/{run.id}"}
