"""`make run` on a machine with no provider keys: collect from the provider sandbox at start
and every few minutes, so a newcomer sees data arriving. Live providers follow their
schedules instead (the scheduler, issue 6). Running on several replicas only repeats work:
ingest upserts, so nothing is doubled."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.jobs.collect import collect_provider, collection_allowed, collection_request
from app.providers.mode import credentials, sandboxed
from app.providers.registry import collector_for
from app.resilience.errors import ProviderCallError
from app.resources import Resources

log = logging.getLogger(__name__)


async def run_sandbox_collections(resources: Resources, stop: asyncio.Event) -> None:
    settings = resources.settings
    runtime = resources.providers
    providers: list[str] = sorted(runtime.config.providers)
    in_sandbox = sandboxed(settings, credentials(settings, runtime.config, providers))
    if not in_sandbox:
        return
    from app.sandbox.server import SandboxServer

    sandbox = await asyncio.to_thread(SandboxServer().start)
    log.warning(
        "SANDBOX MODE for %s: collecting generated data every %ss (AURUM_PROVIDER_MODE=%s)",
        ", ".join(sorted(in_sandbox)),
        settings.sandbox_collect_interval_seconds,
        settings.provider_mode.value,
    )
    try:
        while not stop.is_set():
            for provider in sorted(in_sandbox):
                collector = collector_for(provider)
                if collector is None or stop.is_set():
                    continue
                section = runtime.config.providers[provider]  # type: ignore[index]
                flags = resources.flags.snapshot  # read per run: a flag change applies next run
                if not collection_allowed(provider, section, flags):
                    continue
                request = collection_request(
                    provider,
                    section,
                    base_url=sandbox.base_urls()[provider],
                    credential="sandbox",
                    flags=flags,
                )
                try:
                    await collect_provider(
                        sessionmaker=resources.sessionmaker,
                        collector=collector,
                        client=runtime.client,
                        request=request,
                        tenant_id=settings.tenant_id,
                    )
                except (ProviderCallError, ValueError) as exc:
                    log.warning("sandbox collection of %s failed: %s", provider, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.sandbox_collect_interval_seconds)
    finally:
        await asyncio.to_thread(sandbox.stop)
