"""How far back every collector re-reads a series for revisions: one rule for all providers.

All four providers revise values in place (../shared/providers/README.md), and a revision
touches the newest periods of a series whatever its frequency. So the window is a number of
the series' own periods before its checkpoint, never a fixed number of days (90 days re-read
one quarter of a quarterly series and no year of an annual one). The counts are at least
each provider file's documented horizon:

| frequency | periods | covers | documented |
|---|---|---|---|
| daily | 90 | 90 days | NOAA 30-60 days; FRED's former 90 days kept |
| weekly | 13 | 13 weeks | EIA 13 weeks |
| biweekly | 7 | 14 weeks | (as weekly) |
| monthly | 24 | 2 years | EIA 24 months |
| quarterly | 8 | 2 years | (as monthly) |
| semiannual | 6 | 3 years | (as annual, at least) |
| annual | 15 | 15 years | World Bank 10-15 years, EIA 2-3 years |

The same window serves the regular re-read (a changed series, or one due for its periodic
re-read) and the re-read after a recovery (`CollectContext.revisit`). A series whose frequency
is unknown gets the widest window (annual's span), so no revision is missed. Request costs do
not change: the window only moves a request's start, and each collector already fetches a
changed series in one request (FRED, EIA, World Bank) or in spans of under a year (NOAA).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"


# Periods re-read before the checkpoint (the checkpoint's own period included in the span).
REVISION_PERIODS: dict[Frequency, int] = {
    Frequency.DAILY: 90,
    Frequency.WEEKLY: 13,
    Frequency.BIWEEKLY: 7,
    Frequency.MONTHLY: 24,
    Frequency.QUARTERLY: 8,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 15,
}
_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_MONTHS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 12,
}
# Names and codes providers use (FRED `frequency`/`frequency_short`, EIA's frequency ids).
_ALIASES = {
    "d": Frequency.DAILY,
    "w": Frequency.WEEKLY,
    "bw": Frequency.BIWEEKLY,
    "m": Frequency.MONTHLY,
    "q": Frequency.QUARTERLY,
    "sa": Frequency.SEMIANNUAL,
    "a": Frequency.ANNUAL,
    "semi-annual": Frequency.SEMIANNUAL,
    "semiannually": Frequency.SEMIANNUAL,
    "biweekly": Frequency.BIWEEKLY,
}


def parse_frequency(text: str | None) -> Frequency | None:
    """`Quarterly`, `Q`, `quarterly`, `Weekly, Ending Friday`, `BW` → the frequency."""
    if not text:
        return None
    name = str(text).strip().lower().split(",")[0].strip()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return Frequency(name)
    except ValueError:
        return None


def revision_start(frequency: Frequency | None, last: date) -> date:
    """The first day to re-read for a series whose checkpoint is `last`: the start of the
    period REVISION_PERIODS before the one holding `last` (so `last`'s period and the
    REVISION_PERIODS periods before it are re-read)."""
    freq = frequency if frequency is not None else Frequency.ANNUAL
    periods = REVISION_PERIODS[freq]
    if freq in _DAYS:
        return last - timedelta(days=_DAYS[freq] * periods)
    step = _MONTHS[freq]
    index = last.year * 12 + last.month - 1  # months since year 0; calendar-aligned periods
    index -= index % step + step * periods
    return date(index // 12, index % 12 + 1, 1)
