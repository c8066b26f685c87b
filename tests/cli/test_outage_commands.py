"""`aurum outage ...` against the outages API (/v1/admin/external/outages): declare, see it in
`status --check`, 409 on a second declaration, show, resolve by provider name, 409/no open
outage afterwards, report."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.cli.conftest import Live


def _eventually(check: Callable[[], bool], seconds: float = 5) -> bool:
    """Health views are cached for a second per replica: poll a little."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_declaring_needs_a_reason(live: Live) -> None:
    result = live.run("outage", "start", "eia")
    assert result.exit_code == 2 and "--reason" in result.stderr


def test_the_outage_lifecycle_in_two_commands(live: Live) -> None:
    declared = live.json("outage", "start", "eia", "--reason", "EIA 5xx", "--ttl", "1h")
    assert declared["status"] == "open" and declared["provider"] == "eia"
    applied = {(a["action"], a["target"]) for a in declared["actions"]}
    assert ("pause_job", "ingest.eia") in applied
    assert ("force_open_breaker", "eia") in applied
    assert ("flag", "external_read_cache") in applied

    check = live.run("status", "--check")
    assert check.exit_code == 1 and "outage open on eia" in check.stdout
    assert live.json("jobs", "show", "ingest.eia")["paused"] is True

    again = live.run("outage", "start", "eia", "--reason", "still 5xx")
    assert again.exit_code == 3 and "HTTP 409" in again.stderr
    assert declared["id"] in again.stderr

    listed = live.json("outage", "list", "--status", "open")["outages"]
    assert declared["id"] in {o["id"] for o in listed}
    shown = live.json("outage", "show", "eia")
    assert shown["id"] == declared["id"] and isinstance(shown["timeline"], list)

    resolved = live.json("outage", "resolve", "eia", "--reason", "EIA back")
    assert resolved["status"] == "resolved"
    assert _eventually(lambda: live.run("status", "--check").exit_code == 0)
    assert live.json("jobs", "show", "ingest.eia")["paused"] is False

    gone = live.run("outage", "resolve", "eia")
    assert gone.exit_code == 3 and "no open outage for provider 'eia'" in gone.stderr
    twice = live.run("outage", "resolve", declared["id"])
    assert twice.exit_code == 3 and "HTTP 409" in twice.stderr

    report = live.run("outage", "report", declared["id"])
    assert report.exit_code == 0 and report.stdout.lstrip().startswith("#")
    latest = live.run("outage", "report", "eia")  # a provider name: its latest outage
    assert latest.stdout.splitlines()[:1] == report.stdout.splitlines()[:1]


def test_declaring_with_actions_switched_off(live: Live) -> None:
    declared = live.json(
        "outage", "start", "noaa", "--no-pause", "--no-read-cache", "--reason", "NOAA slow"
    )
    assert {a["action"] for a in declared["actions"]} == {"force_open_breaker"}
    assert live.json("jobs", "show", "ingest.noaa")["paused"] is False
    resolved = live.json("outage", "resolve", declared["id"], "--no-backfill", "--force")
    assert resolved["status"] == "resolved" and resolved["backfill"] is None


def test_an_unknown_provider_is_404_listing_the_known_ones(live: Live) -> None:
    result = live.run("outage", "start", "bloomberg", "--reason", "x")
    assert result.exit_code == 3
    assert "HTTP 404" in result.stderr and "eia, fred, noaa, worldbank" in result.stderr
