"""`aurum outage [start|list|show|resolve|report]`: a provider outage declared, mitigated,
resolved and reported in two commands (the outages API, /v1/admin/external/outages)."""

from __future__ import annotations

import uuid
from typing import Any

import typer

from app.cli.ops.base import JSON_HELP, Session, key_values, new_app, table, ttl_seconds, when
from app.cli.ops.client import path
from app.cli.ops.exits import CliError, Exit
from app.cli.ops.runs import follow_run

OUTAGES = "/v1/admin/external/outages"

outage_app = new_app("Provider outages: declare, list, show, resolve, report.")

JSON_OPTION = typer.Option(False, "--json", help=JSON_HELP)
TARGET = typer.Argument(..., metavar="ID|PROVIDER", help="An outage id, or a provider name.")


def _is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def find(session: Session, target: str, *, open_only: bool) -> dict[str, Any]:
    """The outage `target` names: by id, or a provider's open outage (for show/report, its
    latest one when none is open)."""
    if _is_id(target):
        outage: dict[str, Any] = session.api.get(path(OUTAGES, target))
        return outage
    params: dict[str, Any] = {"provider": target, "status": "open", "limit": 1}
    found = session.api.get(OUTAGES, params=params)["outages"]
    if not found and not open_only:
        found = session.api.get(OUTAGES, params={"provider": target, "limit": 1})["outages"]
    if not found:
        which = "open outage" if open_only else "outage"
        raise CliError(f"no {which} for provider {target!r}", Exit.REFUSED)
    return dict(found[0])


def _fates(outage: dict[str, Any]) -> dict[tuple[Any, Any], str]:
    """What the resolve did with each action: undone, or left alone and why."""
    resolution = outage.get("resolution") or {}
    fates = {(a.get("action"), a.get("target")): "undone" for a in resolution.get("undone") or []}
    for item in resolution.get("left_alone") or []:
        fates[(item.get("action"), item.get("target"))] = f"left alone: {item.get('reason')}"
    return fates


def _actions(outage: dict[str, Any]) -> list[list[Any]]:
    fates = _fates(outage)
    open_ = outage.get("status") == "open"
    return [
        [
            a.get("action"),
            a.get("target"),
            a.get("change"),
            fates.get((a.get("action"), a.get("target")), "in effect" if open_ else "-"),
        ]
        for a in outage.get("actions") or []
    ]


def _backfill(outage: dict[str, Any]) -> str | None:
    backfill = outage.get("backfill")
    refused = (outage.get("resolution") or {}).get("backfill_refused")
    if refused:
        return f"refused: {refused.get('reason')}"
    if not backfill:
        return None
    window = f"{str(backfill.get('window_start'))[:10]}..{str(backfill.get('window_end'))[:10]}"
    return (
        f"run {str(backfill.get('run_id'))[:8]} {backfill.get('status')}, {window}, "
        f"{backfill.get('rows_new') or 0} new / {backfill.get('rows_changed') or 0} changed"
    )


def _completeness(outage: dict[str, Any]) -> str | None:
    result = outage.get("completeness")
    if not result:
        return "not checked yet" if outage.get("backfill") else None
    if result.get("error"):
        return f"could not be checked: {result['error']}"
    checked = f"{result.get('series_checked')} series checked"
    if result.get("complete"):
        return f"complete: stored data matches the provider ({checked})"
    return (
        f"INCOMPLETE: {result.get('missing')} missing, {result.get('different')} different "
        f"({checked})"
    )


def _probe(outage: dict[str, Any]) -> str | None:
    probe = (outage.get("resolution") or {}).get("probe")
    if not probe:
        return None
    if probe.get("ok"):
        return "ok"
    return f"failed: {probe.get('error')}" + (
        " (resolved with --force)" if probe.get("forced") else ""
    )


def _render(session: Session, outage: dict[str, Any]) -> None:
    resolved = outage.get("resolved_at")
    session.out.print(
        key_values(
            [
                ("outage", outage.get("id")),
                ("provider", outage.get("provider")),
                ("status", outage.get("status")),
                ("reason", outage.get("reason")),
                ("declared", f"{when(outage.get('declared_at'))} by {outage.get('declared_by')}"),
                ("expires", None if resolved else when(outage.get("expires_at"))),
                (
                    "resolved",
                    f"{when(resolved)} by {outage.get('resolved_by')}" if resolved else None,
                ),
                ("probe", _probe(outage)),
                ("backfill", _backfill(outage)),
                ("completeness", _completeness(outage)),
            ]
        )
    )
    columns = ["action", "target", "change", "at resolve" if resolved else "now"]
    session.out.print(table("actions", columns, _actions(outage)))
    timeline = outage.get("timeline")
    if timeline:
        rows = [
            [when(t.get("at")), t.get("kind"), t.get("actor"), t.get("summary")] for t in timeline
        ]
        session.out.print(table("timeline", ["at", "kind", "by", "what"], rows))


@outage_app.command("start")
def outage_start(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    reason: str = typer.Option(
        ..., "--reason", help="Why (required; every action is audited under it)."
    ),
    ttl: str | None = typer.Option(None, "--ttl", help="Resolves itself after this (default 4h)."),
    pause: bool = typer.Option(True, "--pause/--no-pause", help="Pause its ingest and probe."),
    breaker: bool = typer.Option(True, "--breaker/--no-breaker", help="Force its breaker open."),
    read_cache: bool = typer.Option(
        True, "--read-cache/--no-read-cache", help="Turn external_read_cache on."
    ),
    fallback: bool = typer.Option(False, "--fallback", help="Read from its mirror."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Declare an outage and apply the runbook's mitigation as one change."""
    session = Session(ctx, as_json)
    body: dict[str, Any] = {"provider": provider, "reason": reason}
    if ttl is not None:
        body["ttl_seconds"] = ttl_seconds(ttl)
    actions = {
        "pause_jobs": pause,
        "force_open_breaker": breaker,
        "read_cache": read_cache,
        "fallback": fallback,
    }
    if actions != {
        "pause_jobs": True,
        "force_open_breaker": True,
        "read_cache": True,
        "fallback": False,
    }:
        body["actions"] = actions
    result = session.api.send("POST", OUTAGES, body=body, reason=reason)
    session.emit(result, lambda d: _render(session, d))


@outage_app.command("list")
def outage_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="open or resolved"),
    provider: str | None = typer.Option(None, "--provider"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Outages, newest first."""
    session = Session(ctx, as_json)
    params = {"status": status, "provider": provider, "limit": limit}
    body = session.api.get(OUTAGES, params=params)
    rows = [
        [
            o["id"],
            o["provider"],
            o["status"],
            when(o.get("declared_at")),
            o.get("declared_by"),
            when(o.get("resolved_at")),
            o.get("reason"),
        ]
        for o in body.get("outages", [])
    ]
    columns = ["outage", "provider", "status", "declared", "by", "resolved", "reason"]
    session.emit(body, lambda _: session.out.print(table(None, columns, rows)))


@outage_app.command("show")
def outage_show(ctx: typer.Context, target: str = TARGET, as_json: bool = JSON_OPTION) -> None:
    """One outage with its actions and timeline (a provider: its open or latest outage)."""
    session = Session(ctx, as_json)
    outage = find(session, target, open_only=False)
    if "timeline" not in outage:
        outage = session.api.get(path(OUTAGES, str(outage["id"])))
    session.emit(outage, lambda d: _render(session, d))


@outage_app.command("resolve")
def outage_resolve(
    ctx: typer.Context,
    target: str = TARGET,
    reason: str | None = typer.Option(None, "--reason", help="Why (audited)."),
    backfill: bool = typer.Option(
        True, "--backfill/--no-backfill", help="Queue a backfill of the outage window."
    ),
    force: bool = typer.Option(False, "--force", help="Resolve even if the probe still fails."),
    follow: bool = typer.Option(False, "--follow", help="Follow the backfill run to its end."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Probe, undo what the declaration applied, and queue the backfill (a provider name
    resolves its open outage)."""
    session = Session(ctx, as_json)
    outage = find(session, target, open_only=True)
    body = {"reason": reason, "backfill": backfill, "force": force}
    result = session.api.send(
        "POST", path(OUTAGES, str(outage["id"]), "resolve"), body=body, reason=reason
    )
    session.emit(result, lambda d: _render(session, d))
    run = (result.get("backfill") or {}).get("run_id")
    if follow and run:
        follow_run(session, str(run))


@outage_app.command("report")
def outage_report(ctx: typer.Context, target: str = TARGET) -> None:
    """The post-incident report (markdown) of an outage."""
    session = Session(ctx)
    outage = find(session, target, open_only=False)
    typer.echo(session.api.text(path(OUTAGES, str(outage["id"])), accept="text/markdown"))
