"""Jobs: the scheduler's jobs with pause / resume / trigger behind the reason dialog, and a
run's details with its per-dataset progress. Each action calls the API route's own handler
(same service, same audit, the reason recorded)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import AurumError
from app.jobs import control
from app.routers import jobs as jobs_api
from app.routers import runs as runs_api
from app.ui.web import (
    Viewer,
    audit_of,
    back,
    failure_message,
    operator_form,
    page,
    reason_of,
    unit_of_work,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
ACTIONS = ("pause", "resume", "trigger")


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, session: Viewer) -> Response:
    async with unit_of_work(request) as db:
        listing = await jobs_api.list_jobs(request, db)
        recent = await runs_api.list_runs(
            db, job=None, provider=None, status_=None, trigger=None, since=None, until=None,
            limit=20, cursor=None,
        )  # fmt: skip
    return page(request, "jobs.html", session, {"listing": listing, "runs": recent["items"]})


async def _act(request: Request, job_id: str, action: str) -> Response:
    session, form = await operator_form(request)
    audit = audit_of(request, session, form)
    reason = reason_of(form)
    try:
        async with unit_of_work(request) as db:
            if action == "pause":
                command = jobs_api.PauseCommand(reason=reason)
                result: dict[str, Any] = await jobs_api.pause_job(
                    job_id, request, db, audit, command
                )
                done = "paused" if result["changed"] else "was already paused"
            elif action == "resume":
                resume = jobs_api.ResumeCommand(reason=reason)
                result = await jobs_api.resume_job(job_id, request, db, audit, resume)
                done = "resumed" if result["changed"] else "was not paused"
            else:
                trigger = jobs_api.TriggerCommand(reason=reason)
                result = await jobs_api.trigger_job(job_id, request, db, audit, trigger)
                done = f"triggered: run {result['run']['id']}"
    except AurumError as exc:
        return back(request, "/ui/jobs", f"{job_id}: {failure_message(exc)}")
    return back(request, "/ui/jobs", f"{job_id} {done}.")


@router.post("/jobs/{job_id}/pause")
async def pause(request: Request, job_id: str) -> Response:
    return await _act(request, job_id, "pause")


@router.post("/jobs/{job_id}/resume")
async def resume(request: Request, job_id: str) -> Response:
    return await _act(request, job_id, "resume")


@router.post("/jobs/{job_id}/trigger")
async def trigger(request: Request, job_id: str) -> Response:
    return await _act(request, job_id, "trigger")


FINISHED = frozenset(status.value for status in control.FINISHED)


async def _run(request: Request, run_id: uuid.UUID) -> dict[str, Any]:
    """The API's run view, and whether it still moves (its partial polls until it ends)."""
    async with unit_of_work(request) as db:
        run = await runs_api.get_run(run_id, db)
    return {"run": run, "live": str(run["status"]) not in FINISHED}


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: uuid.UUID, session: Viewer) -> Response:
    return page(request, "run.html", session, await _run(request, run_id))


@router.get("/partials/runs/{run_id}", response_class=HTMLResponse)
async def run_partial(request: Request, run_id: uuid.UUID, session: Viewer) -> Response:
    return page(request, "_run.html", session, await _run(request, run_id))


@router.post("/runs/{run_id}/cancel")
async def cancel(request: Request, run_id: uuid.UUID) -> Response:
    session, form = await operator_form(request)
    to = f"/ui/runs/{run_id}"
    try:
        async with unit_of_work(request) as db:
            await runs_api.cancel_run(
                run_id, db, audit_of(request, session, form),
                runs_api.CancelCommand(reason=reason_of(form)),
            )  # fmt: skip
    except AurumError as exc:
        return back(request, to, failure_message(exc))
    return back(request, to, "Cancel requested: the run stops at its next batch boundary.")
