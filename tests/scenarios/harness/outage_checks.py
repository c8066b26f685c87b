"""The legs of an outage's lifecycle that the API and the command-line scenarios share, each
asserting what on-call expects to see (see tests/scenarios/test_outage_mode.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.harness.api import Api
from tests.scenarios.harness.outages import (
    ProviderState,
    provider_jobs,
    provider_state,
    runbook_actions,
    sorted_by_time,
    targets,
    when,
)
from tests.scenarios.harness.providers import ProviderSpec
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ServiceProcess
from tests.scenarios.harness.truth import mismatches


def settled_state(
    api: Api, provider: str, done: Callable[[ProviderState], bool], within: float = 1.0
) -> ProviderState:
    """The provider's state once `done` holds, or as it is after `within` seconds."""
    deadline = time.monotonic() + within
    while not done(state := provider_state(api, provider)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def assert_mitigated(api: Api, provider: str, view: dict[str, Any], reason: str) -> ProviderState:
    """The declaration applied the runbook's mitigation, and health and /ratelimits show it."""
    jobs = provider_jobs(provider, api.jobs())
    assert view["status"] == "open", view
    assert (view["provider"], view["reason"]) == (provider, reason), view
    wanted = runbook_actions(provider, jobs)
    assert targets(view["actions"]) >= wanted, f"applied {view['actions']}, want {wanted}"
    changed = {(a["action"], a["target"]) for a in view["actions"] if a["changed"]}
    assert changed >= wanted, f"an action says it changed nothing: {view['actions']}"
    # Health views are cached per replica: the outage must show within a second anyway.
    state = settled_state(api, provider, lambda st: st.health_outage is not None)
    assert state.paused == dict.fromkeys(jobs, True), state
    assert state.breaker == "forced_open", state
    assert state.read_cache, state
    assert state.health_outage is not None, f"health shows no outage: {state}"
    assert state.health_outage["id"] == view["id"], state
    assert state.health_outage["reason"] == reason, state
    assert state.ratelimits_outage is not None, f"/ratelimits shows no outage: {state}"
    assert state.ratelimits_outage["id"] == view["id"], state
    return state


def assert_audited(
    api: Api, provider: str, reason: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Everything the declaration changed is in the audit log, under its one reason."""
    entries = api.audit(since=since.isoformat(), until=until.isoformat())
    assert entries, f"no audit entry between {since} and {until}"
    reasons = {entry["reason"] for entry in entries}
    assert reasons == {reason}, f"the declaration's audit entries have reasons {reasons}"
    written = json.dumps(entries)
    for target in (*provider_jobs(provider, api.jobs()), "external_read_cache"):
        assert target in written, f"no audit entry names {target}: {entries}"
    return entries


def assert_resolved(resolved: dict[str, Any], provider: str, jobs: list[str]) -> None:
    """The resolve probed the provider (not forced), undid exactly what the declaration
    applied, left nothing alone and queued the backfill."""
    assert resolved["status"] == "resolved", resolved
    assert resolved["resolved_at"], resolved
    resolution = resolved["resolution"]
    assert resolution is not None, resolved
    assert resolution["probe"]["ok"] is True, resolution
    assert not resolution["probe"].get("forced"), resolution
    assert targets(resolution["undone"]) >= runbook_actions(provider, jobs), resolution
    assert resolution["left_alone"] == [], resolution
    assert not resolution.get("backfill_refused"), resolution
    assert resolved["backfill"] and resolved["backfill"]["run_id"], resolved


def assert_given_back(api: Api, provider: str) -> ProviderState:
    """Jobs running, breaker closed, read cache off, no outage on health or /ratelimits."""
    state = settled_state(api, provider, lambda st: st.health_outage is None)
    assert not any(state.paused.values()), state
    assert state.breaker == "closed", state
    assert not state.read_cache, state
    assert state.health_outage is None, state
    assert state.ratelimits_outage is None, state
    return state


def assert_backfill_window(resolved: dict[str, Any], floor: timedelta) -> tuple[datetime, ...]:
    """The backfill covers [declared_at - the revision window, the resolve]."""
    declared_at = when(resolved["declared_at"])
    start = when(resolved["backfill"]["window_start"])
    end = when(resolved["backfill"]["window_end"])
    assert start <= declared_at - floor, (
        f"the backfill starts {start}, after declared_at {declared_at} - {floor.days} days"
    )
    # The end may be a date (the backfill API's end is a day): the resolve's day at least.
    resolved_at = when(resolved["resolved_at"])
    assert end >= resolved_at.replace(hour=0, minute=0, second=0, microsecond=0), resolved
    return declared_at, start, end


def wait_truth(
    service: ServiceProcess, sandbox: SandboxProcess, spec: ProviderSpec, timeout: float = 30
) -> None:
    """Stored rows equal the sandbox's truth, revisions published during the outage included."""
    deadline = time.monotonic() + timeout
    while (diff := mismatches(service, sandbox, spec)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert diff == {}, f"stored rows differ from the truth (stored, truth): {diff}"


def _mentions_rows(entry: dict[str, Any], run: dict[str, Any]) -> bool:
    detail = entry.get("detail") or {}
    if "rows_new" in detail:
        rows = (detail["rows_new"], detail.get("rows_changed"))
        return bool(rows == (run["rows_new"], run["rows_changed"]))
    summary = str(entry.get("summary", ""))
    return f"{run['rows_new']} new" in summary and f"{run['rows_changed']} changed" in summary


def assert_timeline(view: dict[str, Any], run: dict[str, Any], *extra_runs: str) -> None:
    """Declared, each action, resolved and the backfill run with its rows, in time order;
    `extra_runs`: ids of runs during the outage the timeline must show."""
    timeline = view["timeline"]
    assert sorted_by_time(timeline), [(e["at"], e["kind"]) for e in timeline]
    kinds = [entry["kind"] for entry in timeline]
    for kind in ("declared", "action", "resolved", "backfill"):
        assert kind in kinds, f"no {kind!r} entry in the timeline: {kinds}"
    written = json.dumps(timeline)
    for action in view["actions"]:
        assert action["target"] in written, f"the timeline does not name {action['target']}"
    # The backfill's line may come from its event or from its run: either names the rows.
    backfills = [entry for entry in timeline if entry["kind"] in ("backfill", "run")]
    assert any(_mentions_rows(entry, run) for entry in backfills), (
        f"no backfill entry with rows new {run['rows_new']} / changed {run['rows_changed']}: "
        f"{backfills}"
    )
    for run_id in extra_runs:
        assert run_id in written, f"the timeline does not show run {run_id}"
