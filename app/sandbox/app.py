"""The sandbox application: the four provider APIs under their base paths plus /_sandbox/."""

from __future__ import annotations

from starlette.applications import Starlette

from app.sandbox import control, eia, fred, noaa, worldbank
from app.sandbox.catalog import SandboxCatalog, default_catalog
from app.sandbox.runtime import Sandbox
from app.sandbox.store import SandboxData


def create_sandbox_app(
    catalog: SandboxCatalog | None = None, *, enforce_limits: bool = True
) -> Starlette:
    """A fresh sandbox at data version 1. `enforce_limits=False` turns off NOAA's 5/s throttle."""
    data = SandboxData(catalog or default_catalog())
    app = Starlette(
        routes=[
            *control.routes(),
            *fred.routes(),
            *eia.routes(data.catalog.eia),
            *noaa.routes(),
            *worldbank.routes(),
        ]
    )
    app.state.sandbox = Sandbox(data=data, enforce_limits=enforce_limits)
    return app
