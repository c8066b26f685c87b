"""Who a request is counted against: the principal first, else the client address, believing
X-Forwarded-For only from a trusted proxy; exempt principals and networks are not counted."""

from __future__ import annotations

import httpx

from app.auth.principal import Role
from app.settings import Settings
from tests.ratelimit.scaffold import EXTERNAL_PING, PING, caller, limited_app, serving
from tests.support.auth import new_api_key


def _one_per_minute(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"rate_limit_default": "1/minute", **update})


async def _second_request_key(
    client: httpx.AsyncClient, path: str = PING, **kwargs: object
) -> str | None:
    """Spend the one allowed request; the refusal names the key it was counted against."""
    first = await client.get(path, **kwargs)  # type: ignore[arg-type]
    assert first.status_code == 200
    second = await client.get(path, **kwargs)  # type: ignore[arg-type]
    return second.json()["details"]["key"] if second.status_code == 429 else None


async def test_principals_are_counted_apart_even_from_one_address(rl_settings: Settings) -> None:
    app = limited_app(_one_per_minute(rl_settings))
    async with (
        serving(app),
        caller(app, principal="alice") as alice,
        caller(app, principal="bob") as bob,
        caller(app, ip="198.51.100.20", principal="alice") as alice_elsewhere,
    ):
        assert (await alice.get(PING)).status_code == 200
        assert (await bob.get(PING)).status_code == 200  # same address, own budget
        refused = await alice_elsewhere.get(PING)  # another address, alice's budget
    assert refused.status_code == 429
    assert refused.json()["details"]["key"] == "key:alice"
    assert "for principal key:alice;" in refused.json()["message"]


async def test_anonymous_callers_are_counted_by_address(rl_settings: Settings) -> None:
    app = limited_app(_one_per_minute(rl_settings))
    async with (
        serving(app),
        caller(app, ip="203.0.113.1") as one,
        caller(app, ip="203.0.113.2") as two,
    ):
        assert (await one.get(PING)).status_code == 200
        assert (await two.get(PING)).status_code == 200  # another address, own budget
        refused_one, refused_two = await one.get(PING), await two.get(PING)
    assert refused_one.json()["details"]["key"] == "ip:203.0.113.1"
    assert refused_two.json()["details"]["key"] == "ip:203.0.113.2"
    assert "for client 203.0.113.1;" in refused_one.json()["message"]


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(rl_settings: Settings) -> None:
    app = limited_app(_one_per_minute(rl_settings, trusted_proxy_cidrs=["10.0.0.0/8"]))
    async with (
        serving(app),
        caller(app, ip="10.1.2.3") as proxy,
        caller(app, ip="198.51.100.9") as stranger,
    ):
        # Through our proxy chain: the right-most address that is not a proxy of ours; the
        # left-most entry is whatever the client claimed, and is ignored.
        chain = {"X-Forwarded-For": "1.1.1.1, 203.0.113.7, 10.0.0.3"}
        assert await _second_request_key(proxy, headers=chain) == "ip:203.0.113.7"
        other_client = await proxy.get(PING, headers={"X-Forwarded-For": "203.0.113.8"})
        assert other_client.status_code == 200  # another client behind the same proxy
        # From an untrusted peer the header is ignored: every claim counts against the peer.
        first = await stranger.get(PING, headers={"X-Forwarded-For": "192.0.2.1"})
        assert first.status_code == 200
        spoofed = await stranger.get(PING, headers={"X-Forwarded-For": "192.0.2.2"})
    assert spoofed.status_code == 429
    assert spoofed.json()["details"]["key"] == "ip:198.51.100.9"


async def test_exempt_networks_and_principals_are_not_counted(rl_settings: Settings) -> None:
    settings = _one_per_minute(
        rl_settings,
        rate_limit_exempt_cidrs=["192.0.2.0/24"],
        rate_limit_exempt_principals=["ingest-bot", "key:ops"],
    )
    app = limited_app(settings)
    async with (
        serving(app),
        caller(app, ip="192.0.2.44") as monitor,
        caller(app, principal="ingest-bot") as by_name,
        caller(app, principal="ops") as by_id,
    ):
        for client in (monitor, by_name, by_id):
            responses = [await client.get(PING) for _ in range(3)]
            assert [r.status_code for r in responses] == [200, 200, 200]
            assert "ratelimit-limit" not in responses[0].headers


async def test_a_real_api_key_is_counted_as_its_principal(
    rl_settings: Settings, database_url: str
) -> None:
    # End to end through the authentication middleware: it runs before the limiter. On a
    # protected path: on open ones (the probes) credentials are not looked at, by design.
    plaintext, _ = await new_api_key(database_url, Role.READER, name="limited-reader")
    app = limited_app(_one_per_minute(rl_settings, rate_limit_rules={}))
    async with serving(app), caller(app, headers={"X-API-Key": plaintext}) as client:
        key = await _second_request_key(client, EXTERNAL_PING)
    assert key is not None and key.startswith("key:")
