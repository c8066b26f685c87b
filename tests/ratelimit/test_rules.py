"""Limit definitions: slowapi's syntax, per-prefix rules, the override, the fallback share,
and settings that refuse bad values naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.cli.settings_errors import describe_settings_error
from app.ratelimit.rules import (
    RuleSet,
    describe,
    parse_limits,
    per_second_limit,
    share_of,
    with_override,
)
from app.settings import Settings


def test_the_runbook_default_reads_as_two_limits_enforced_together() -> None:
    limits = parse_limits("100/60 seconds;20/1 second")
    assert [describe(item) for item in limits] == ["20 per 1 second", "100 per 60 seconds"]


def test_rules_match_the_longest_prefix_and_skip_exempt_paths() -> None:
    rules = RuleSet.build(
        "100/minute",
        {"/v1/external/": "500/hour", "/v1/external/bulk/": "10/hour"},
        exempt_paths=["/health"],
    )
    assert rules.match("/v1/external/bulk/x").name == "/v1/external/bulk/"  # type: ignore[union-attr]
    assert rules.match("/v1/external/fred").name == "/v1/external/"  # type: ignore[union-attr]
    assert rules.match("/v1/admin/flags").name == "default"  # type: ignore[union-attr]
    assert rules.match("/health") is None


def test_the_override_replaces_only_the_burst_limit() -> None:
    limits = parse_limits("100/60 seconds;20/1 second")
    overridden = with_override(limits, per_second_limit(50))
    assert [describe(item) for item in overridden] == ["50 per 1 second", "100 per 60 seconds"]
    hourly = with_override(parse_limits("500/hour"), per_second_limit(50))
    assert [describe(item) for item in hourly] == ["50 per 1 second", "500 per 1 hour"]
    assert describe(per_second_limit(0.5)) == "1 per 2 seconds"
    with pytest.raises(ValueError):
        per_second_limit(0)


def test_each_replica_gets_its_share_rounded_up() -> None:
    shared = parse_limits("100/60 seconds;20/1 second")
    assert [item.amount for item in share_of(shared, 3)] == [7, 34]
    assert share_of(shared, 1) == shared


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    return describe_settings_error(caught.value)


def test_bad_limits_and_networks_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "AURUM_RATE_LIMIT_DEFAULT" in _error(monkeypatch, AURUM_RATE_LIMIT_DEFAULT="lots")
    monkeypatch.delenv("AURUM_RATE_LIMIT_DEFAULT")
    message = _error(monkeypatch, AURUM_RATE_LIMIT_RULES='{"/v1/external/": "500/fortnight"}')
    assert "AURUM_RATE_LIMIT_RULES" in message and "500/fortnight" in message
    monkeypatch.delenv("AURUM_RATE_LIMIT_RULES")
    assert "AURUM_RATE_LIMIT_RULES" in _error(monkeypatch, AURUM_RATE_LIMIT_RULES="not json")
    monkeypatch.delenv("AURUM_RATE_LIMIT_RULES")
    message = _error(monkeypatch, AURUM_TRUSTED_PROXY_CIDRS="10.0.0.0/8, 10.0.0.300")
    assert "AURUM_TRUSTED_PROXY_CIDRS" in message and "10.0.0.300" in message
    monkeypatch.delenv("AURUM_TRUSTED_PROXY_CIDRS")
    assert "AURUM_CORS_ALLOW_ORIGINS" in _error(
        monkeypatch, AURUM_CORS_ALLOW_ORIGINS="console.example.com"
    )


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURUM_RATE_LIMIT_EXEMPT_CIDRS", "10.0.0.0/8, 192.0.2.7")
    monkeypatch.setenv("AURUM_CORS_ALLOW_ORIGINS", "https://console.example.com/,http://x:3000")
    monkeypatch.setenv("AURUM_RATE_LIMIT_RULES", '{"/v1/external/": "1000/hour"}')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.rate_limit_exempt_cidrs == ["10.0.0.0/8", "192.0.2.7"]
    assert settings.cors_allow_origins == ["https://console.example.com", "http://x:3000"]
    # Merged over the shipped rules: the dashboard's polling keeps its own.
    assert settings.rate_limit_rules == {
        "/v1/external/": "1000/hour",
        "/ui/partials/": "2000/hour;10/1 second",
    }


def test_a_shipped_rule_is_dropped_with_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AURUM_RATE_LIMIT_RULES", '{"/ui/partials/": null, "/v1/admin/": "50/minute"}'
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.rate_limit_rules == {"/v1/external/": "500/hour", "/v1/admin/": "50/minute"}


def test_a_bad_storage_url_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, AURUM_RATE_LIMIT_STORAGE_URL="mysql://root:hunter2@db/x")
    assert "AURUM_RATE_LIMIT_STORAGE_URL" in message
    assert "hunter2" not in message
