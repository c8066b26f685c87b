"""`monitor.outage_completeness`: the leader checks, once an outage's backfill has succeeded,
that stored data matches what the provider serves for the window (app/outages/completeness.py).
Every minute; one small query when no outage waits for its check."""

from __future__ import annotations

from app.jobs.collect import live_base_url
from app.jobs.context import RunContext, RunCounters
from app.outages.completeness import ProviderSource, check_pending
from app.providers.registry import collector_for


async def outage_completeness(ctx: RunContext) -> RunCounters:
    resources = ctx.resources

    async def source_for(provider: str) -> ProviderSource | None:
        """The provider as its collections read it: its target, or its mirror under the
        `provider_fallback` flag, through the service's guarded client."""
        collector = collector_for(provider)
        section = resources.providers.config.providers.get(provider)  # type: ignore[call-overload]
        if collector is None or section is None:
            return None
        target = await ctx.targets.resolve(provider)
        base_url = target.base_url
        if target.mode == "live":
            base_url = live_base_url(provider, section, resources.flags.snapshot)
        return ProviderSource(
            collector=collector, client=resources.providers.client, base_url=base_url,
            credential=target.credential, datasets=list(section.series_ids),
            mode="mirror" if base_url != target.base_url else target.mode,
        )  # fmt: skip

    checked = await check_pending(
        resources.sessionmaker, tenant_id=resources.settings.tenant_id, source_for=source_for
    )
    ctx.counters.progress = {"checked": [str(outage_id) for outage_id in checked]}
    return ctx.counters
