"""The authenticated caller, and the roles that order what callers may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from starlette.types import Scope


class Role(StrEnum):
    """Ordered: each role may do everything the ones before it may."""

    READER = "reader"  # the read API for downstream apps (/v1/external)
    VIEWER = "viewer"  # reads everything under /v1/admin and /runtime-config
    OPERATOR = "operator"  # also changes flags, breakers, jobs, backfills, limits, quotas
    ADMIN = "admin"  # also manages keys and reloads configuration

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANK = {Role.READER: 0, Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """`id` is stable and safe to log or key limits by: `key:<prefix>` or `jwt:<sub>`."""

    id: str
    name: str
    role: Role
    kind: Literal["api_key", "jwt", "system"]


SYSTEM = Principal(id="system", name="system", role=Role.ADMIN, kind="system")


def scope_principal(scope: Scope) -> Principal | None:
    """The principal the authentication middleware attached to this request, if any."""
    state = scope.get("state")
    return state.get("principal") if state else None
