"""Which collector serves which provider."""

from __future__ import annotations

from app.providers.base import Collector
from app.providers.fred import FredCollector

COLLECTORS: dict[str, type[Collector]] = {"fred": FredCollector}


def collector_for(provider: str) -> Collector | None:
    """None for a provider whose collector is not written yet (EIA, NOAA, World Bank)."""
    factory = COLLECTORS.get(provider)
    return factory() if factory else None
