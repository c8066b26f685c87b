"""The outage path, per provider, as on-call runs it against the real service: the provider
fails in its own style → the breaker opens at its threshold (failed calls, not attempts) →
health degraded, then down → mitigate (read cache on, ingest paused) → reads still work →
fault lifted → breaker reset (which probes at once) → resume → the next run and a backfill of
the window → the stored rows equal the sandbox's truth, revisions published during the
outage included. Prints, and writes to outage-figures.json, how long each leg took."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.embedded.ports import free_port
from tests.scenarios.harness.processes import kill_servers_in, wait_until
from tests.scenarios.harness.providers import (
    FAST_RETRY,
    PROVIDERS,
    provider_file,
    threshold,
)
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ServiceProcess, elapsed, live_env
from tests.scenarios.harness.truth import differences, expected, mismatches, stored

ATTEMPTS = FAST_RETRY["attempts"]


@pytest.fixture(scope="module")
def service(
    scenario_dir: Path, sandbox: SandboxProcess, kafka_bootstrap: str
) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(
        scenario_dir / "data",
        redis_port=free_port(),
        replica_id="outage-1",
        env={
            **live_env(provider_file(scenario_dir, sandbox.base_urls()), kafka_bootstrap),
            # The breaker, not auto-pause, is what takes a provider down here.
            "AURUM_JOB_AUTO_PAUSE_FAILURES": "50",
        },
        log_dir=scenario_dir / "logs",
    )
    try:
        yield svc.start()
    finally:
        svc.close()
        kill_servers_in(svc.data_dir)


@pytest.fixture(scope="module")
def figures(scenario_dir: Path) -> Iterator[dict[str, dict[str, float | None]]]:
    measured: dict[str, dict[str, float | None]] = {}
    yield measured
    path = scenario_dir / "outage-figures.json"
    path.write_text(json.dumps(measured, indent=2))
    columns = ["fault_to_open_s", "fault_to_down_s", "lift_to_closed_s", "lift_to_truth_s"]
    lines = [f"outage path figures (seconds), also in {path}:", "provider   " + "  ".join(columns)]
    for provider, row in measured.items():
        cells = [f"{row.get(c) if row.get(c) is not None else '-':>{len(c)}}" for c in columns]
        lines.append(f"{provider:<10} " + "  ".join(cells))
    print("\n" + "\n".join(lines))


def _runner(service: ServiceProcess, provider: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.runner` by hand, on the service's data directory and settings."""
    return subprocess.run(
        [sys.executable, "-m", "app.runner", "--providers", provider],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _catalog_ids(service: ServiceProcess, provider: str) -> set[str]:
    page = service.api.get("/v1/external/series", params={"provider": provider, "limit": 1000})
    assert page.status_code == 200, page.text
    return {item["series_id"] for item in page.json()["series"]}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_outage_path(
    provider: str,
    service: ServiceProcess,
    sandbox: SandboxProcess,
    figures: dict[str, dict[str, float | None]],
) -> None:
    spec, api, job = PROVIDERS[provider], service.api, f"ingest.{provider}"
    row: dict[str, float | None] = figures.setdefault(provider, {})

    # Before: a hand run collects everything, is recorded, and the catalog lists the series.
    hand = _runner(service, provider)
    assert hand.returncode == 0, hand.stdout + hand.stderr
    assert mismatches(service, sandbox, spec) == {}
    manual = api.runs(provider=provider, trigger="manual")
    assert any(str(r["replica_id"]).startswith("runner@") for r in manual), manual
    assert _catalog_ids(service, provider) >= set(spec.datasets)
    before = {s: stored(service, provider, s) for s in spec.datasets}

    # The outage, and revisions the provider publishes meanwhile.
    started_on = datetime.now(UTC).date()
    fault = sandbox.add_fault(**spec.outage)
    t_fault = time.monotonic()
    sandbox.advance(provider, [spec.sandbox_key(s) for s in spec.datasets])

    limit = threshold(provider)
    seen_degraded_while_closed = False
    opened_after_requests: int | None = None
    for _ in range(limit + 2):
        fired_before = sandbox.fired(fault["id"])
        run = api.finished(api.trigger(job))
        assert run["status"] == "failed", run
        used = sandbox.fired(fault["id"]) - fired_before
        assert run["requests_used"] == used, f"run says {run['requests_used']}, sandbox saw {used}"
        breaker = api.breaker(provider)
        health = api.health(provider)
        if breaker["state"] == "closed" and health["status"] == "degraded":
            seen_degraded_while_closed = True
        if breaker["state"] == "open":
            opened_after_requests = sandbox.fired(fault["id"])
            row["fault_to_open_s"] = elapsed(t_fault)
            break
    assert opened_after_requests is not None, f"the breaker never opened: {api.breaker(provider)}"
    # One failed call is one failure however many attempts it took.
    assert opened_after_requests == limit * ATTEMPTS, (
        f"opened after {opened_after_requests} requests, not {limit} calls x {ATTEMPTS} attempts"
    )
    assert seen_degraded_while_closed, "health never said degraded before the breaker opened"
    wait_until(
        lambda: api.health(provider)["status"] == "down", timeout=10, what=f"{provider} down"
    )
    row["fault_to_down_s"] = elapsed(t_fault)
    assert sandbox.fired(fault["id"]) == opened_after_requests, "an open breaker let calls out"

    # Mitigate: the read cache on, the ingest job paused. Reads still work, from storage.
    api.set_flag("external_read_cache", {"enabled": True, "configuration": {"ttl_seconds": 900}})
    api.pause(job)
    for series_id in spec.datasets:
        served = api.read_series(provider, series_id)
        assert len({d for d, _ in served}) == len(served), "a date served twice"
        assert dict(served) == before[series_id]
        assert api.observations_page(provider, series_id).headers.get("X-Cache") == "HIT"

    # The provider is back. A reset probes it at once and health shows that probe.
    sandbox.clear_faults()
    t_lift, lifted_at = time.monotonic(), datetime.now(UTC)
    api.reset_breaker(provider)
    assert api.breaker(provider)["state"] == "closed"
    row["lift_to_closed_s"] = elapsed(t_lift)

    def probed() -> bool:
        health = api.health(provider)
        last = health.get("last_success_at")
        return (
            last is not None
            and datetime.fromisoformat(last) >= lifted_at
            and "recent provider calls failed" not in health["reasons"]
        )

    wait_until(probed, timeout=10, what="health to show the reset's probe")

    # Resume, the next run, a backfill of the outage window: the truth, revisions included.
    api.resume(job)
    api.set_flag("external_read_cache", {"enabled": False})
    run = api.finished(api.trigger(job))
    assert run["status"] == "succeeded", run
    end = datetime.now(UTC).date()
    window = ((started_on - timedelta(days=1)).isoformat(), end.isoformat())
    for run_id in api.backfill(provider, *window):
        assert api.finished(run_id, timeout=120)["status"] == "succeeded"
    deadline = time.monotonic() + 20
    while (diff := mismatches(service, sandbox, spec)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert diff == {}, f"stored rows differ from the truth (stored, truth): {diff}"
    row["lift_to_truth_s"] = elapsed(t_lift)
    for series_id in spec.datasets:  # and the read API serves exactly that, once each
        served = api.read_series(provider, series_id)
        assert len({d for d, _ in served}) == len(served), "a date served twice"
        assert differences(expected(sandbox, spec, series_id), dict(served)) == {}
