"""A local stand-in for the FRED, EIA, NOAA and World Bank APIs, with fault injection.

It serves deterministic generated data in the providers' documented shapes; nothing it
returns is real. `SandboxServer` runs it in-process; `python -m app.sandbox` runs it alone."""

from app.sandbox.app import create_sandbox_app
from app.sandbox.catalog import SandboxCatalog, default_catalog
from app.sandbox.server import SandboxServer

__all__ = ["SandboxCatalog", "SandboxServer", "create_sandbox_app", "default_catalog"]
