"""How many requests a backfill of a window will cost, per dataset, from each API's paging
rules (the same rules the collectors follow). Requests shared by several datasets (an EIA
route's metadata, a NOAA station's, a World Bank indicator fetched for several countries at
once) are counted once, on the first dataset that needs them."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from app.providers import eia, fred, noaa, worldbank

PERIODS_PER_YEAR = {"daily": 366, "weekly": 53, "monthly": 12, "quarterly": 4, "annual": 1}


def _days(start: date, end: date) -> int:
    return (end - start).days + 1


def _periods(frequency: str | None, start: date, end: date) -> int:
    per_year = PERIODS_PER_YEAR.get((frequency or "daily").lower(), 366)
    return max(1, math.ceil(_days(start, end) * per_year / 366))


def estimate_requests(
    provider: str, datasets: list[dict[str, Any]], start: date, end: date
) -> dict[str, int]:
    """{series_id: requests} for a backfill of `datasets` over [start, end]."""
    estimate: dict[str, int] = {}
    seen: set[str] = set()  # shared requests already counted
    for dataset in datasets:
        series_id = str(dataset.get("series_id"))
        if provider == "fred":
            # series metadata, then observations in pages of 100,000
            pages = math.ceil(_days(start, end) / fred.PAGE_LIMIT)
            estimate[series_id] = 1 + pages
        elif provider == "eia":
            route = str(dataset.get("route"))
            shared = 0 if route in seen else 1  # route metadata, once per route
            seen.add(route)
            periods = _periods(dataset.get("frequency"), start, end)
            estimate[series_id] = shared + math.ceil(periods / eia.PAGE_LENGTH)
        elif provider == "noaa":
            station = str(dataset.get("station"))
            if station in seen:
                estimate[series_id] = 0  # fetched with its station's other datatypes
                continue
            seen.add(station)
            types = sum(1 for d in datasets if d.get("station") == station)
            windows = math.ceil(_days(start, end) / (noaa.MAX_SPAN.days + 1))
            per_window = math.ceil(
                min(_days(start, end), noaa.MAX_SPAN.days + 1) * types / noaa.PAGE_LIMIT
            )
            estimate[series_id] = 1 + windows * max(1, per_window)
        elif provider == "worldbank":
            indicator = str(dataset.get("indicator"))
            if indicator in seen:
                estimate[series_id] = 0  # one request serves every country of the indicator
                continue
            seen.add(indicator)
            countries = sum(1 for d in datasets if d.get("indicator") == indicator)
            years = end.year - start.year + 1
            estimate[series_id] = max(1, math.ceil(years * countries / worldbank.PER_PAGE))
        else:
            estimate[series_id] = 1
    return estimate
