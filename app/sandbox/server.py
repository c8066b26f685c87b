"""Run the sandbox: `SandboxServer` serves it from a background thread of this process
(tests, benchmarks, the runner); `python -m app.sandbox` serves it alone."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import uvicorn

from app.embedded.ports import free_port, wait_for_port
from app.sandbox.app import create_sandbox_app
from app.sandbox.catalog import SandboxCatalog
from app.sandbox.control import BASE_PATHS
from app.sandbox.runtime import Sandbox

log = logging.getLogger("aurum.sandbox")
BANNER = "PROVIDER SANDBOX at %s: generated data, NOT the real FRED/EIA/NOAA/World Bank APIs"


class SandboxServer:
    """The sandbox under uvicorn on a loopback port, in a daemon thread."""

    def __init__(
        self,
        catalog: SandboxCatalog | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        enforce_limits: bool = True,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.app = create_sandbox_app(catalog, enforce_limits=enforce_limits)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=self.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sandbox(self) -> Sandbox:
        sandbox: Sandbox = self.app.state.sandbox
        return sandbox

    def base_urls(self) -> dict[str, str]:
        """Each provider's base URL inside the sandbox, to put in place of the real one."""
        return {provider: self.url + path for provider, path in BASE_PATHS.items()}

    def start(self) -> SandboxServer:
        self._thread.start()
        wait_for_port(self.host, self.port, timeout=10, what="provider sandbox")
        log.warning(BANNER, self.url)
        return self

    def stop(self) -> None:
        self.sandbox.stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the control API, e.g. control("POST", "advance", {"series": ["fred:GDP"]})."""
        response = httpx.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()
