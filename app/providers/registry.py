"""Which collector serves which provider."""

from __future__ import annotations

from app.providers.base import Collector
from app.providers.eia import EiaCollector
from app.providers.fred import FredCollector
from app.providers.noaa import NoaaCollector
from app.providers.worldbank import WorldBankCollector

COLLECTORS: dict[str, type[Collector]] = {
    "eia": EiaCollector,
    "fred": FredCollector,
    "noaa": NoaaCollector,
    "worldbank": WorldBankCollector,
}


def collector_for(provider: str) -> Collector | None:
    """The collector of `provider`, or None for a name no collector serves."""
    factory = COLLECTORS.get(provider)
    return factory() if factory else None
