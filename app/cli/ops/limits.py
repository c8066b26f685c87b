"""`aurum ratelimits [set]`, `costs [set]`, `quotas reset`, `config [reload]`,
`validation P` and `audit`: outbound limits, spend, configuration and who changed what."""

from __future__ import annotations

import time
from typing import Any

import typer

from app.cli.ops.base import JSON_HELP, REASON_HELP, Session, cell, new_app, table, when
from app.cli.ops.client import path
from app.cli.ops.exits import CliError, Exit

API = "/v1/admin/external"
RUN_WAIT_SECONDS = 300

ratelimits_app = new_app(
    "Outbound rate limits and quota use; `set` changes a provider's.", default=True
)
costs_app = new_app("Spend against the monthly budget; `set` changes a budget.", default=True)
quotas_app = new_app("Quota counters.")
config_app = new_app("The provider file in force; `reload` applies an edited one.", default=True)


def _window(window: dict[str, Any] | None) -> str:
    if not window or window.get("limit") is None:
        return f"{(window or {}).get('used', 0)} (no limit)"
    return f"{window['used']}/{window['limit']}"


def _render_ratelimits(session: Session, data: dict[str, Any]) -> None:
    views = data["providers"].values() if "providers" in data else [data]
    rows = []
    for view in views:
        limit, quota = view["rate_limit"], view["quota"]
        windows = quota.get("windows", {})
        rows.append(
            [
                view["provider"],
                limit.get("requests_per_second"),
                limit.get("effective_requests_per_second"),
                limit.get("burst"),
                _window(windows.get("daily")),
                _window(windows.get("hourly")),
                quota.get("level"),
                view.get("throttled_last_hour"),
                view.get("outage") and view["outage"].get("id"),
            ]
        )
    columns = [
        "provider",
        "rps",
        "effective rps",
        "burst",
        "daily",
        "hourly",
        "quota level",
        "throttled 1h",
        "outage",
    ]
    session.out.print(table(None, columns, rows))


@ratelimits_app.callback()
def ratelimits(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)
) -> None:
    """Outbound rate limits and quota use per provider."""
    if ctx.invoked_subcommand is not None:
        return
    session = Session(ctx, as_json)
    session.emit(session.api.get(f"{API}/ratelimits"), lambda d: _render_ratelimits(session, d))


@ratelimits_app.command("set")
def ratelimits_set(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    rps: float | None = typer.Option(None, "--rps", help="Requests per second."),
    burst: int | None = typer.Option(None, "--burst"),
    daily_quota: int | None = typer.Option(None, "--daily-quota"),
    hourly_quota: int | None = typer.Option(None, "--hourly-quota"),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Change a provider's outbound rate, burst or quotas (what the provider file says until
    changed again)."""
    session = Session(ctx, as_json)
    body: dict[str, Any] = {
        key: value
        for key, value in (
            ("requests_per_second", rps),
            ("burst", burst),
            ("daily_quota", daily_quota),
            ("hourly_quota", hourly_quota),
        )
        if value is not None
    }
    body["reason"] = reason
    result = session.api.send("PATCH", path(API, "ratelimits", provider), body=body, reason=reason)
    session.emit(result, lambda d: _render_ratelimits(session, d))


def _render_costs(session: Session, data: dict[str, Any]) -> None:
    views = data["providers"].values() if "providers" in data else [data]
    rows = [
        [
            v["provider"],
            v.get("requests"),
            v.get("spent_usd"),
            v.get("monthly_budget_usd"),
            v.get("percent_of_budget"),
            v.get("projected_month_end_usd"),
            v.get("status"),
        ]
        for v in views
    ]
    columns = [
        "provider",
        "requests",
        "spent USD",
        "budget USD",
        "% of budget",
        "projected USD",
        "status",
    ]
    session.out.print(table(None, columns, rows))
    if "total_spent_usd" in data:
        session.out.print(
            f"total spent {cell(data['total_spent_usd'])} USD, projected month end "
            f"{cell(data['total_projected_month_end_usd'])} USD"
        )


@costs_app.callback()
def costs(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)
) -> None:
    """Spend this month per provider against its budget."""
    if ctx.invoked_subcommand is not None:
        return
    session = Session(ctx, as_json)
    session.emit(session.api.get(f"{API}/costs"), lambda d: _render_costs(session, d))


@costs_app.command("set")
def costs_set(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    monthly_budget: float = typer.Option(..., "--monthly-budget", help="USD per month."),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Change a provider's monthly budget."""
    session = Session(ctx, as_json)
    body = {"monthly_budget_usd": monthly_budget, "reason": reason}
    result = session.api.send("PATCH", path(API, "costs", provider), body=body, reason=reason)
    session.emit(result, lambda d: _render_costs(session, d))


@quotas_app.command("reset")
def quotas_reset(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Reset the current daily and hourly counters (the runbooks' `redis-cli DEL`)."""
    session = Session(ctx, as_json)
    result = session.api.send("DELETE", path(API, "quotas", provider), reason=reason)

    def render(data: dict[str, Any]) -> None:
        windows = data["quota"].get("windows", {})
        session.out.print(
            f"{data['provider']}: quota reset; daily {_window(windows.get('daily'))}, "
            f"hourly {_window(windows.get('hourly'))}"
        )

    session.emit(result, render)


def _render_config(session: Session, data: dict[str, Any]) -> None:
    rows = [
        [name, v.get("enabled"), v.get("base_url"), v.get("requests_per_second"), v.get("datasets")]
        for name, v in sorted(data["providers"].items())
    ]
    columns = ["provider", "enabled", "base url", "rps", "datasets"]
    session.out.print(table(None, columns, rows))


@config_app.callback()
def config(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)
) -> None:
    """The provider configuration in force."""
    if ctx.invoked_subcommand is not None:
        return
    session = Session(ctx, as_json)
    session.emit(session.api.get(f"{API}/config"), lambda d: _render_config(session, d))


@config_app.command("reload")
def config_reload(
    ctx: typer.Context,
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Apply an edited config/external_providers.yml (refused naming the key and line)."""
    session = Session(ctx, as_json)
    result = session.api.send("POST", f"{API}/config/reload", reason=reason)

    def render(data: dict[str, Any]) -> None:
        session.out.print("provider configuration reloaded")
        _render_config(session, data)

    session.emit(result, render)


def validation(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="fred, eia, noaa or worldbank"),
    limit: int = typer.Option(20, "--limit", help="History entries."),
    run: bool = typer.Option(False, "--run", help="Validate now and wait for the result."),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A provider's latest validation result, with its failed expectations, and history
    (`--run`: the runbooks' `airflow tasks test ... check_data_quality`)."""
    session = Session(ctx, as_json)
    url = path(f"{API}/validation", provider)
    if run:
        started = session.api.send("POST", f"{url}/run", reason=reason)
        deadline = time.monotonic() + RUN_WAIT_SECONDS
        while time.monotonic() < deadline:
            body = session.api.get(url, params={"limit": limit})
            if (body.get("latest") or {}).get("id") == started["id"]:
                break
            time.sleep(0.5)
        else:
            raise CliError(
                f"validation {started['id']} still running; see `aurum validation "
                f"{provider}` later",
                Exit.UNAVAILABLE,
            )
    body = session.api.get(url, params={"limit": limit})

    def render(data: dict[str, Any]) -> None:
        latest = data.get("latest")
        session.out.print(
            f"{data['provider']}: suite {data['suite']}, {data['expectations']} expectations"
        )
        if latest is None:
            session.out.print("no finished validation run yet")
        else:
            session.out.print(
                f"latest: {latest['status']} at {when(latest.get('finished_at'))}, "
                f"{latest.get('successful')}/{latest.get('evaluated')} passed "
                f"({cell(latest.get('success_percent'))}%)"
            )
            failed = [
                [f.get("id"), f.get("severity"), f.get("message") or f.get("expectation")]
                for f in latest.get("failed_expectations", [])
            ]
            if failed:
                session.out.print(table("failed expectations", ["id", "severity", "what"], failed))
        rows = [
            [
                h["id"][:8],
                h["status"],
                h["trigger"],
                when(h.get("started_at")),
                h.get("success_percent"),
                ", ".join(h.get("failed_expectations") or []),
            ]
            for h in data.get("history", [])
        ]
        session.out.print(
            table("history", ["id", "status", "trigger", "started", "%", "failed"], rows)
        )

    session.emit(body, render)


def audit(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="ISO 8601, e.g. 2024-09-23T00:00:00Z"),
    until: str | None = typer.Option(None, "--until", help="ISO 8601, exclusive"),
    action: str | None = typer.Option(None, "--action", help="e.g. job.pause"),
    principal: str | None = typer.Option(None, "--principal", help="e.g. key:ab12cd34"),
    target: str | None = typer.Option(None, "--target", help="e.g. provider:fred"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Who changed what, newest first."""
    session = Session(ctx, as_json)
    params = {
        "since": since,
        "until": until,
        "action": action,
        "principal": principal,
        "target": target,
        "limit": limit,
    }
    body = session.api.get("/v1/admin/audit", params=params)
    rows = [
        [when(i["occurred_at"]), i["principal"], i["action"], i["target"], i.get("reason")]
        for i in body.get("items", [])
    ]
    columns = ["when", "who", "action", "target", "reason"]
    session.emit(body, lambda _: session.out.print(table(None, columns, rows)))
