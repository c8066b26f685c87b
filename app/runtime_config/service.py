"""Reading and changing flags. PostgreSQL holds the truth and a version per flag; every change
writes a history row and an audit entry in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.auth.principal import SYSTEM
from app.db.models import RuntimeFlag, RuntimeFlagHistory
from app.db.repositories import flags as repo
from app.errors import PreconditionFailed
from app.runtime_config.registry import FLAGS, FlagDefinition, definition


def etag(name: str, version: int) -> str:
    return f'"{name}-v{version}"'


def _state(flag: RuntimeFlag) -> dict[str, Any]:
    return {"enabled": flag.enabled, "configuration": flag.configuration}


def view(defn: FlagDefinition, flag: RuntimeFlag | None) -> dict[str, Any]:
    """A flag as the API shows it; an unset flag shows its defaults at version 0."""
    if flag is None:
        return {
            "name": defn.name,
            "description": defn.description,
            "enabled": defn.default_enabled,
            "configuration": defn.validate(defn.default_configuration),
            "version": 0,
            "updated_by": None,
            "updated_at": None,
            "expires_at": None,
        }
    return {
        "name": defn.name,
        "description": defn.description,
        "enabled": flag.enabled,
        "configuration": flag.configuration,
        "version": flag.version,
        "updated_by": flag.updated_by,
        "updated_at": flag.updated_at,
        "expires_at": flag.expires_at,
    }


async def list_flags(session: AsyncSession) -> list[dict[str, Any]]:
    rows = {flag.name: flag for flag in await repo.list_all(session)}
    return [view(defn, rows.get(name)) for name, defn in sorted(FLAGS.items())]


async def get_flag(session: AsyncSession, name: str) -> dict[str, Any]:
    defn = definition(name)
    return view(defn, await repo.get(session, name))


async def _locked(session: AsyncSession, defn: FlagDefinition) -> RuntimeFlag:
    """The flag's row, created at version 0 with its defaults if needed, locked for update."""
    await session.execute(
        insert(RuntimeFlag)
        .values(
            name=defn.name,
            enabled=defn.default_enabled,
            configuration=defn.validate(defn.default_configuration),
            version=0,
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )
    flag = await repo.get(session, defn.name, for_update=True)
    assert flag is not None
    return flag


async def _write(
    session: AsyncSession,
    context: AuditContext,
    flag: RuntimeFlag,
    *,
    action: str,
    enabled: bool,
    configuration: dict[str, Any],
    expires_at: datetime | None,
    revert_to: dict[str, Any] | None,
    reason: str | None,
) -> RuntimeFlag:
    before = _state(flag) | {"version": flag.version}
    flag.enabled = enabled
    flag.configuration = configuration
    flag.version += 1
    flag.updated_by = context.principal.id
    flag.updated_at = datetime.now(UTC)
    flag.expires_at = expires_at
    flag.revert_to = revert_to
    history = RuntimeFlagHistory(
        name=flag.name,
        version=flag.version,
        enabled=enabled,
        configuration=configuration,
        changed_by=context.principal.id,
        reason=reason or context.reason,
        expires_at=expires_at,
    )
    await repo.save(session, flag, history)
    after = _state(flag) | {"version": flag.version, "expires_at": expires_at}
    await record(
        session,
        context,
        action=action,
        target=f"flag:{flag.name}",
        before=before,
        after=after,
        reason=reason,
    )
    return flag


async def set_flag(
    session: AsyncSession,
    context: AuditContext,
    name: str,
    *,
    enabled: bool,
    configuration: dict[str, Any] | None,
    ttl_seconds: int | None = None,
    reason: str | None = None,
    if_match: str | None = None,
) -> dict[str, Any]:
    """Set a flag. Configuration keys given are merged onto the current ones, then the whole
    configuration is checked against the flag's schema; nothing is written if it fails."""
    defn = definition(name)
    flag = await _locked(session, defn)
    _check_precondition(flag, if_match)
    # A schema failure raises here; the unit of work then rolls everything back.
    merged = defn.validate({**flag.configuration, **(configuration or {})})
    expires_at = revert_to = None
    if ttl_seconds is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        # A chain of temporary changes reverts to the value before the first of them.
        revert_to = flag.revert_to if flag.expires_at is not None else _state(flag)
    flag = await _write(
        session,
        context,
        flag,
        action="flag.set",
        enabled=enabled,
        configuration=merged,
        expires_at=expires_at,
        revert_to=revert_to,
        reason=reason,
    )
    return view(defn, flag)


async def reset_flag(
    session: AsyncSession, context: AuditContext, name: str, *, if_match: str | None = None
) -> dict[str, Any]:
    """Back to the flag's defaults, as a new version (versions only ever grow)."""
    defn = definition(name)
    flag = await _locked(session, defn)
    _check_precondition(flag, if_match)
    flag = await _write(
        session,
        context,
        flag,
        action="flag.reset",
        enabled=defn.default_enabled,
        configuration=defn.validate(defn.default_configuration),
        expires_at=None,
        revert_to=None,
        reason=None,
    )
    return view(defn, flag)


async def expire_due(session: AsyncSession, *, now: datetime | None = None) -> list[str]:
    """Revert every flag whose TTL has passed; audited as a system action. Safe to run on
    any replica at any time: rows being reverted elsewhere are skipped."""
    reverted = []
    context = AuditContext(principal=SYSTEM, reason="ttl expired")
    for flag in await repo.due_to_expire(session, now or datetime.now(UTC)):
        defn = FLAGS.get(flag.name)
        previous = flag.revert_to or {}
        default_config = defn.default_configuration if defn else {}
        await _write(
            session,
            context,
            flag,
            action="flag.expire",
            enabled=bool(previous.get("enabled", defn.default_enabled if defn else False)),
            configuration=previous.get("configuration", default_config),
            expires_at=None,
            revert_to=None,
            reason="ttl expired",
        )
        reverted.append(flag.name)
    return reverted


async def history(session: AsyncSession, name: str, *, limit: int) -> list[dict[str, Any]]:
    definition(name)
    return [row.model_dump() for row in await repo.history(session, name, limit=limit)]


def _check_precondition(flag: RuntimeFlag, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    current = etag(flag.name, flag.version)
    offered = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if current not in offered:
        raise PreconditionFailed(
            f"Flag {flag.name} changed since you read it (now version {flag.version}); "
            "GET it again and retry with the new ETag.",
            details={"current_etag": current},
        )
