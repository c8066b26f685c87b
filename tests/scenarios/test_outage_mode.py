"""Outage mode as on-call runs it against the real service (two replicas on one data
directory, the sandbox as the four live providers). Per provider, through the API: the provider
fails in its own style → declare (`POST /v1/admin/external/outages`) → jobs paused, breaker
forced open, read cache on, all audited under the one reason, health and /ratelimits show the
outage, reads still served → revisions published meanwhile → a resolve while it still fails is
refused with the probe's error → fault lifted → resolve: probe, undo, backfill of the outage
plus the revision window → stored rows equal the truth → the timeline, the completeness check
and the markdown report. Then the game day through `aurum` (two commands), a flag retuned and
a job resumed by hand during an outage left alone by its resolve, a declaration seen by the
other replica within a second, and a forgotten outage resolving itself at its TTL. Prints the
times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness.cli import output, run_cli
from tests.scenarios.harness.figures import Figures, report_figures
from tests.scenarios.harness.outage_checks import (
    assert_audited,
    assert_backfill_window,
    assert_given_back,
    assert_mitigated,
    assert_resolved,
    assert_timeline,
    wait_truth,
)
from tests.scenarios.harness.outages import (
    READ_CACHE,
    Outages,
    missing_times,
    provider_jobs,
    provider_state,
    revision_floor,
    settle,
    targets,
    when,
)
from tests.scenarios.harness.processes import wait_until
from tests.scenarios.harness.providers import PROVIDERS, provider_file
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ReplicaSet, ServiceProcess, elapsed, live_env
from tests.scenarios.harness.truth import mismatches, stored

# The outages API's shortest TTL, and how often the leader's expiry job looks.
TTL_SECONDS, EXPIRY_EVERY = 60, 30
# The completeness job runs every 60 s on the leader, once the backfill has succeeded.
COMPLETENESS_WITHIN = 150


@pytest.fixture(scope="module")
def replicas(
    scenario_dir: Path, sandbox: SandboxProcess, kafka_bootstrap: str
) -> Iterator[ReplicaSet]:
    config = provider_file(scenario_dir, sandbox.base_urls())
    env = {
        **live_env(config, kafka_bootstrap),
        # The declaration, not auto-pause, is what pauses a provider here.
        "AURUM_JOB_AUTO_PAUSE_FAILURES": "50",
    }
    replica_set = ReplicaSet(scenario_dir / "data", 2, env, scenario_dir / "logs")
    try:
        yield replica_set.start()
    finally:
        replica_set.close()


@pytest.fixture(scope="module")
def service(replicas: ReplicaSet) -> ServiceProcess:
    """The replica on-call talks to (the other one only serves the replica scenario)."""
    return replicas.replicas[0]


@pytest.fixture(scope="module")
def outages(service: ServiceProcess) -> Outages:
    return Outages(service.api)


@pytest.fixture(scope="module")
def declared() -> dict[str, str]:
    """Provider -> the id of the outage its API lifecycle declared (for the report test)."""
    return {}


@pytest.fixture(autouse=True)
def _settled(service: ServiceProcess, sandbox: SandboxProcess) -> Iterator[None]:
    """Each scenario starts from a healthy provider and no open outage, whatever the last did."""
    yield
    sandbox.clear_faults()
    for line in settle(service.api):
        print(f"teardown: {line}")


@pytest.fixture(scope="module")
def figures(scenario_dir: Path) -> Iterator[Figures]:
    measured: Figures = {}
    yield measured
    report_figures(measured, scenario_dir / "outage-mode-figures.json", "outage mode figures")


def _collected(service: ServiceProcess, sandbox: SandboxProcess, provider: str) -> None:
    """Before the outage: one run has stored everything the provider serves."""
    api, spec = service.api, PROVIDERS[provider]
    if mismatches(service, sandbox, spec):
        run = api.finished(api.trigger(f"ingest.{provider}"), timeout=120)
        assert run["status"] == "succeeded", run
    assert mismatches(service, sandbox, spec) == {}


def _backfilled(
    service: ServiceProcess, sandbox: SandboxProcess, resolved: dict[str, Any]
) -> dict[str, Any]:
    """The resolve's backfill covers the right window, succeeds, and leaves the truth."""
    spec = PROVIDERS[resolved["provider"]]
    floor = revision_floor(sandbox, spec, when(resolved["declared_at"]).date())
    assert_backfill_window(resolved, floor)
    run = service.api.finished(str(resolved["backfill"]["run_id"]), timeout=180)
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "backfill", run
    wait_truth(service, sandbox, spec)
    return run


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_outage_lifecycle_through_the_api(
    provider: str,
    service: ServiceProcess,
    sandbox: SandboxProcess,
    outages: Outages,
    declared: dict[str, str],
    figures: Figures,
) -> None:
    spec, api = PROVIDERS[provider], service.api
    reason = f"scenario: {provider} failing ({spec.outage['kind']})"
    row = figures.setdefault(provider, {})
    _collected(service, sandbox, provider)
    before = {series_id: stored(service, provider, series_id) for series_id in spec.datasets}

    # The provider fails; on-call declares the outage: one call applies the whole runbook.
    fault = sandbox.add_fault(**spec.outage)
    since = datetime.now(UTC) - timedelta(milliseconds=50)
    t_declare = time.monotonic()
    view = outages.declare(provider, reason)
    row["declare_s"] = elapsed(t_declare)
    until = datetime.now(UTC) + timedelta(milliseconds=50)
    declared[provider] = view["id"]
    state = assert_mitigated(api, provider, view, reason)
    assert all(reason in (why or "") for why in state.pause_reasons.values()), state
    assert_audited(api, provider, reason, since, until)
    again = outages.declare_response(provider, "a second declaration")
    assert again.status_code == 409 and view["id"] in again.text, again.text

    # The breaker is in force: even a forced run sends the provider nothing.
    fired = sandbox.fired(fault["id"])
    refused = api.finished(
        api.trigger(f"ingest.{provider}", force=True, reason="scenario: try during outage")
    )
    assert refused["status"] != "succeeded", refused
    assert sandbox.fired(fault["id"]) == fired, "a forced-open breaker let a call out"

    # Reads are still served, from storage and the read cache.
    for series_id in spec.datasets:
        served = api.read_series(provider, series_id)
        assert dict(served) == before[series_id]
        wait_until(
            partial(api.cache_hit, provider, series_id),
            timeout=3,
            what=f"{series_id} to be served from the read cache",
        )

    # The provider publishes revisions meanwhile. A resolve before it answers again is refused
    # with the probe's error, and changes nothing.
    sandbox.advance(provider, [spec.sandbox_key(s) for s in spec.datasets])
    early = outages.resolve_response(view["id"], reason="scenario: too early")
    assert early.status_code == 409, early.text
    assert early.json()["error"] == "conflict" and early.json()["message"], early.text
    assert outages.get(view["id"])["status"] == "open"
    assert provider_state(api, provider).breaker == "forced_open"

    # The provider is back: resolve probes it, undoes the mitigation, queues the backfill.
    sandbox.clear_faults()
    t_lift = time.monotonic()
    resolved = outages.resolve(view["id"], reason="scenario: provider answers again")
    row["resolve_s"] = elapsed(t_lift)
    assert_resolved(resolved, provider, list(state.paused))
    assert_given_back(api, provider)
    run = _backfilled(service, sandbox, resolved)
    row["lift_to_truth_s"] = elapsed(t_lift)
    for series_id in spec.datasets:  # what the read API serves, once each
        served = api.read_series(provider, series_id)
        assert len({d for d, _ in served}) == len(served), "a date served twice"

    # The timeline: every step, the refused run and the backfill with its rows.
    detail = outages.get(view["id"])
    assert detail["backfill"]["status"] == "succeeded", detail["backfill"]
    rows = (detail["backfill"]["rows_new"], detail["backfill"]["rows_changed"])
    assert rows == (run["rows_new"], run["rows_changed"]), detail["backfill"]
    assert run["rows_new"] + run["rows_changed"] > 0, f"the revisions changed no row: {run}"
    assert_timeline(detail, run, str(refused["id"]))


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_completeness_and_report(
    provider: str, outages: Outages, declared: dict[str, str], figures: Figures
) -> None:
    """After the backfill, the completeness job finds no data missing, and the post-incident
    report lists every step of the timeline with its time."""
    if provider not in declared:
        pytest.skip(f"the API lifecycle of {provider} declared no outage")
    view = outages.wait_completeness(declared[provider], timeout=COMPLETENESS_WITHIN)
    completeness = view["completeness"]
    assert completeness["complete"] is True, completeness
    assert not completeness["missing"] and not completeness["different"], completeness
    checked = completeness["series_checked"]
    assert (len(checked) if isinstance(checked, list) else checked) == len(
        PROVIDERS[provider].datasets
    ), completeness
    figures.setdefault(provider, {})["resolve_to_complete_s"] = round(
        (when(completeness["checked_at"]) - when(view["resolved_at"])).total_seconds(), 2
    )
    assert "completeness" in [entry["kind"] for entry in view["timeline"]]

    report = outages.report(view["id"])
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/markdown"), report.headers
    text = report.text
    assert view["reason"] in text and provider in text, text
    for word in ("declared", "resolved", "backfill", "complete"):
        assert word in text.lower(), f"the report never says {word!r}:\n{text}"
    assert missing_times(text, view["timeline"]) == [], f"steps without their time:\n{text}"


def test_game_day_in_two_commands(
    service: ServiceProcess, sandbox: SandboxProcess, outages: Outages, figures: Figures
) -> None:
    """The issue's game day: 5xx on EIA, `aurum outage start eia --reason "EIA 5xx"`,
    `aurum outage resolve eia`, and the report says no data is missing."""
    provider, reason = "eia", "EIA 5xx"
    spec, api = PROVIDERS[provider], service.api
    row = figures.setdefault("eia (cli)", {})
    usage = run_cli("outage", "--help")
    assert usage.returncode == 0, f"no `aurum outage` command: {output(usage)}"
    _collected(service, sandbox, provider)

    sandbox.add_fault(**spec.outage)
    t_start = time.monotonic()
    started = run_cli("outage", "start", provider, "--reason", reason, service=service)
    row["declare_s"] = elapsed(t_start)
    assert started.returncode == 0, output(started)
    view = outages.open_on(provider)
    assert view is not None, f"`outage start` declared nothing: {output(started)}"
    assert view["id"][:8] in started.stdout, f"the id is not shown: {output(started)}"
    assert_mitigated(api, provider, view, reason)
    twice = run_cli("outage", "start", provider, "--reason", reason, service=service)
    assert twice.returncode == 3, output(twice)  # the API refused: 409
    assert view["id"] in twice.stderr and "Traceback" not in twice.stderr, output(twice)

    sandbox.advance(provider, [spec.sandbox_key(s) for s in spec.datasets])
    sandbox.clear_faults()
    t_lift = time.monotonic()
    resolved_cli = run_cli("outage", "resolve", provider, service=service)
    row["resolve_s"] = elapsed(t_lift)
    assert resolved_cli.returncode == 0, output(resolved_cli)
    resolved = outages.get(view["id"])
    assert_resolved(resolved, provider, provider_jobs(provider, api.jobs()))
    assert_given_back(api, provider)
    _backfilled(service, sandbox, resolved)
    row["lift_to_truth_s"] = elapsed(t_lift)

    done = outages.wait_completeness(view["id"], timeout=COMPLETENESS_WITHIN)
    assert done["completeness"]["complete"] is True, done["completeness"]
    row["resolve_to_complete_s"] = round(
        (when(done["completeness"]["checked_at"]) - when(done["resolved_at"])).total_seconds(), 2
    )
    report = run_cli("outage", "report", provider, service=service)
    assert report.returncode == 0, output(report)
    assert reason in report.stdout and "complete" in report.stdout.lower(), output(report)
    assert missing_times(report.stdout, done["timeline"]) == [], output(report)


def test_flag_changed_during_the_outage_survives_the_resolve(
    service: ServiceProcess, outages: Outages
) -> None:
    """Someone retunes the read cache while the outage is open: the resolve undoes the rest,
    leaves the flag as they set it and says so."""
    provider, api = "noaa", service.api
    view = outages.declare(provider, "scenario: NOAA 503s")
    change = {"enabled": True, "configuration": {"ttl_seconds": 120}, "reason": "shorter TTL"}
    api.set_flag(READ_CACHE, change)

    resolved = outages.resolve(view["id"], reason="scenario: NOAA back", backfill=False)
    resolution = resolved["resolution"]
    left, undone = targets(resolution["left_alone"]), targets(resolution["undone"])
    assert left == {("flag", READ_CACHE)}, resolution
    (item,) = resolution["left_alone"]
    assert item["found"] != item["expected"], item
    assert item["found"]["configuration"]["ttl_seconds"] == 120, item
    jobs = provider_jobs(provider, api.jobs())
    assert {*(("pause_job", job) for job in jobs), ("force_open_breaker", provider)} <= undone
    flag = api.flag(READ_CACHE)
    assert flag["enabled"] and flag["configuration"]["ttl_seconds"] == 120, flag
    state = provider_state(api, provider)
    assert not any(state.paused.values()) and state.breaker == "closed", state
    assert resolved["backfill"] is None, resolved


def test_job_resumed_by_hand_is_reported_left_alone(
    service: ServiceProcess, outages: Outages
) -> None:
    """On-call resumes ingest by hand during the outage: it stays resumed, and the resolve
    reports it as left alone (its state is no longer what the declaration set), not undone."""
    provider, api = "noaa", service.api
    job = f"ingest.{provider}"
    view = outages.declare(provider, "scenario: NOAA 503s again")
    api.resume(job, reason="on-call: NOAA looks fine from here")

    resolved = outages.resolve(view["id"], reason="scenario: NOAA back", backfill=False)
    resolution = resolved["resolution"]
    left, undone = targets(resolution["left_alone"]), targets(resolution["undone"])
    assert ("pause_job", job) in left, resolution
    assert ("pause_job", job) not in undone, resolution
    assert ("pause_job", f"probe.{provider}") in undone, resolution
    assert not api.jobs()[job]["paused"]


def test_declaration_shows_on_the_other_replica_within_a_second(
    replicas: ReplicaSet, outages: Outages, figures: Figures
) -> None:
    provider = "worldbank"
    other = replicas.replicas[1]
    row = figures.setdefault("replicas", {})

    def outage_on_other() -> dict[str, Any] | None:
        outage: dict[str, Any] | None = other.api.health_overview()["providers"][provider].get(
            "outage"
        )
        return outage

    assert outage_on_other() is None  # and the other replica's health view is now cached
    view = outages.declare(provider, "scenario: seen everywhere")
    t_declared = time.monotonic()
    wait_until(
        lambda: (outage_on_other() or {}).get("id") == view["id"],
        timeout=1.0,
        every=0.05,
        what="the other replica's health to show the declaration",
    )
    row["declare_seen_s"] = elapsed(t_declared)
    assert other.api.health(provider)["outage"]["id"] == view["id"]

    outages.resolve(view["id"], reason="scenario: over", backfill=False)
    t_resolved = time.monotonic()
    wait_until(
        lambda: outage_on_other() is None,
        timeout=1.0,
        every=0.05,
        what="the other replica's health to drop the resolved outage",
    )
    row["resolve_seen_s"] = elapsed(t_resolved)


def test_forgotten_outage_resolves_itself(
    service: ServiceProcess, outages: Outages, figures: Figures
) -> None:
    """Declared with the shortest TTL and never resolved: the leader resolves it as `system`."""
    provider, api = "fred", service.api
    view = outages.declare(provider, "scenario: forgotten", ttl_seconds=TTL_SECONDS)
    declared_at, expires_at = when(view["declared_at"]), when(view["expires_at"])
    assert abs((expires_at - declared_at).total_seconds() - TTL_SECONDS) < 1, view
    assert_mitigated(api, provider, view, "scenario: forgotten")

    done = outages.wait(
        view["id"],
        lambda v: v["status"] == "resolved",
        timeout=TTL_SECONDS + EXPIRY_EVERY + 30,
        what="the expired outage to resolve itself",
    )
    resolved_at = when(done["resolved_at"])
    figures.setdefault("ttl", {})["declare_to_resolved_s"] = round(
        (resolved_at - declared_at).total_seconds(), 2
    )
    assert resolved_at >= expires_at, done
    assert done["resolved_by"] == "system", done
    assert "expired" in (done["resolve_reason"] or ""), done
    assert_given_back(api, provider)
    entries = api.audit(since=expires_at.isoformat())
    assert any("system" in entry["principal"] for entry in entries), entries
    kinds = [entry["kind"] for entry in done["timeline"]]
    assert "resolved" in kinds or "expired" in kinds, kinds
    assert done["backfill"] and done["backfill"]["run_id"], done
    run = api.finished(str(done["backfill"]["run_id"]), timeout=180)
    assert run["status"] == "succeeded", run
