"""The four providers as the scenarios use them: which series, how each fails (its own outage
style), how the sandbox names a series and publishes its values, and the provider file that
points every base URL at the sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.providers.config import resolve_config_path

YEARLY = "0 0 1 1 *"  # a schedule that never fires during a test
FAST_RETRY = {
    "attempts": 3,
    "backoff_factor": 2,
    "base_delay_seconds": 0.05,
    "max_delay_seconds": 0.2,
    "timeout_seconds": 5,
}


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    datasets: tuple[str, ...]  # series ids as the provider file and the read API name them
    outage: dict[str, Any]  # the sandbox fault that makes this provider fail as it does
    credential_env: str | None  # the setting holding its (fake) key
    sandbox_key: Callable[[str], str] = field(default=lambda series_id: series_id)
    # (date, value) rows of the sandbox's truth as the collector stores them
    stored_form: Callable[[list[dict[str, Any]]], dict[str, float | None]] = field(
        default=lambda rows: {r["date"]: r["value"] for r in rows}
    )


def _noaa_stored(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """NOAA publishes no row for a missing value; metric units are the raw tenths / 10."""
    return {r["date"]: round(r["value"] / 10, 1) for r in rows if r["value"] is not None}


PROVIDERS: dict[str, ProviderSpec] = {
    "fred": ProviderSpec(
        "fred",
        ("UNRATE", "GDP"),
        {"kind": "status", "provider": "fred", "status": 503},
        "AURUM_FRED_API_KEY",
    ),
    "eia": ProviderSpec(
        "eia",
        # EIA ids contain "/": the read API must serve them as stored.
        ("electricity/retail-sales:monthly:CO/RES:price", "petroleum/pri/spt:weekly:RBRTE:value"),
        {"kind": "status", "provider": "eia", "status": 500},
        "AURUM_EIA_API_KEY",
        sandbox_key=lambda series_id: ":".join(series_id.split(":")[:3]),
    ),
    "noaa": ProviderSpec(
        "noaa",
        ("GHCND:USW00014895:TMAX", "GHCND:USW00014895:PRCP"),
        {"kind": "status", "provider": "noaa", "status": 503},
        "AURUM_NOAA_TOKEN",
        stored_form=_noaa_stored,
    ),
    "worldbank": ProviderSpec(
        "worldbank",
        ("CPTOTSAXN:USA", "CPTOTSAXN:DEU"),
        # World Bank reports its errors in the body of an HTTP 200.
        {"kind": "error_200", "provider": "worldbank"},
        None,
    ),
}

FAKE_CREDENTIALS = {
    spec.credential_env: f"scenario-{spec.name}-key-0123456789abcdef"
    for spec in PROVIDERS.values()
    if spec.credential_env
}


def provider_file(
    directory: Path,
    base_urls: dict[str, str],
    *,
    open_minutes: float = 1,
    schedules: dict[str, str] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """The shipped provider file with every base URL on the sandbox, each provider limited to
    its scenario series, fast retries, short breaker openings and quiet schedules (the
    scenario triggers what it needs; `schedules` gives a provider's ingest another one)."""
    shipped = resolve_config_path(Path("config/external_providers.yml"))
    data = yaml.safe_load(shipped.read_text())
    data["jobs"] = {
        **data["jobs"],
        "probe": "every 1h",
        "staleness": "every 1h",
        "quality": YEARLY,
        "cost": YEARLY,
        "daily_report": YEARLY,
        "retention": YEARLY,
        # The outage scenarios wait on these two: a TTL expiry and the completeness check.
        "outage_expiry": "every 5s",
        "outage_completeness": "every 5s",
    }
    for name, section in data["providers"].items():
        spec = PROVIDERS[name]
        section["base_url"] = base_urls[name]
        section["retry"] = dict(FAST_RETRY)
        section["circuit_breaker"] = {**section["circuit_breaker"], "open_minutes": open_minutes}
        section["schedule"] = {kind: YEARLY for kind in section.get("schedule", {})}
        if schedules and name in schedules:
            section["schedule"]["ingest"] = schedules[name]
        wanted = set(spec.datasets)
        section["datasets"] = [d for d in section["datasets"] if d["series_id"] in wanted]
    if edit is not None:
        edit(data)
    path = directory / f"providers-{time.monotonic_ns()}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def threshold(provider: str) -> int:
    """The shipped file's consecutive-failure threshold of `provider`'s breaker."""
    shipped = resolve_config_path(Path("config/external_providers.yml"))
    data = yaml.safe_load(shipped.read_text())
    return int(data["providers"][provider]["circuit_breaker"]["failure_threshold"])
