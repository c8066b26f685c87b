"""A provider's probe: the cheapest request that proves its API answers (each collector's
`probe()`), through the guarded client, so its result feeds the breaker and the call log and
health reflects the provider as it is now. The `probe.<provider>` job runs it every minute;
an operator's breaker reset and resume of the provider's ingest job run it at once.

Outcomes: `succeeded`; `failed` (the provider failed the call after its retries, or did not
answer within the probe's time); `refused` (the circuit breaker is open and let no call
through: the provider was not tested, which is not a failure); `skipped` (no collector, or
the provider is disabled in the provider file)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from app.health import outage_recorder, status_store
from app.health.service import provider_verdict
from app.jobs.targets import ProviderTargets
from app.providers.base import CollectContext
from app.providers.registry import collector_for
from app.resilience.errors import CircuitOpen, ProviderCallError
from app.resources import Resources

log = logging.getLogger(__name__)

# An operator waits for the probe in the request: a provider that does not answer is reported
# as failed after this long (the probe job has no such bound: the client's timeouts apply).
OPERATOR_PROBE_SECONDS = 15.0


async def probe_provider(
    resources: Resources,
    targets: ProviderTargets,
    provider: str,
    *,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Probe `provider` once, then refresh its stored status; returns
    {outcome, error, seconds, at, status, reason, reasons}."""
    started = time.perf_counter()
    at = datetime.now(UTC)
    outcome, error = await _probe(resources, targets, provider, timeout_seconds)
    verdict = await provider_verdict(resources, provider)
    # Keep external:provider_status:<provider> current without anyone reading health.
    moved = await status_store.write(resources.redis, provider, verdict)
    await outage_recorder.record_transitions(resources.sessionmaker, [moved])
    return {
        "outcome": outcome,
        "error": error,
        "seconds": round(time.perf_counter() - started, 3),
        "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": verdict.status,
        "reason": verdict.reason,
        "reasons": verdict.reasons,
    }


async def _probe(
    resources: Resources,
    targets: ProviderTargets,
    provider: str,
    timeout_seconds: float | None,
) -> tuple[str, str | None]:
    collector = collector_for(provider)
    section = resources.providers.config.providers.get(provider)  # type: ignore[call-overload]
    if collector is None or section is None:
        return "skipped", f"no collector serves {provider}"
    if not section.enabled:
        return "skipped", f"{provider} is disabled in the provider file"
    target = await targets.resolve(provider)
    ctx = CollectContext(
        client=resources.providers.client, base_url=target.base_url,
        credential=target.credential, datasets=section.series_ids[:1], states={},
        now=datetime.now(UTC),
    )  # fmt: skip
    extra = {"provider": provider}
    try:
        async with asyncio.timeout(timeout_seconds):
            await collector.probe(ctx)
    except CircuitOpen as exc:  # nothing was sent: the provider was not tested
        log.info("probe of %s refused by its circuit breaker: %s", provider, exc, extra=extra)
        return "refused", exc.message
    except (ProviderCallError, ValueError) as exc:
        log.info("probe of %s failed: %s", provider, exc, extra=extra)
        return "failed", str(exc)[:500]
    except TimeoutError:
        why = f"no answer within {timeout_seconds:g} s"
        log.info("probe of %s failed: %s", provider, why, extra=extra)
        return "failed", why
    log.info("probe of %s succeeded", provider, extra=extra)
    return "succeeded", None
