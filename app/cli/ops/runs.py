"""`aurum runs [list|show|follow]` and `aurum backfill`: run history, one run, a progress bar
until a run ends (exit 0 succeeded, 1 otherwise), and backfills estimated against quota and
budget before they are queued."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.ops.base import JSON_HELP, REASON_HELP, Session, key_values, new_app, table, when
from app.cli.ops.client import path
from app.cli.ops.exits import Exit, finished

API = "/v1/admin/external"
RUNS = f"{API}/runs"
ACTIVE = {"queued", "running"}
DATASET_DONE = {"done", "failed", "skipped", "error", "cancelled"}
POLL_SECONDS = 0.5

runs_app = new_app("Run history; `show ID` or `follow ID` for one run.", default=True)

RUN_COLUMNS = ["run", "job", "trigger", "status", "created", "ms", "new", "changed", "error"]


def _run_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            str(r["id"]),
            r["job_id"],
            r["trigger"],
            r["status"],
            when(r.get("created_at")),
            r.get("duration_ms"),
            r.get("rows_new"),
            r.get("rows_changed"),
            r.get("error_summary"),
        ]
        for r in runs
    ]


def _show(session: Session, run: dict[str, Any]) -> None:
    session.out.print(
        key_values(
            [
                ("run", run["id"]),
                ("job", run["job_id"]),
                ("trigger", run["trigger"]),
                ("status", run["status"]),
                ("parameters", run.get("parameters")),
                ("created", when(run.get("created_at"))),
                ("started", when(run.get("started_at"))),
                ("finished", when(run.get("finished_at"))),
                ("duration ms", run.get("duration_ms")),
                (
                    "rows new/changed/rejected",
                    f"{run.get('rows_new')}/{run.get('rows_changed')}/{run.get('rows_rejected')}",
                ),
                ("requests", run.get("requests_used")),
                ("error", run.get("error_summary")),
            ]
        )
    )
    progress = datasets(run)
    if progress:
        rows = [[name, p.get("status"), p.get("rows")] for name, p in progress.items()]
        session.out.print(table("progress", ["dataset", "status", "rows"], rows))


def datasets(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Progress per dataset (entries starting with `_` are notes such as `_mode`)."""
    progress = run.get("progress") or {}
    return {k: v for k, v in progress.items() if isinstance(v, dict) and not k.startswith("_")}


def _exit_for(run: dict[str, Any]) -> None:
    if run["status"] != "succeeded":
        raise finished(Exit.CHECK_FAILED)


def follow_run(session: Session, run_id: str) -> dict[str, Any]:
    """Poll the run until it ends, a Rich progress bar on stderr meanwhile; exits 1 unless
    it succeeded."""
    url = path(RUNS, run_id)
    run: dict[str, Any] = session.api.get(url)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=session.err, transient=False, disable=session.json) as bar:
        task = bar.add_task(f"{run['job_id']} {run_id[:8]}", total=None, state=run["status"])
        while True:
            progress = datasets(run)
            done = sum(1 for p in progress.values() if p.get("status") in DATASET_DONE)
            rows = sum(int(p.get("rows") or 0) for p in progress.values())
            state = run["status"] + (f", {rows} rows" if progress else "")
            bar.update(task, total=len(progress) or None, completed=done, state=state)
            if run["status"] not in ACTIVE:
                if not progress:
                    bar.update(task, total=1, completed=1)
                break
            time.sleep(POLL_SECONDS)
            run = session.api.get(url)
    session.emit(run, lambda r: _show(session, r))
    _exit_for(run)
    return run


@runs_app.callback()
def runs(
    ctx: typer.Context,
    status: str | None = typer.Option(
        None, "--status", help="queued, running, succeeded, failed, cancelled, skipped or abandoned"
    ),
    provider: str | None = typer.Option(None, "--provider"),
    job: str | None = typer.Option(None, "--job", help="e.g. ingest.fred"),
    trigger: str | None = typer.Option(None, "--trigger", help="scheduled, manual or backfill"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601"),
    limit: int = typer.Option(20, "--limit"),
    follow: str | None = typer.Option(None, "--follow", help="RUN_ID: follow it to its end."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Recent runs, newest first (`--status failed` for the runbooks' failed runs)."""
    if ctx.invoked_subcommand is not None:
        return
    session = Session(ctx, as_json)
    if follow:
        follow_run(session, follow)
        return
    params = {
        "status": status,
        "provider": provider,
        "job": job,
        "trigger": trigger,
        "since": since,
        "limit": limit,
    }
    body = session.api.get(RUNS, params=params)
    session.emit(body, lambda d: session.out.print(table(None, RUN_COLUMNS, _run_rows(d["items"]))))


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN_ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One run with its parameters and progress per dataset."""
    session = Session(ctx, as_json)
    session.emit(session.api.get(path(RUNS, run_id)), lambda r: _show(session, r))


@runs_app.command("follow")
def runs_follow(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN_ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A progress bar until the run ends; exit 0 when it succeeded, 1 otherwise."""
    follow_run(Session(ctx, as_json), run_id)


@runs_app.command("cancel")
def runs_cancel(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN_ID"),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Ask a queued or running run to stop."""
    session = Session(ctx, as_json)
    result = session.api.send(
        "POST", path(RUNS, run_id, "cancel"), body={"reason": reason}, reason=reason
    )
    session.emit(result, lambda r: session.out.print(f"run {r['id']}: {r['status']}, cancel asked"))


def render_estimate(session: Session, estimate: dict[str, Any]) -> None:
    rows = [
        [
            p,
            e["requests"],
            e.get("daily_quota_remaining"),
            e.get("reserved_for_schedule"),
            e.get("available_requests"),
            e.get("cost_usd"),
            e.get("budget_remaining_usd"),
            "yes" if e["fits"] else "NO: " + "; ".join(e.get("problems", [])),
        ]
        for p, e in estimate.items()
    ]
    columns = [
        "provider",
        "requests",
        "quota left today",
        "kept for schedule",
        "available",
        "cost USD",
        "budget left USD",
        "fits",
    ]
    session.out.print(table("estimate", columns, rows))


def backfill(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    start: str = typer.Option(..., "--start", help="YYYY-MM-DD"),
    end: str = typer.Option(..., "--end", help="YYYY-MM-DD"),
    datasets: str | None = typer.Option(None, "--datasets", help="A,B (default: all)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only the estimate; queue nothing."),
    force: bool = typer.Option(False, "--force", help="Queue even if it exceeds quota/budget."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Show progress to the end."),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-read a window: the estimate against quota and budget, then the run's progress
    (exit 0 succeeded, 1 failed; a refusal over quota or budget is exit 3)."""
    session = Session(ctx, as_json)
    chosen: dict[str, Any] = {"name": provider}
    if datasets:
        chosen["datasets"] = [d.strip() for d in datasets.split(",") if d.strip()]
    body = {
        "providers": [chosen],
        "start": start,
        "end": end,
        "dry_run": dry_run,
        "force": force,
        "reason": reason,
    }
    result = session.api.send("POST", f"{API}/backfill", body=body, reason=reason)
    if dry_run or not follow:

        def render(data: dict[str, Any]) -> None:
            render_estimate(session, data["estimate"])
            for run in data.get("runs", []):
                session.out.print(f"queued run {run['id']} ({run['job_id']})")
            if dry_run:
                session.out.print("dry run: nothing queued")

        session.emit(result, render)
        return
    if not session.json:
        render_estimate(session, result["estimate"])
    failed = False
    for run in result["runs"]:
        if not session.json:
            session.out.print(f"queued run {run['id']} ({run['job_id']})")
        try:
            follow_run(session, str(run["id"]))
        except typer.Exit:
            failed = True
    if failed:
        raise finished(Exit.CHECK_FAILED)
