"""How a provider's status is derived from the facts the health view gathered. Pure: the
README's status table is this function. The first `down` rule that matches wins, else the
first `degraded` one; every matching rule is listed in `reasons`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A failed call this recent, with no success after it, marks the provider degraded.
RECENT_ERROR_SECONDS = 15 * 60


@dataclass
class Facts:
    enabled: bool
    breaker_state: str
    quota_level: str  # ok | warning | critical | exhausted (worst window)
    paused: dict[str, Any] | None
    last_run_status: str | None
    ingestion_lag_seconds: float | None
    ingestion_target_seconds: float
    stale_datasets: list[str] = field(default_factory=list)
    last_success_epoch: float | None = None
    last_error_epoch: float | None = None
    now_epoch: float = 0.0
    validation_error_failures: int = 0
    guard_degraded: bool = False


@dataclass(frozen=True)
class Verdict:
    status: str  # healthy | degraded | down | disabled
    reason: str
    reasons: list[str]


def derive(f: Facts) -> Verdict:
    if not f.enabled:
        return Verdict("disabled", "disabled in the provider file", [])
    down: list[str] = []
    degraded: list[str] = []
    if f.breaker_state in {"open", "forced_open"}:
        down.append(f"circuit breaker {f.breaker_state}")
    elif f.breaker_state == "half_open":
        degraded.append("circuit breaker half-open (probing)")
    if f.quota_level == "exhausted":
        down.append("request quota exhausted")
    elif f.quota_level == "critical":
        degraded.append("request quota near its limit")
    if f.paused and f.paused.get("automatic"):
        down.append("ingest job auto-paused after repeated failures")
    elif f.paused:
        degraded.append("ingest job paused by an operator")
    stale = f.ingestion_lag_seconds is not None and (
        f.ingestion_lag_seconds > f.ingestion_target_seconds
    )
    if stale and f.last_run_status == "failed":
        down.append("stale: no successful ingest within its target and the last run failed")
    elif stale:
        degraded.append("stale: no successful ingest within its target")
    elif f.last_run_status == "failed":
        degraded.append("last ingest run failed")
    if f.stale_datasets:
        degraded.append(f"data older than its frequency allows: {', '.join(f.stale_datasets)}")
    recent_error = (
        f.last_error_epoch is not None and f.now_epoch - f.last_error_epoch < RECENT_ERROR_SECONDS
    )
    if recent_error and (f.last_success_epoch or 0) < (f.last_error_epoch or 0):
        degraded.append("recent provider calls failed")
    if f.validation_error_failures:
        degraded.append(f"{f.validation_error_failures} error-severity expectation(s) failed")
    if f.guard_degraded:
        degraded.append("limits and breaker counted per replica (Redis unreachable)")
    if down:
        return Verdict("down", down[0], down + degraded)
    if degraded:
        return Verdict("degraded", degraded[0], degraded)
    return Verdict("healthy", "ok", [])


def overall(providers: dict[str, str], dependencies: dict[str, str]) -> tuple[str, str]:
    """down: PostgreSQL or Redis down, or every enabled provider down. degraded: any provider
    degraded or down, Kafka down, or no live scheduler leader. Else healthy."""
    for name in ("postgres", "redis"):
        if dependencies.get(name) == "down":
            return "down", f"{name} is down"
    enabled = {p: s for p, s in providers.items() if s != "disabled"}
    if enabled and all(s == "down" for s in enabled.values()):
        return "down", "every enabled provider is down"
    bad = sorted(p for p, s in enabled.items() if s in {"down", "degraded"})
    if bad:
        return "degraded", "providers not healthy: " + ", ".join(f"{p} ({enabled[p]})" for p in bad)
    for name in ("kafka", "scheduler"):
        if dependencies.get(name) == "down":
            return "degraded", f"{name} is down"
    return "healthy", "ok"
