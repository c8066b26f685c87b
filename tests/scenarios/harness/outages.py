"""The outages API (`/v1/admin/external/outages`) as on-call drives it, and the provider state a
declaration must change and a resolve must give back (jobs, breaker, read cache, health)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from app.providers.revisions import Frequency, revision_start
from app.settings import Settings
from tests.scenarios.harness.api import ADMIN, Api
from tests.scenarios.harness.providers import ProviderSpec
from tests.scenarios.harness.sandbox import SandboxProcess

OUTAGES = f"{ADMIN}/outages"
READ_CACHE = "external_read_cache"

# The backfill API's longest window (AURUM_BACKFILL_MAX_DAYS, not set by the scenarios).
BACKFILL_MAX_DAYS = int(Settings.model_fields["backfill_max_days"].default)


def when(text: str) -> datetime:
    """An API time (ISO 8601 datetime, or a date) as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Outages:
    """One method per outages route; the `*_response` forms return the answer unchecked."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def declare_response(self, provider: str, reason: str, **extra: Any) -> httpx.Response:
        return self.api.post(OUTAGES, {"provider": provider, "reason": reason, **extra})

    def declare(self, provider: str, reason: str, **extra: Any) -> dict[str, Any]:
        response = self.declare_response(provider, reason, **extra)
        assert response.status_code == 201, f"declare: {response.status_code} {response.text}"
        view: dict[str, Any] = response.json()
        return view

    def resolve_response(self, outage_id: str, **body: Any) -> httpx.Response:
        return self.api.post(f"{OUTAGES}/{outage_id}/resolve", body)

    def resolve(self, outage_id: str, **body: Any) -> dict[str, Any]:
        response = self.resolve_response(outage_id, **body)
        assert response.status_code == 200, f"resolve: {response.status_code} {response.text}"
        view: dict[str, Any] = response.json()
        return view

    def get(self, outage_id: str) -> dict[str, Any]:
        """The outage with its timeline."""
        response = self.api.get(f"{OUTAGES}/{outage_id}")
        assert response.status_code == 200, f"get outage: {response.status_code} {response.text}"
        view: dict[str, Any] = response.json()
        return view

    def report(self, outage_id: str) -> httpx.Response:
        """The post-incident report (`Accept: text/markdown`)."""
        return self.api.get(f"{OUTAGES}/{outage_id}", headers={"Accept": "text/markdown"})

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        response = self.api.get(OUTAGES, params=filters)
        assert response.status_code == 200, f"list outages: {response.text}"
        outages: list[dict[str, Any]] = response.json()["outages"]
        return outages

    def open_on(self, provider: str) -> dict[str, Any] | None:
        found = self.list(status="open", provider=provider)
        return found[0] if found else None

    def wait(self, outage_id: str, done: Any, *, timeout: float, what: str) -> dict[str, Any]:
        """Poll the outage until `done(view)`; the view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.get(outage_id)
            if done(view):
                return view
            assert time.monotonic() < deadline, f"timed out after {timeout:g}s: {what}; {view}"
            time.sleep(0.5)

    def wait_completeness(self, outage_id: str, timeout: float = 150) -> dict[str, Any]:
        """Until the completeness job has compared stored data with the provider's."""
        return self.wait(
            outage_id,
            lambda v: v.get("completeness") is not None,
            timeout=timeout,
            what="the completeness check of the outage's window",
        )


def settle(api: Api) -> list[str]:
    """Teardown between scenarios: resolve (forced, no backfill) any open outage, turn the
    read cache off, resume paused jobs, close forced breakers. What it had to do, as lines.
    Tolerates a service without the outages API (the calls just answer 404)."""
    done: list[str] = []
    listed = api.get(OUTAGES, params={"status": "open"})
    if listed.status_code == 200:
        for outage in listed.json().get("outages", []):
            answer = api.post(
                f"{OUTAGES}/{outage['id']}/resolve",
                {"reason": "scenario teardown", "force": True, "backfill": False},
            )
            done.append(f"resolved outage {outage['id']} on {outage['provider']}: {answer}")
    if api.flag(READ_CACHE)["enabled"]:
        api.set_flag(READ_CACHE, {"enabled": False, "reason": "scenario teardown"})
        done.append(f"turned {READ_CACHE} off")
    for job_id, job in api.jobs().items():
        if job["paused"]:
            api.resume(job_id, reason="scenario teardown")
            done.append(f"resumed {job_id}")
    for provider, breaker in api.get(f"{ADMIN}/circuit-breakers").json()["providers"].items():
        if breaker["state"] != "closed":
            api.reset_breaker(provider)
            done.append(f"reset the {breaker['state']} breaker of {provider}")
    return done


# --- the provider's state as operators see it ----------------------------------------------


@dataclass(frozen=True)
class ProviderState:
    paused: dict[str, bool]  # the provider's ingest (and bulk) and probe jobs
    pause_reasons: dict[str, str | None]
    breaker: str
    read_cache: bool
    health_outage: dict[str, Any] | None
    ratelimits_outage: dict[str, Any] | None


def provider_jobs(provider: str, jobs: dict[str, Any]) -> list[str]:
    wanted = [f"ingest.{provider}", f"ingest.{provider}.bulk", f"probe.{provider}"]
    return [job_id for job_id in wanted if job_id in jobs]


def provider_state(api: Api, provider: str) -> ProviderState:
    jobs = api.jobs()
    ids = provider_jobs(provider, jobs)
    return ProviderState(
        paused={job_id: bool(jobs[job_id]["paused"]) for job_id in ids},
        pause_reasons={job_id: (jobs[job_id]["pause"] or {}).get("reason") for job_id in ids},
        breaker=str(api.breaker(provider)["state"]),
        read_cache=bool(api.flag(READ_CACHE)["enabled"]),
        health_outage=api.health(provider).get("outage"),
        ratelimits_outage=api.ratelimits()["providers"][provider].get("outage"),
    )


def revision_floor(sandbox: SandboxProcess, spec: ProviderSpec, declared: date) -> timedelta:
    """The least a backfill after an outage of `spec`'s provider declared on `declared` must
    reach back: the shortest revision window among its series (app/providers/revisions.py,
    by the frequency the sandbox publishes), capped at the longest window a backfill may have."""
    frequencies = {sandbox.frequency(spec.name, spec.sandbox_key(s)) for s in spec.datasets}
    spans = [declared - revision_start(Frequency(f), declared) for f in frequencies]
    return min(*spans, timedelta(days=BACKFILL_MAX_DAYS - 1))


def targets(actions: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(a["action"]), str(a["target"])) for a in actions}


def runbook_actions(provider: str, jobs: list[str]) -> set[tuple[str, str]]:
    """What a declaration with the default actions applies (fallback off)."""
    return {
        *(("pause_job", job_id) for job_id in jobs),
        ("force_open_breaker", provider),
        ("flag", READ_CACHE),
    }


def missing_times(report: str, timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline entries whose time of day (HH:MM:SS, UTC) the report does not show."""
    return [e for e in timeline if when(e["at"]).strftime("%H:%M:%S") not in report]


def sorted_by_time(timeline: list[dict[str, Any]]) -> bool:
    times = [when(entry["at"]) for entry in timeline]
    return times == sorted(times)
