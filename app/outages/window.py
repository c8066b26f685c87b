"""The data window a resolved outage's backfill re-reads: from the outage's start minus the
widest revision window among the provider's series (values published while it was down may
revise periods that far back), to today."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.health.freshness import configured_frequencies
from app.providers.config import ProviderSection
from app.providers.revisions import Frequency, parse_frequency, revision_start


def backfill_window(
    provider: str, section: ProviderSection, declared_at: datetime, today: date, max_days: int
) -> tuple[date, date]:
    """(start, end), at most `max_days` long (AURUM_BACKFILL_MAX_DAYS): the backfill
    service's own limit."""
    declared = min(declared_at.date(), today)
    start = declared
    for frequency in configured_frequencies(provider, section, {}).values():
        # Business days revise like calendar days.
        parsed = Frequency.DAILY if frequency == "business_daily" else parse_frequency(frequency)
        start = min(start, revision_start(parsed, declared))
    return max(start, today - timedelta(days=max_days - 1)), today
