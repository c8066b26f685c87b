"""Who the client is and which scheme it used, believing `X-Forwarded-For` and
`X-Forwarded-Proto` only when the direct peer is a configured proxy (AURUM_TRUSTED_PROXY_CIDRS).

Anyone can send these headers; only a proxy we run may be believed. `aurum serve` starts
uvicorn with `proxy_headers=False`, so this module is the one place that reads them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from starlette.types import Scope

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs or single addresses (`10.0.0.0/8`, `192.0.2.7`); settings validated them."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it (`192.0.2.7`, `192.0.2.7:5123`, `[2001:db8::1]:443`), with
    IPv4-mapped IPv6 (`::ffff:192.0.2.7`) read as IPv4 so one client has one key."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    # A version mismatch (v4 address, v6 network) is simply "not in it".
    return any(address.version == net.version and address in net for net in networks)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


class TrustedProxies:
    """Resolves the real client address and scheme behind the configured proxies."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = parse_networks(cidrs)

    def _peer(self, scope: Scope) -> tuple[str | None, IPAddress | None]:
        client = scope.get("client")
        if not client:
            return None, None
        return client[0], parse_address(client[0])

    def _peer_is_proxy(self, peer: IPAddress | None) -> bool:
        return peer is not None and bool(self.networks) and in_networks(peer, self.networks)

    def client_address(self, scope: Scope) -> str | None:
        """The right-most address in `X-Forwarded-For` that is not one of our proxies, when
        the peer is one; otherwise the peer. None when the server gave no peer."""
        if not self.networks:  # no proxy to believe: the peer, as the server reported it
            client = scope.get("client")
            if not client:
                return None
            host: str = client[0]
            return host[7:] if host.startswith("::ffff:") and "." in host else host
        raw_peer, peer = self._peer(scope)
        if peer is None:
            return raw_peer
        if not self._peer_is_proxy(peer):
            return str(peer)
        hops = [
            hop for value in _header_values(scope, b"x-forwarded-for") for hop in value.split(",")
        ]
        client = peer
        # Right to left: each trusted proxy appended the address it saw. The first address
        # that is not one of ours is the client; anything left of it is client-supplied.
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break  # garbage a proxy would never write: stop at the last hop we trust
            client = address
            if not in_networks(address, self.networks):
                break
        return str(client)

    def is_https(self, scope: Scope) -> bool:
        """Served over TLS: directly, or at a trusted proxy that says so."""
        if scope.get("scheme") == "https":
            return True
        if not self.networks:
            return False
        _, peer = self._peer(scope)
        if not self._peer_is_proxy(peer):
            return False
        values = _header_values(scope, b"x-forwarded-proto")
        # The first value is the scheme the outermost proxy saw from the client.
        return bool(values) and values[0].split(",")[0].strip().lower() == "https"
