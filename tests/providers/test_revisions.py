"""The one revision-window rule every collector uses: a number of the series' own periods
before its checkpoint, at least each provider file's documented horizon."""

from __future__ import annotations

from datetime import date

import pytest

from app.providers.revisions import Frequency, parse_frequency, revision_start


@pytest.mark.parametrize(
    ("frequency", "last", "start"),
    [
        (Frequency.DAILY, date(2024, 3, 1), date(2023, 12, 2)),  # 90 days
        (Frequency.WEEKLY, date(2024, 4, 5), date(2024, 1, 5)),  # 13 weeks
        (Frequency.BIWEEKLY, date(2024, 4, 5), date(2023, 12, 29)),  # 7 fortnights
        (Frequency.MONTHLY, date(2024, 2, 1), date(2022, 2, 1)),  # 24 months
        (Frequency.MONTHLY, date(2024, 2, 29), date(2022, 2, 1)),  # from the period's start
        (Frequency.QUARTERLY, date(2026, 7, 1), date(2024, 7, 1)),  # 8 quarters
        (Frequency.QUARTERLY, date(2026, 8, 15), date(2024, 7, 1)),
        (Frequency.SEMIANNUAL, date(2026, 7, 1), date(2023, 7, 1)),  # 6 halves
        (Frequency.ANNUAL, date(2025, 1, 1), date(2010, 1, 1)),  # 15 years
        (None, date(2025, 6, 1), date(2010, 1, 1)),  # unknown: the widest window
    ],
)
def test_the_window_is_a_number_of_the_series_periods(
    frequency: Frequency | None, last: date, start: date
) -> None:
    assert revision_start(frequency, last) == start


def test_a_fixed_number_of_days_is_not_the_rule() -> None:
    """The sandbox, like the providers, revises the newest periods: three quarters back from a
    quarterly checkpoint is far more than 90 days, three years far more than a year."""
    assert revision_start(Frequency.QUARTERLY, date(2026, 10, 1)) <= date(2026, 4, 1)
    assert revision_start(Frequency.ANNUAL, date(2025, 1, 1)) <= date(2023, 1, 1)


@pytest.mark.parametrize(
    ("text", "frequency"),
    [
        ("Q", Frequency.QUARTERLY),  # FRED frequency_short
        ("Quarterly", Frequency.QUARTERLY),  # FRED frequency
        ("Weekly, Ending Friday", Frequency.WEEKLY),
        ("BW", Frequency.BIWEEKLY),
        ("SA", Frequency.SEMIANNUAL),
        ("annual", Frequency.ANNUAL),  # EIA
        ("hourly", None),
        (None, None),
    ],
)
def test_provider_frequency_names(text: str | None, frequency: Frequency | None) -> None:
    assert parse_frequency(text) == frequency
