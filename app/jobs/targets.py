"""Where a provider's requests go from this process: its live API with the configured
credential, or the in-process sandbox when it has none (see ProviderMode)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.providers.mode import credentials, sandboxed
from app.resources import Resources

if TYPE_CHECKING:
    from app.sandbox.server import SandboxServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    base_url: str
    credential: str
    mode: str  # live | sandbox


class ProviderTargets:
    """Resolves targets per call (a config reload may change them). The sandbox is started
    when this replica takes the lead (`prepare`), or else the first time a sandboxed provider
    is called."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._sandbox: SandboxServer | None = None
        self._lock = asyncio.Lock()

    def sandboxed(self) -> set[str]:
        config = self._resources.providers.config
        names: list[str] = sorted(config.providers)
        return sandboxed(
            self._resources.settings, credentials(self._resources.settings, config, names)
        )

    async def resolve(self, provider: str) -> Target:
        config = self._resources.providers.config
        section = config.providers[provider]  # type: ignore[index]
        if provider not in self.sandboxed():
            creds = credentials(self._resources.settings, config, [provider])
            return Target(section.base_url, creds[provider] or "", "live")
        sandbox = await self._start_sandbox()
        return Target(sandbox.base_urls()[provider], "sandbox", "sandbox")

    async def prepare(self) -> None:
        """Start the sandbox now if any provider uses it, rather than at the first call: its
        start (imports, generated series) holds the interpreter for tens of milliseconds,
        which in the middle of serving showed as the p99 of every request in flight."""
        if self.sandboxed():
            await self._start_sandbox()

    async def _start_sandbox(self) -> SandboxServer:
        async with self._lock:
            if self._sandbox is None:
                from app.sandbox.server import SandboxServer

                self._sandbox = await asyncio.to_thread(SandboxServer().start)
                log.warning(
                    "SANDBOX MODE for %s: collecting generated data from %s "
                    "(AURUM_PROVIDER_MODE=%s)",
                    ", ".join(sorted(self.sandboxed())),
                    self._sandbox.url,
                    self._resources.settings.provider_mode.value,
                )
            return self._sandbox

    async def aclose(self) -> None:
        if self._sandbox is not None:
            await asyncio.to_thread(self._sandbox.stop)
            self._sandbox = None
