"""`POST /v1/admin/external/config/reload`: apply an edited `config/external_providers.yml`
(admin, audited). An invalid file is refused naming its key and line; the running
configuration stays in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.audit.service import record
from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.errors import InvalidInput
from app.providers.config import ProviderConfigError, ProvidersConfig

router = APIRouter(prefix="/v1/admin/external/config", tags=["external: configuration"])


def summary(config: ProvidersConfig) -> dict[str, Any]:
    return {
        name: {
            "enabled": section.enabled,
            "base_url": section.base_url,
            "requests_per_second": section.rate_limit.requests_per_second,
            "datasets": len(section.datasets),
        }
        for name, section in config.providers.items()
    }


@router.get("")
async def current_config(request: Request) -> dict[str, Any]:
    return {"providers": summary(request.app.state.resources.providers.config)}


@router.post("/reload")
async def reload_config(request: Request, session: SessionDep, audit: AuditDep) -> dict[str, Any]:
    resources = request.app.state.resources
    before = summary(resources.providers.config)
    try:
        config = await resources.providers.reload(resources.settings, resources.redis)
    except ProviderConfigError as exc:
        raise InvalidInput(
            f"The provider file was not applied: {exc}. The running configuration is unchanged.",
            details=[{"field": "config/external_providers.yml", "message": str(exc)}],
        ) from exc
    after = summary(config)
    await record(
        session, audit, action="config.reload", target="config:external_providers",
        before=before, after=after,
    )  # fmt: skip
    return {"reloaded": True, "providers": after}
