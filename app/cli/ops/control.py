"""`aurum breakers [list|show|reset|force-open|disable]` and
`aurum jobs [list|show|pause|resume|trigger]`."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.ops.base import (
    JSON_HELP,
    REASON_HELP,
    Session,
    key_values,
    new_app,
    table,
    ttl_seconds,
    when,
)
from app.cli.ops.client import path
from app.cli.ops.runs import follow_run

BREAKERS = "/v1/admin/external/circuit-breakers"
JOBS = "/v1/admin/external/jobs"

breakers_app = new_app("Circuit breakers: list, or steer one provider's.", default=True)
jobs_app = new_app("Scheduler jobs: list, pause, resume, trigger.", default=True)


def _breaker_rows(views: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            v["provider"],
            v["state"],
            v.get("consecutive_failures"),
            f"{v['window']['failures']}/{v['window']['calls']}" if v.get("window") else None,
            when(v.get("open_until") or v.get("forced_until") or v.get("disabled_until")),
            v.get("actor"),
            v.get("reason") or v.get("last_failure_reason"),
        ]
        for v in views
    ]


BREAKER_COLUMNS = ["provider", "state", "failures", "window fail/calls", "until", "by", "reason"]


def _list_breakers(session: Session) -> None:
    body = session.api.get(BREAKERS)
    views = list(body["providers"].values())
    session.emit(
        body, lambda _: session.out.print(table(None, BREAKER_COLUMNS, _breaker_rows(views)))
    )


@breakers_app.callback()
def breakers(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)
) -> None:
    """Every provider's circuit breaker."""
    if ctx.invoked_subcommand is None:
        _list_breakers(Session(ctx, as_json))


@breakers_app.command("list")
def breakers_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)
) -> None:
    """Every provider's circuit breaker."""
    _list_breakers(Session(ctx, as_json))


@breakers_app.command("show")
def breakers_show(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One breaker with its recent transitions."""
    session = Session(ctx, as_json)
    body = session.api.get(path(BREAKERS, provider))

    def render(data: dict[str, Any]) -> None:
        session.out.print(table(None, BREAKER_COLUMNS, _breaker_rows([data])))
        rows = [
            [when(e.get("at")), e.get("from"), e.get("to"), e.get("actor"), e.get("reason")]
            for e in data.get("events", [])
        ]
        session.out.print(table("events", ["at", "from", "to", "by", "reason"], rows))

    session.emit(body, render)


def _steer(
    ctx: typer.Context,
    action: str,
    provider: str,
    ttl: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    session = Session(ctx, as_json)
    body = {"ttl_seconds": ttl_seconds(ttl), "reason": reason}
    result = session.api.send("POST", path(BREAKERS, provider, action), body=body, reason=reason)

    def render(data: dict[str, Any]) -> None:
        session.out.print(f"{provider}: breaker {data['state']} ({action})")
        probe = data.get("probe")
        if probe is not None:
            session.out.print(f"probe: {probe}")

    session.emit(result, render)


PROVIDER = typer.Argument(..., help="fred, eia, noaa or worldbank")
TTL = typer.Option(None, "--ttl", help="Back to closed after this (30m, 2h, or seconds).")
REASON = typer.Option(None, "--reason", help=REASON_HELP)
JSON_OPTION = typer.Option(False, "--json", help=JSON_HELP)


@breakers_app.command("reset")
def breakers_reset(
    ctx: typer.Context,
    provider: str = PROVIDER,
    reason: str | None = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Close a tripped breaker; the service probes the provider at once."""
    _steer(ctx, "reset", provider, None, reason, as_json)


@breakers_app.command("force-open")
def breakers_force_open(
    ctx: typer.Context,
    provider: str = PROVIDER,
    ttl: str | None = TTL,
    reason: str | None = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop every call to the provider (optionally for --ttl)."""
    _steer(ctx, "force-open", provider, ttl, reason, as_json)


@breakers_app.command("disable")
def breakers_disable(
    ctx: typer.Context,
    provider: str = PROVIDER,
    ttl: str | None = TTL,
    reason: str | None = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Let every call through whatever fails (optionally for --ttl)."""
    _steer(ctx, "disable", provider, ttl, reason, as_json)


JOB_COLUMNS = ["job", "kind", "schedule", "next run", "paused", "last run"]


def _job_rows(jobs: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for job in jobs:
        pause, last = job.get("pause"), job.get("last_run")
        rows.append(
            [
                job["id"],
                job["kind"],
                job.get("schedule"),
                when(job.get("next_run_at")),
                f"by {pause['by']}: {pause.get('reason') or ''}" if pause else "no",
                f"{last['status']} {when(last.get('finished_at') or last.get('created_at'))}"
                if last
                else None,
            ]
        )
    return rows


def _list_jobs(session: Session) -> None:
    body = session.api.get(JOBS)

    def render(data: dict[str, Any]) -> None:
        session.out.print(table(None, JOB_COLUMNS, _job_rows(data["jobs"])))
        session.out.print(f"this replica leads the scheduler: {'yes' if data['leader'] else 'no'}")

    session.emit(body, render)


@jobs_app.callback()
def jobs(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The scheduler's jobs with their pauses and last runs."""
    if ctx.invoked_subcommand is None:
        _list_jobs(Session(ctx, as_json))


@jobs_app.command("list")
def jobs_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The scheduler's jobs with their pauses and last runs."""
    _list_jobs(Session(ctx, as_json))


JOB = typer.Argument(..., help="e.g. ingest.fred, probe.eia, ingest.eia.bulk")


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job: str = JOB, as_json: bool = JSON_OPTION) -> None:
    """One job."""
    session = Session(ctx, as_json)
    body = session.api.get(path(JOBS, job))
    session.emit(body, lambda d: session.out.print(table(None, JOB_COLUMNS, _job_rows([d]))))


@jobs_app.command("pause")
def jobs_pause(
    ctx: typer.Context,
    job: str = JOB,
    ttl: str | None = typer.Option(None, "--ttl", help="Resume on its own after this."),
    reason: str | None = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Pause a job (the runbooks' `airflow dags pause`); idempotent."""
    session = Session(ctx, as_json)
    body = {"reason": reason, "ttl_seconds": ttl_seconds(ttl)}
    result = session.api.send("POST", path(JOBS, job, "pause"), body=body, reason=reason)
    changed = "paused" if result.get("changed") else "already paused"
    session.emit(result, lambda _: session.out.print(f"{job}: {changed}"))


@jobs_app.command("resume")
def jobs_resume(
    ctx: typer.Context, job: str = JOB, reason: str | None = REASON, as_json: bool = JSON_OPTION
) -> None:
    """Resume a paused job (the runbooks' `airflow dags unpause`); probes its provider."""
    session = Session(ctx, as_json)
    result = session.api.send(
        "POST", path(JOBS, job, "resume"), body={"reason": reason}, reason=reason
    )

    def render(data: dict[str, Any]) -> None:
        session.out.print(f"{job}: {'resumed' if data.get('changed') else 'was not paused'}")
        if data.get("probe") is not None:
            session.out.print(key_values([("probe", data["probe"])]))

    session.emit(result, render)


@jobs_app.command("trigger")
def jobs_trigger(
    ctx: typer.Context,
    job: str = JOB,
    datasets: str | None = typer.Option(None, "--datasets", help="Ingest jobs: A,B only."),
    start: str | None = typer.Option(None, "--start", help="Ingest jobs: YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Ingest jobs: YYYY-MM-DD."),
    force: bool = typer.Option(False, "--force", help="Run even though the job is paused."),
    follow: bool = typer.Option(False, "--follow", help="Show progress until the run ends."),
    reason: str | None = REASON,
    as_json: bool = JSON_OPTION,
) -> None:
    """Queue a run now (the runbooks' `airflow dags trigger`)."""
    session = Session(ctx, as_json)
    body: dict[str, Any] = {"force": force, "reason": reason}
    if datasets:
        body["datasets"] = [d.strip() for d in datasets.split(",") if d.strip()]
    body |= {k: v for k, v in (("start", start), ("end", end)) if v}
    result = session.api.send("POST", path(JOBS, job, "trigger"), body=body, reason=reason)
    run = result["run"]
    if not follow:
        session.emit(result, lambda _: session.out.print(f"{job}: run {run['id']} queued"))
        return
    if not session.json:
        session.out.print(f"{job}: run {run['id']} queued")
    follow_run(session, str(run["id"]))
