"""The app's routes as (method, path template), read from its OpenAPI schema (the public
way to enumerate routes; FastAPI nests included routers in private types)."""

from __future__ import annotations

import re

from app.main import create_app
from app.settings import Settings

_METHODS = {"get", "post", "put", "patch", "delete"}


def app_routes(settings: Settings) -> list[tuple[str, str]]:
    schema = create_app(settings).openapi()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in _METHODS
    )


def concrete(path: str) -> str:
    """A template filled with placeholder values (a nil UUID fits every id parameter)."""
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
