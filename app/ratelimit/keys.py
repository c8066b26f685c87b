"""Who a request is counted against: its principal when authenticated (behind an ingress many
callers share an address), else its client address; or nobody, when it is exempt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Scope

from app.auth.principal import scope_principal
from app.http.proxies import TrustedProxies, in_networks, parse_address, parse_networks
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Caller:
    """`key` goes into storage keys; `label` into messages (`principal key:ab12`)."""

    key: str
    label: str


class CallerResolver:
    def __init__(
        self,
        proxies: TrustedProxies,
        *,
        exempt_principals: Iterable[str] = (),
        exempt_cidrs: Iterable[str] = (),
    ) -> None:
        self.proxies = proxies
        self.exempt_principals = frozenset(exempt_principals)
        self.exempt_networks = parse_networks(exempt_cidrs)

    @classmethod
    def from_settings(cls, settings: Settings, proxies: TrustedProxies) -> CallerResolver:
        return cls(
            proxies,
            exempt_principals=settings.rate_limit_exempt_principals,
            exempt_cidrs=settings.rate_limit_exempt_cidrs,
        )

    def resolve(self, scope: Scope) -> Caller | None:
        """The caller to count this request against, or None when it is exempt (by principal
        id or name, or by client address)."""
        principal = scope_principal(scope)
        if principal is not None and (
            principal.id in self.exempt_principals or principal.name in self.exempt_principals
        ):
            return None
        address: str | None = None
        # The address is only worked out when it is needed: for the key, or for an exemption.
        if principal is None or self.exempt_networks:
            address = self.proxies.client_address(scope)
            if self.exempt_networks and address is not None:
                parsed = parse_address(address)
                if parsed is not None and in_networks(parsed, self.exempt_networks):
                    return None
        if principal is not None:
            # Principal ids are `key:<prefix>` / `jwt:<sub>`: they never collide with `ip:`.
            return Caller(principal.id, f"principal {principal.id}")
        shown = address or "unknown"
        return Caller(f"ip:{shown}", f"client {shown}")
