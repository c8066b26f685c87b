"""Which role each part of the API needs, declared where routers are included (app.main) and
enforced by AuthorizationMiddleware before any route code runs.

Enforcing in pure ASGI middleware, not in per-route FastAPI dependencies, keeps the check to a
prefix lookup: measured here, two role dependencies cost more CPU per request than the rest of
the admin stack together. Declaring the policy at include time keeps STYLE.md's rule that a new
route cannot forget auth: it inherits its router's policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app.auth.principal import Role

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Reads (GET/HEAD/OPTIONS) need `read`; every other method needs `write`."""

    read: Role
    write: Role

    def required(self, method: str) -> Role:
        return self.read if method in _READ_METHODS else self.write


ADMIN_AREA = AccessPolicy(read=Role.VIEWER, write=Role.OPERATOR)
ADMIN_ONLY = AccessPolicy(read=Role.ADMIN, write=Role.ADMIN)
READ_API = AccessPolicy(read=Role.READER, write=Role.ADMIN)


# Distinct paths whose policy is remembered; then the memory starts over (paths carry ids).
MAX_RESOLVED_PATHS = 4096


class AccessPolicies:
    """Path prefix → policy; the longest matching prefix wins.

    Every request resolves its path twice (authentication, then authorization), and a scan
    of the prefixes costs more than the rest of either layer, so answers are remembered per
    path; adding a policy forgets them."""

    def __init__(self) -> None:
        self._by_prefix: list[tuple[str, AccessPolicy]] = []
        self._resolved: dict[str, AccessPolicy | None] = {}

    def add(self, prefix: str, policy: AccessPolicy) -> None:
        if not prefix.startswith("/") or prefix == "/":
            raise ValueError(f"protected routers need a specific prefix, got {prefix!r}")
        self._by_prefix.append((prefix.rstrip("/"), policy))
        self._by_prefix.sort(key=lambda item: len(item[0]), reverse=True)
        self._resolved.clear()

    def resolve(self, path: str) -> AccessPolicy | None:
        try:
            return self._resolved[path]
        except KeyError:
            pass
        found = next(
            (
                policy
                for prefix, policy in self._by_prefix
                if path == prefix or path.startswith(prefix + "/")
            ),
            None,
        )
        if len(self._resolved) >= MAX_RESOLVED_PATHS:
            self._resolved.clear()
        self._resolved[path] = found
        return found

    @property
    def prefixes(self) -> list[str]:
        return [prefix for prefix, _ in self._by_prefix]


def protect(app: FastAPI, router: APIRouter, policy: AccessPolicy) -> None:
    """Include `router` with `policy` on everything under its prefix."""
    _include_flat(app, router)
    policies: AccessPolicies = app.state.access_policies
    policies.add(router.prefix, policy)


def include_open(app: FastAPI, router: APIRouter) -> None:
    """Include `router` with no policy: only the probes (`/health`, `/ready`, `/metrics`);
    tests/auth/test_route_protection.py fails on any other open route."""
    _include_flat(app, router)


def _include_flat(app: FastAPI, router: APIRouter) -> None:
    """What `app.include_router(router)` does for our routers (plain APIRoutes, prefix given
    when the router was made, nothing added at include time), with the routes joining the
    app's own list. FastAPI 0.165 keeps an included router nested: a request is matched
    against each included router in turn and then again inside the chosen one, about 12 % of
    a request's in-process CPU here (bench/api_overhead). One difference: these routes were
    made by a router without `dependency_overrides_provider`, so `app.dependency_overrides`
    does not reach them (nothing in the service or its tests uses it)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes can be included flat")
        app.router.routes.append(route)
