"""What declaring and resolving are given, and what they hand back to the caller."""

from __future__ import annotations

from dataclasses import dataclass

from app.db.models import ProviderOutage
from app.outages.actions import Change
from app.outages.ports import OutageOperations
from app.providers.config import ProvidersConfig
from app.resilience.guards import ProviderGuards


@dataclass(frozen=True)
class OutageDeps:
    """What declaring and resolving reach beyond the session."""

    ops: OutageOperations
    guards: ProviderGuards
    config: ProvidersConfig
    backfill_max_days: int


@dataclass
class Outcome:
    """The outage as the change left it, and the change's work left for after the commit."""

    outage: ProviderOutage
    change: Change
