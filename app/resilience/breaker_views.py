"""What a circuit breaker shows: its snapshot for operators and the refusal a caller gets
while it is open (messages that say what to do)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from app.resilience.breaker_store import Record, StepResult
from app.resilience.config import BreakerConfig
from app.resilience.errors import CircuitOpen

__all__ = ["iso", "refusal", "snapshot_view"]


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def refusal(p: str, record: Record, state: str, now: float, degraded: bool) -> CircuitOpen:
    """The error for a call refused in `state` (open, forced_open or half_open)."""
    reset = f"POST /v1/admin/external/circuit-breakers/{p}/reset"
    until = record.open_until if state == "open" else record.forced_until
    if state == "forced_open":
        why = f" ({record.reason})" if record.reason else ""
        who = f"forced open by {record.actor}{why}"
        when = f"until {iso(until)}" if until else "until reset"
        message = f"Circuit breaker for {p} was {who}; calls are refused {when}."
    elif state == "half_open":
        message = (
            f"Circuit breaker for {p} is half-open: {record.probes} probe call(s) in flight "
            f"decide whether it closes; other calls are refused meanwhile "
            f"(last failure: {record.last_failure or 'none recorded'})."
        )
    else:
        message = (
            f"Circuit breaker for {p} is open until {iso(until)} after {record.reason}; calls "
            f"are refused until then, when probe calls test the provider again."
        )
    message += f" To close it now: {reset}."
    headers = {}
    if until is not None and until > now:
        headers["Retry-After"] = str(max(1, math.ceil(until - now)))
    details = {
        "provider": p,
        "state": state,
        "until": iso(until),
        "reason": record.reason,
        "actor": record.actor,
        "last_failure": record.last_failure,
        "reset": reset,
        "degraded": degraded,
    }
    return CircuitOpen(message, details=details, headers=headers)


def snapshot_view(
    provider: str,
    config: BreakerConfig,
    result: StepResult,
    degraded_reason: str | None,
    degraded: bool,
) -> dict[str, Any]:
    r, calls, failures = result.record, result.window_calls, result.window_failures
    return {
        "provider": provider,
        "state": r.state,
        "degraded": degraded,
        "degraded_reason": degraded_reason,
        "consecutive_failures": r.failures,
        "consecutive_successes": r.successes,
        "half_open_in_flight": r.probes,
        "window": {
            "seconds": config.window_seconds,
            "calls": calls,
            "failures": failures,
            "failure_rate": round(failures / calls, 4) if calls else 0.0,
        },
        "opened_at": iso(r.opened_at),
        "open_until": iso(r.open_until),
        "forced_until": iso(r.forced_until),
        "disabled_until": iso(r.disabled_until),
        "changed_at": iso(r.changed_at),
        "reason": r.reason,
        "actor": r.actor,
        "last_failure_reason": r.last_failure,
        "last_failure_at": iso(r.last_failure_at),
        "generation": r.gen,
        "config": {
            "failure_threshold": config.failure_threshold,
            "open_seconds": config.open_seconds,
            "failure_rate_threshold": config.failure_rate_threshold,
            "minimum_calls": config.minimum_calls,
            "half_open_max_calls": config.half_open_max_calls,
            "success_threshold": config.success_threshold,
        },
    }
