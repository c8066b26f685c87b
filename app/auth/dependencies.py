"""Who may call what. Role checks are attached when a router is included (app.main), so a
new route inherits them and cannot forget auth; routes take `PrincipalDep` / `AuditDep`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.audit.service import AuditContext
from app.auth.principal import Principal, Role
from app.errors import Forbidden, Unauthorized

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aurum"'}


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    if getattr(request.state, "auth_failed", False):
        raise Unauthorized("Invalid or expired credentials.", headers=_CHALLENGE)
    raise Unauthorized(
        "Authentication required: send an API key in X-API-Key or a token in "
        "'Authorization: Bearer <token>'.",
        headers=_CHALLENGE,
    )


def _check(principal: Principal, required: Role) -> None:
    if not principal.role.allows(required):
        raise Forbidden(
            f"This needs the '{required.value}' role; your credential has '{principal.role.value}'."
        )


def require_role(required: Role) -> Callable[[Request], Principal]:
    """Every method needs `required`."""

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        _check(principal, required)
        return principal

    return dependency


def require_roles(*, read: Role, write: Role) -> Callable[[Request], Principal]:
    """Reads (GET/HEAD/OPTIONS) need `read`; every other method needs `write`."""

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        _check(principal, read if request.method in _READ_METHODS else write)
        return principal

    return dependency


def audit_context(request: Request) -> AuditContext:
    reason = request.headers.get("x-change-reason")
    return AuditContext(
        principal=current_principal(request),
        request_id=getattr(request.state, "request_id", None),
        reason=reason.strip()[:1024] if reason and reason.strip() else None,
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]
AuditDep = Annotated[AuditContext, Depends(audit_context)]

# Attach these when including routers (see app.main).
ADMIN_AREA = Depends(require_roles(read=Role.VIEWER, write=Role.OPERATOR))
ADMIN_ONLY = Depends(require_role(Role.ADMIN))
READ_API = Depends(require_role(Role.READER))
