"""`aurum flags [list|show|set|unset|history]`: runtime feature flags, with the bodies the
runbooks' curl lines send."""

from __future__ import annotations

import json
from typing import Any

import typer

from app.cli.ops.base import (
    JSON_HELP,
    REASON_HELP,
    Session,
    cell,
    new_app,
    table,
    ttl_seconds,
    when,
)
from app.cli.ops.client import path

FLAGS = "/runtime-config/v1/features"

flags_app = new_app("Runtime feature flags: list, set, unset, history.", default=True)

FLAG_COLUMNS = ["flag", "enabled", "configuration", "version", "by", "updated", "expires"]
JSON_OPTION = typer.Option(False, "--json", help=JSON_HELP)
NAME = typer.Argument(..., help="e.g. external_read_cache, external_ingest, api_rate_limit")


def _rows(flags: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            f["name"],
            f["enabled"],
            f.get("configuration"),
            f.get("version"),
            f.get("updated_by"),
            when(f.get("updated_at")),
            when(f.get("expires_at")),
        ]
        for f in flags
    ]


def _list(session: Session) -> None:
    body = session.api.get(FLAGS)
    session.emit(body, lambda d: session.out.print(table(None, FLAG_COLUMNS, _rows(d))))


@flags_app.callback()
def flags(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Every flag with its value."""
    if ctx.invoked_subcommand is None:
        _list(Session(ctx, as_json))


@flags_app.command("list")
def flags_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Every flag with its value."""
    _list(Session(ctx, as_json))


@flags_app.command("show")
def flags_show(ctx: typer.Context, name: str = NAME, as_json: bool = JSON_OPTION) -> None:
    """One flag."""
    session = Session(ctx, as_json)
    body = session.api.get(path(FLAGS, name))
    session.emit(body, lambda d: session.out.print(table(None, FLAG_COLUMNS, _rows([d]))))


def parse_settings(config: str | None, pairs: list[str]) -> dict[str, Any] | None:
    """`--config JSON` and/or `--set key=value` (a value is JSON when it parses: 900, true,
    [1,2]; otherwise a string) as the configuration to send."""
    result: dict[str, Any] = {}
    if config:
        try:
            loaded = json.loads(config)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--config") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--config")
        result |= loaded
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--set")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        result[key.strip()] = value
    return result or None


def _written(session: Session, data: dict[str, Any]) -> None:
    session.out.print(table(None, FLAG_COLUMNS, _rows([data])))
    propagation = data.get("propagation")
    if propagation:
        session.out.print(
            f"applied on {propagation['applied']}/{propagation['live_replicas']} live replicas"
            + (f" ({propagation['error']})" if propagation.get("error") else "")
        )


@flags_app.command("set")
def flags_set(
    ctx: typer.Context,
    name: str = NAME,
    enabled: bool | None = typer.Option(None, "--on/--off", help="Default: as it is now."),
    config: str | None = typer.Option(None, "--config", help="e.g. '{\"ttl_seconds\": 900}'"),
    pairs: list[str] = typer.Option([], "--set", help="key=value (repeatable)"),
    ttl: str | None = typer.Option(None, "--ttl", help="Revert after this (30m, 2h, seconds)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until every live replica applied it."),
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Turn a flag on or off and/or change configuration keys (others keep their value)."""
    session = Session(ctx, as_json)
    configuration = parse_settings(config, pairs)
    if enabled is None:
        enabled = bool(session.api.get(path(FLAGS, name))["enabled"])
    body: dict[str, Any] = {"enabled": enabled, "reason": reason}
    if configuration is not None:
        body["configuration"] = configuration
    if ttl is not None:
        body["ttl_seconds"] = ttl_seconds(ttl)
    params = {"wait": "true"} if wait else None
    result = session.api.send("POST", path(FLAGS, name), body=body, reason=reason, params=params)
    session.emit(result, lambda d: _written(session, d))


@flags_app.command("unset")
def flags_unset(
    ctx: typer.Context,
    name: str = NAME,
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back to the flag's default (its registered value)."""
    session = Session(ctx, as_json)
    result = session.api.send("DELETE", path(FLAGS, name), reason=reason)
    session.emit(result, lambda d: _written(session, d))


@flags_app.command("history")
def flags_history(
    ctx: typer.Context,
    name: str = NAME,
    limit: int = typer.Option(20, "--limit"),
    as_json: bool = JSON_OPTION,
) -> None:
    """A flag's changes, newest first."""
    session = Session(ctx, as_json)
    body = session.api.get(path(FLAGS, name, "history"), params={"limit": limit})

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            session.out.print(f"{name}: no changes recorded")
            return
        columns = sorted({key for item in items for key in item})
        preferred = [
            c
            for c in ("version", "changed_at", "changed_by", "enabled", "configuration", "reason")
            if c in columns
        ]
        shown = preferred or columns
        rows = [[cell(item.get(c)) for c in shown] for item in items]
        session.out.print(table(None, shown, rows))

    session.emit(body, render)
