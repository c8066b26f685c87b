"""A shared dependency stalls under a running service: Redis (its embedded redis-server
SIGSTOPped) and PostgreSQL (the embedded postmaster and every backend SIGSTOPped: connections
open but silent, as behind a black-holed network). Meanwhile: no 5xx except the documented
503 of a read nothing cached, `/ready` stays 200 naming the degraded check, admin reads answer
within the request budget; after SIGCONT everything recovers by itself."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded.ports import free_port
from tests.scenarios.harness.probing import Probe, sample
from tests.scenarios.harness.processes import (
    kill_servers_in,
    postgres_pids,
    redis_server_pid,
    send,
    wait_until,
)
from tests.scenarios.harness.providers import provider_file
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ServiceProcess, live_env

BUDGET = 2.0  # seconds an admin read may take while a dependency stalls
READ_BUDGET = 3.0  # a read API page: answered, from a cache or with the documented 503
READY_BUDGET = 3.0  # the readiness probe's timeoutSeconds in k8s/deployment.yaml
STALL = 8.0  # longer than every cache and timeout in the path (API keys are cached 5 s)
CACHED = "/v1/external/series/fred/UNRATE/observations"
UNCACHED = "/v1/external/series/fred/GDP/observations"


@pytest.fixture(scope="module")
def service(
    scenario_dir: Path, sandbox: SandboxProcess, kafka_bootstrap: str
) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(
        scenario_dir / "data",
        redis_port=free_port(),
        replica_id="deps-1",
        env=live_env(provider_file(scenario_dir, sandbox.base_urls()), kafka_bootstrap),
        log_dir=scenario_dir / "logs",
    )
    try:
        svc.start()
        run = svc.api.finished(svc.api.trigger("ingest.fred"))
        assert run["status"] == "succeeded", run
        svc.api.set_flag(
            "external_read_cache", {"enabled": True, "configuration": {"ttl_seconds": 900}}
        )
        yield svc
    finally:
        svc.close()
        kill_servers_in(svc.data_dir)


def _ready_names(dependency: str) -> Probe:
    def check(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"/ready is {response.status_code} while only {dependency} is impaired"
        return None

    return Probe("ready", "/ready", budget_seconds=READY_BUDGET, check=check)


def _must_be_200(response: httpx.Response) -> str | None:
    return None if response.status_code == 200 else f"{response.status_code}, not 200"


def _served(response: httpx.Response) -> str | None:
    return None if response.status_code == 200 else f"a cached page is {response.status_code}"


def _admin_probes(*, health_ok: bool) -> list[Probe]:
    """The runbook's admin reads; `health_ok`: health must answer 200 (what it needs is up)."""
    check = _must_be_200 if health_ok else None
    return [
        Probe("health", "/v1/admin/external/health", budget_seconds=BUDGET, check=check),
        Probe("health/fred", "/v1/admin/external/health/fred", budget_seconds=BUDGET, check=check),
        Probe("jobs", "/v1/admin/external/jobs", budget_seconds=BUDGET),
        Probe("runs", "/v1/admin/external/runs", budget_seconds=BUDGET),
        Probe("breakers", "/v1/admin/external/circuit-breakers", budget_seconds=BUDGET),
        Probe("liveness", "/health", budget_seconds=BUDGET),
    ]


def _dependency_state(service: ServiceProcess, name: str) -> str | None:
    body = httpx.get(f"{service.url}/ready", timeout=5).json()
    checks = body.get("checks") or (body.get("details") or {}).get("checks") or {}
    state = (checks.get(name) or {}).get("status")
    return None if state is None else str(state)


def _recovered(service: ServiceProcess) -> bool:
    response = httpx.get(f"{service.url}/ready", timeout=5)
    checks = response.json().get("checks", {})
    if response.status_code != 200 or checks.get("postgres", {}).get("status") != "up":
        return False
    if checks.get("redis", {}).get("status") != "up":
        return False
    health = service.api.get("/v1/admin/external/health", timeout=5)
    page = service.api.get(UNCACHED, params={"limit": 5, "start": "2020-01-01"}, timeout=5)
    return health.status_code == 200 and page.status_code == 200


def _recovery(service: ServiceProcess) -> str | None:
    """None once everything answers again by itself (within 20 s), else why not."""
    try:
        wait_until(lambda: _recovered(service), timeout=20, what="recovery after the stall")
    except AssertionError as exc:
        return str(exc)
    return None


def test_redis_stalled(service: ServiceProcess) -> None:
    key = (service.data_dir / "bootstrap-admin-key").read_text().strip()
    assert service.api.get(CACHED).status_code == 200  # cached before the stall
    pid = redis_server_pid(service.redis_dir)
    send([pid], signal.SIGSTOP)
    try:
        probes = [
            _ready_names("redis"),
            *_admin_probes(health_ok=True),
            Probe("cached read", CACHED, budget_seconds=READ_BUDGET, check=_served),
            Probe("uncached read", UNCACHED, {"start": "2021-01-01"}, READ_BUDGET, _served),
        ]
        _, violations = sample(service.url, key, probes, duration=STALL)
        redis_state = _dependency_state(service, "redis")
    finally:
        send([pid], signal.SIGCONT)
    recovery = _recovery(service)
    assert violations == [], "\n".join(violations)
    assert redis_state not in {None, "up"}, "/ready did not show the stalled Redis"
    assert recovery is None, recovery


def test_postgres_unreachable(service: ServiceProcess) -> None:
    key = (service.data_dir / "bootstrap-admin-key").read_text().strip()
    assert service.api.get(CACHED).status_code == 200  # cached before the outage
    pids = postgres_pids(service.pgdata)
    send(pids, signal.SIGSTOP)
    try:

        def documented_503(response: httpx.Response) -> str | None:
            if response.status_code == 503 and "Retry-After" not in response.headers:
                return "503 without Retry-After"
            return None

        probes = [
            _ready_names("postgres"),
            *_admin_probes(health_ok=False),
            Probe("cached read", CACHED, budget_seconds=READ_BUDGET, check=_served),
            # Never read before: nothing cached, so the documented 503.
            Probe("uncached read", UNCACHED, {"start": "2019-01-01"}, READ_BUDGET, documented_503),
        ]
        # Admin reads only PostgreSQL can answer may be the same 503 in the error shape,
        # within the budget; a cached read is always served.
        only_postgres = ("uncached read", "runs", "jobs", "health", "health/fred")
        allowed = {name: {503} for name in only_postgres}
        samples, violations = sample(service.url, key, probes, duration=STALL, allowed=allowed)
        pg_state = _dependency_state(service, "postgres")
    finally:
        send(pids, signal.SIGCONT)
    recovery = _recovery(service)
    assert violations == [], "\n".join(violations)
    assert pg_state not in {None, "up"}, "/ready did not show PostgreSQL down"
    assert any(s.probe == "uncached read" and s.status == 503 for s in samples)
    assert recovery is None, recovery
