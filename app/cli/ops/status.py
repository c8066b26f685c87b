"""`aurum status`, `aurum health [P]`, `aurum sla`: how the providers are, on one screen."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.ops.base import JSON_HELP, Session, cell, key_values, table, when
from app.cli.ops.client import path
from app.cli.ops.exits import CliError, Exit, finished

HEALTH = "/v1/admin/external/health"
OUTAGES = "/v1/admin/external/outages"


def open_outages(session: Session) -> list[dict[str, Any]] | None:
    """Open outages, newest first; None when the service has no outages API yet."""
    try:
        body = session.api.get(OUTAGES, params={"status": "open"})
    except CliError as exc:
        if "No route" in exc.message:
            return None
        raise
    outages: list[dict[str, Any]] = body.get("outages", [])
    return outages


def _quota(view: dict[str, Any]) -> str:
    daily = (view.get("quota") or {}).get("daily") or {}
    if daily.get("limit") is None:
        return f"{daily.get('used', 0)} (no limit)"
    return f"{daily.get('used')}/{daily.get('limit')} ({cell(daily.get('percent'))}%)"


def _last_run(view: dict[str, Any]) -> str:
    run = view.get("last_run")
    if not run:
        return "-"
    return f"{run['status']} {when(run.get('finished_at') or run.get('started_at'))}"


def _outage(outage: dict[str, Any] | None) -> str:
    if not outage:
        return "-"
    since = outage.get("since") or outage.get("declared_at")
    by = outage.get("declared_by")
    return f"{str(outage['id'])[:8]} since {when(since)} by {by}: {outage.get('reason')}"


def provider_rows(health: dict[str, Any], outages: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for name, view in sorted(health.get("providers", {}).items()):
        paused = view.get("paused")
        rows.append(
            [
                name,
                view.get("status"),
                (view.get("breaker") or {}).get("state"),
                _quota(view),
                _last_run(view),
                f"by {paused.get('by')}" if isinstance(paused, dict) else paused,
                _outage(outages.get(name) or view.get("outage")),
            ]
        )
    return rows


COLUMNS = ["provider", "health", "breaker", "quota today", "last run", "paused", "open outage"]


def status(
    ctx: typer.Context,
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when a provider is down or an outage is open."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every provider: health, breaker, quota, last run, pause and open outage."""
    session = Session(ctx, as_json)
    health = session.api.get(HEALTH)
    found = open_outages(session)
    by_provider = {o["provider"]: o for o in reversed(found or [])}
    for name, view in health.get("providers", {}).items():
        if view.get("outage") and name not in by_provider:
            by_provider[name] = view["outage"]
    down = sorted(n for n, v in health.get("providers", {}).items() if v.get("status") == "down")
    problems = [f"{name} is down" for name in down]
    problems += [f"outage open on {name}" for name in sorted(by_provider)]
    summary = {
        "status": health.get("status"),
        "reason": health.get("reason"),
        "ok": not problems,
        "problems": problems,
        "health": health,
        "outages": found,
    }

    def render(_: Any) -> None:
        session.out.print(f"service: {health.get('status')} ({health.get('reason')})")
        session.out.print(table(None, COLUMNS, provider_rows(health, by_provider)))
        deps = health.get("dependencies", {})
        session.out.print(
            "dependencies: " + ", ".join(f"{k} {v.get('status')}" for k, v in deps.items())
        )
        if found is None:
            session.out.print("outages: this service has no outages API")
        if problems:
            session.out.print("problems: " + "; ".join(problems))

    session.emit(summary, render)
    if check and problems:
        raise finished(Exit.CHECK_FAILED)


def health(
    ctx: typer.Context,
    provider: str | None = typer.Argument(None, help="fred, eia, noaa or worldbank"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Pipeline health, or one provider's in detail."""
    session = Session(ctx, as_json)
    if provider is None:
        body = session.api.get(HEALTH)

        def render_all(data: dict[str, Any]) -> None:
            session.out.print(f"service: {data.get('status')} ({data.get('reason')})")
            session.out.print(table(None, COLUMNS[:-1], [r[:-1] for r in provider_rows(data, {})]))
            rows = [[k, v.get("status"), v.get("error")] for k, v in data["dependencies"].items()]
            session.out.print(table("dependencies", ["dependency", "status", "error"], rows))

        session.emit(body, render_all)
        return
    body = session.api.get(path(HEALTH, provider))

    def render_one(data: dict[str, Any]) -> None:
        breaker = data.get("breaker") or {}
        session.out.print(
            key_values(
                [
                    ("provider", data.get("provider")),
                    ("status", f"{data.get('status')} ({data.get('reason')})"),
                    ("mode", data.get("mode")),
                    ("breaker", breaker.get("state")),
                    ("quota today", _quota(data)),
                    ("last success", when(data.get("last_success_at"))),
                    ("last error", data.get("last_error")),
                    ("last ingest", when(data.get("last_successful_ingest_at"))),
                    ("paused", data.get("paused")),
                    ("outage", _outage(data.get("outage"))),
                ]
            )
        )
        runs = [
            [
                r["id"][:8],
                r["status"],
                r["trigger"],
                when(r.get("started_at")),
                r.get("rows_new"),
                r.get("rows_changed"),
                r.get("error_summary"),
            ]
            for r in data.get("recent_runs", [])
        ]
        columns = ["run", "status", "trigger", "started", "new", "changed", "error"]
        session.out.print(table("recent runs", columns, runs))

    session.emit(body, render_one)


def sla(
    ctx: typer.Context,
    window: str = typer.Option("24h", "--window", help="24h, 7d or 30d"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """SLA compliance per provider (freshness, success rate, validation, cost, completeness)."""
    session = Session(ctx, as_json)
    body = session.api.get("/v1/admin/external/sla", params={"window": window})
    metrics = ["freshness", "request_success_rate", "validation_pass_rate", "cost", "completeness"]

    def show(metric: dict[str, Any]) -> str:
        value = metric.get("value", metric.get("lag_p95_seconds"))
        met = metric.get("met")
        mark = "-" if met is None else ("met" if met else "MISSED")
        return f"{cell(value)} {mark}"

    def render(data: dict[str, Any]) -> None:
        rows = [
            [name, *(show(view.get(m) or {}) for m in metrics)]
            for name, view in sorted(data.get("providers", {}).items())
        ]
        title = f"SLA {data.get('window')} ({when(data.get('start'))} .. {when(data.get('end'))})"
        session.out.print(table(title, ["provider", *metrics], rows))

    session.emit(body, render)
