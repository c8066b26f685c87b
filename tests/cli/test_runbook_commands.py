"""Every line of the team's RUNBOOK-COMMANDS.md in its `aurum` form (docs/cli.md maps them),
run against the real service: the output says what the runbook step needs, and a change is
seen through the API and in the audit log under its reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.cli.conftest import Live

PROVIDERS = {"fred", "eia", "noaa", "worldbank"}


@dataclass(frozen=True)
class Line:
    """A runbook step, its `aurum` command and what its JSON must show."""

    step: str
    args: list[str]
    check: Callable[[Any], bool]
    env: dict[str, str] = field(default_factory=dict)


def _audited(live: Live, action: str, reason: str) -> bool:
    items = live.json("audit", "--action", action, "--limit", "5")["items"]
    return any(item["reason"] == reason for item in items)


LOOK = [
    Line("pipeline health", ["health"], lambda b: set(b["providers"]) == PROVIDERS),
    *(
        Line(f"one provider ({p})", ["health", p], lambda b, p=p: b["provider"] == p)
        for p in sorted(PROVIDERS)
    ),
    Line("SLA compliance", ["sla"], lambda b: b["window"] == "24h" and "fred" in b["providers"]),
    Line(
        "outbound rate limits and quota use",
        ["ratelimits"],
        lambda b: b["providers"]["fred"]["quota"]["windows"]["daily"]["limit"] == 50_000,
    ),
    Line("validation results", ["validation", "fred"], lambda b: b["provider"] == "fred"),
    Line("cost against budget", ["costs"], lambda b: set(b["providers"]) == PROVIDERS),
    Line("circuit breakers", ["breakers"], lambda b: set(b["providers"]) == PROVIDERS),
    Line("jobs", ["jobs"], lambda b: "ingest.fred" in {j["id"] for j in b["jobs"]}),
    Line(
        "failed runs",
        ["runs", "--status", "failed"],
        lambda b: all(r["status"] == "failed" for r in b["items"]),
    ),
    Line(
        "who changed what",
        ["audit", "--since", "2024-09-23T00:00:00Z"],
        lambda b: isinstance(b["items"], list),
    ),
    Line(
        "liveness / readiness (dependencies)",
        ["status"],
        lambda b: b["health"]["dependencies"]["postgres"]["status"] == "up",
    ),
]


@pytest.mark.parametrize("line", LOOK, ids=[line.step for line in LOOK])
def test_look(live: Live, line: Line) -> None:
    body = live.json(*line.args, **line.env)
    assert line.check(body), body


def test_provider_status_as_the_runbook_reads_it_from_the_services_redis(live: Live) -> None:
    """`redis-cli --raw get external:provider_status:fred`, against the service's Redis."""
    live.json("health", "fred")  # a health read keeps the status key current
    result = live.run(
        "redis-cli", "--raw", "get", "external:provider_status:fred",
        AURUM_REDIS_URL=live.settings.redis_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stored = json.loads(result.stdout)
    assert stored["status"] in {"healthy", "degraded", "down"}


def test_serve_cached_reads_during_an_outage_and_undo_it(live: Live) -> None:
    on = live.json(
        "flags", "set", "external_read_cache", "--on", "--config", '{"ttl_seconds": 900}',
        "--reason", "EIA 5xx",
    )  # fmt: skip
    assert on["enabled"] is True and on["configuration"]["ttl_seconds"] == 900
    assert _audited(live, "flag.set", "EIA 5xx")
    off = live.json("flags", "set", "external_read_cache", "--off", "--reason", "EIA back")
    assert off["enabled"] is False
    history = live.json("flags", "history", "external_read_cache")
    assert len(history) >= 2


@pytest.mark.parametrize(
    ("flag", "setting", "expected"),
    [("external_ingest", "batch_size=500", {"batch_size": 500}),
     ("api_rate_limit", "rps=50", {"rps": 50})],
    ids=["smaller ingest batches", "throttle noisy API consumers"],
)  # fmt: skip
def test_flag_configuration_lines(
    live: Live, flag: str, setting: str, expected: dict[str, int]
) -> None:
    body = live.json("flags", "set", flag, "--on", "--set", setting, "--reason", "runbook")
    assert body["enabled"] is True
    assert body["configuration"].items() >= expected.items()
    back = live.json("flags", "unset", flag, "--reason", "runbook done")
    assert back["name"] == flag


def test_reset_a_tripped_breaker(live: Live) -> None:
    opened = live.json("breakers", "force-open", "fred", "--ttl", "10m", "--reason", "FRED 5xx")
    assert opened["state"] == "forced_open"
    assert live.json("status")["health"]["providers"]["fred"]["breaker"]["state"] != "closed"
    reset = live.json("breakers", "reset", "fred", "--reason", "FRED back")
    assert reset["state"] == "closed"
    assert "probe" in reset
    assert _audited(live, "breaker.reset", "FRED back")


def test_pause_and_resume_a_providers_ingestion(live: Live) -> None:
    paused = live.json("jobs", "pause", "ingest.fred", "--reason", "FRED 5xx")
    assert paused["paused"] is True
    job = live.json("jobs", "show", "ingest.fred")
    assert job["paused"] is True and job["pause"]["reason"] == "FRED 5xx"
    resumed = live.json("jobs", "resume", "ingest.fred", "--reason", "FRED back")
    assert resumed["changed"] is True
    assert live.json("jobs", "show", "ingest.fred")["paused"] is False


def test_run_ingestion_now_and_follow_it(live: Live) -> None:
    run = live.json("jobs", "trigger", "ingest.worldbank", "--follow", "--reason", "runbook")
    assert run["status"] == "succeeded", run
    shown = live.json("runs", "show", str(run["id"]))
    assert shown["id"] == run["id"] and shown["trigger"] == "manual"


def test_backfill_a_missed_window_estimated_then_followed(live: Live) -> None:
    """`airflow dags trigger external_backfill -c '{"providers": [{"name": "fred", "datasets":
    ["DEXUSEU"]}]}'` and `python -m app.runner --providers fred --datasets DEXUSEU --start
    2024-09-23 --end 2024-09-23`."""
    window = ["--datasets", "DEXUSEU", "--start", "2024-09-23", "--end", "2024-09-23"]
    dry = live.json("backfill", "fred", *window, "--dry-run")
    assert dry["dry_run"] is True and dry["runs"] == []
    assert dry["estimate"]["fred"]["fits"] is True
    people = live.run("backfill", "fred", *window, "--dry-run")
    assert "dry run: nothing queued" in people.stdout and "fits" in people.stdout
    run = live.json("backfill", "fred", *window, "--reason", "missed window")
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "backfill" and run["progress"]["DEXUSEU"]["status"] == "done"


def test_adjust_a_providers_outbound_rate(live: Live) -> None:
    body = live.json("ratelimits", "set", "noaa", "--rps", "2", "--reason", "NOAA 429s")
    assert body["rate_limit"]["requests_per_second"] == 2
    assert _audited(live, "ratelimit.change", "NOAA 429s")


def test_reset_quota_counters_by_api_and_by_the_runbooks_redis_cli_del(live: Live) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    key = f"fred:quota:daily:{today}"
    redis_env = {"AURUM_REDIS_URL": live.settings.redis_url}

    def used() -> int:
        daily = live.json("ratelimits")["providers"]["fred"]["quota"]["windows"]["daily"]
        return int(daily["used"])

    assert live.run("redis-cli", "INCRBY", key, "7", **redis_env).exit_code == 0
    assert used() >= 7
    deleted = live.run("redis-cli", "DEL", key, **redis_env)
    assert deleted.exit_code == 0 and deleted.stdout.strip() == "1"
    assert used() == 0
    assert live.run("redis-cli", "INCRBY", key, "5", **redis_env).exit_code == 0
    reset = live.json("quotas", "reset", "fred", "--reason", "new key")
    assert reset["quota"]["windows"]["daily"]["used"] == 0
    assert _audited(live, "quota.reset", "new key")


def test_adjust_monthly_budget(live: Live) -> None:
    body = live.json("costs", "set", "fred", "--monthly-budget", "4000", "--reason", "cut")
    assert body["monthly_budget_usd"] == 4000


def test_reload_provider_config(live: Live) -> None:
    body = live.json("config", "reload", "--reason", "feed off", AURUM_API_KEY=live.admin_key)
    assert body["reloaded"] is True and set(body["providers"]) == PROVIDERS


def test_run_the_quality_checks_by_hand(live: Live) -> None:
    """The runbooks' `airflow tasks test fred_data_monitoring check_data_quality`."""
    body = live.json("validation", "fred", "--run", "--reason", "quality check")
    assert body["latest"] is not None and body["latest"]["status"] != "running"
    assert body["running"] is None
