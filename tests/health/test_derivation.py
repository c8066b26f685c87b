"""The status table and frequency-aware freshness, as pure functions (the README's tables)."""

from __future__ import annotations

from datetime import date

from app.health import freshness
from app.health.derive import Facts, derive, overall

DAY = 86_400


def facts(**changes: object) -> Facts:
    base = Facts(
        enabled=True,
        breaker_state="closed",
        quota_level="ok",
        paused=None,
        last_run_status="succeeded",
        ingestion_lag_seconds=3600,
        ingestion_target_seconds=DAY,
        now_epoch=10_000.0,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_the_status_table() -> None:
    assert derive(facts()).status == "healthy"
    assert derive(facts(enabled=False)).status == "disabled"
    assert derive(facts(breaker_state="open")).status == "down"
    assert derive(facts(breaker_state="forced_open")).status == "down"
    assert derive(facts(breaker_state="half_open")).status == "degraded"
    assert derive(facts(quota_level="critical")).status == "degraded"
    assert derive(facts(quota_level="exhausted")).status == "down"
    assert derive(facts(paused={"automatic": True})).status == "down"
    assert derive(facts(paused={"automatic": False})).status == "degraded"
    assert derive(facts(last_run_status="failed")).status == "degraded"
    assert derive(facts(ingestion_lag_seconds=2 * DAY)).status == "degraded"
    stale_failing = facts(ingestion_lag_seconds=2 * DAY, last_run_status="failed")
    assert derive(stale_failing).status == "down"
    assert derive(facts(stale_datasets=["DGS10"])).status == "degraded"
    assert derive(facts(validation_error_failures=1)).status == "degraded"
    assert derive(facts(guard_degraded=True)).status == "degraded"
    recent = facts(last_error_epoch=9_990.0, last_success_epoch=9_000.0)
    assert derive(recent).status == "degraded"
    recovered = facts(last_error_epoch=9_000.0, last_success_epoch=9_990.0)
    assert derive(recovered).status == "healthy"
    both = derive(facts(breaker_state="open", quota_level="critical"))
    assert both.reason == "circuit breaker open"
    assert both.reasons == ["circuit breaker open", "request quota near its limit"]


def test_overall() -> None:
    up = {"postgres": "up", "redis": "up", "kafka": "up", "scheduler": "up"}
    assert overall({"fred": "healthy", "eia": "disabled"}, up) == ("healthy", "ok")
    assert overall({"fred": "down", "eia": "healthy"}, up)[0] == "degraded"
    assert overall({"fred": "down", "eia": "disabled"}, up)[0] == "down"
    assert overall({"fred": "healthy"}, up | {"redis": "down"})[0] == "down"
    assert overall({"fred": "healthy"}, up | {"kafka": "down"})[0] == "degraded"


def test_a_monthly_series_published_last_week_is_not_stale() -> None:
    today = date(2026, 11, 23)
    monthly = freshness.data_age("monthly", date(2026, 10, 1), today)
    assert monthly.stale is False
    daily = freshness.data_age("business_daily", date(2026, 11, 10), today)
    assert daily.stale is True
    assert freshness.data_age("annual", date(2024, 1, 1), today).stale is False
    assert freshness.data_age("daily", None, today).stale is None


def test_frequencies() -> None:
    assert freshness.normalise("fred", "DGS10", "Daily") == "business_daily"
    assert freshness.normalise("noaa", "GHCND:X:TMAX", None) == "daily"
    assert freshness.normalise("eia", "petroleum/pri/spt:weekly:RBRTE:value", None) == "weekly"
    assert freshness.normalise("worldbank", "NY.GDP.MKTP.CD:USA", None) == "annual"
    assert freshness.normalise("fred", "GDP", "Quarterly") == "quarterly"


def test_expected_periods() -> None:
    # Monday 2 to Sunday 15 November, minus 2 days' publication delay: to Friday 13, 10 days.
    days = freshness.expected_periods("business_daily", date(2026, 11, 2), date(2026, 11, 15))
    assert len(days) == 10 and all(d.weekday() < 5 for d in days)
    months = freshness.expected_periods("monthly", date(2026, 1, 1), date(2026, 11, 23))
    assert months[0] == date(2026, 1, 1) and months[-1] == date(2026, 10, 1)
    quarters = freshness.expected_periods("quarterly", date(2025, 1, 1), date(2026, 11, 23))
    assert [q.month for q in quarters] == [1, 4, 7, 10, 1, 4, 7]
    assert freshness.expected_periods("monthly", date(2026, 11, 22), date(2026, 11, 23)) == []


def test_the_ingest_target_follows_the_schedule() -> None:
    assert freshness.ingest_target_seconds("0 6 * * *") == DAY
    assert freshness.ingest_target_seconds("0 8 * * 1") == 7 * DAY + 3600
    assert freshness.ingest_target_seconds(None) == DAY
