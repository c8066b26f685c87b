"""The caller, for routes that need it (audited changes, whoami). Role checks are not here:
AuthorizationMiddleware enforces the policy each router was included with (app.auth.policy),
so by the time a route runs its caller is known and allowed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.audit.service import AuditContext
from app.auth.principal import Principal, scope_principal
from app.errors import Unauthorized

# `async def` on purpose: FastAPI runs plain `def` dependencies in its threadpool, two thread
# hops per request for what is a dictionary read.


def principal_of(request: Request) -> Principal:
    """The caller the authentication middleware attached (routes read it without a
    dependency where the request path is hot, e.g. whoami)."""
    principal = scope_principal(request.scope)
    if principal is None:  # only reachable on a route outside every protected prefix
        raise Unauthorized("Authentication required.")
    return principal


async def current_principal(request: Request) -> Principal:
    return principal_of(request)


async def audit_context(request: Request) -> AuditContext:
    reason = request.headers.get("x-change-reason")
    return AuditContext(
        principal=await current_principal(request),
        request_id=getattr(request.state, "request_id", None),
        reason=reason.strip()[:1024] if reason and reason.strip() else None,
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]
AuditDep = Annotated[AuditContext, Depends(audit_context)]
