"""Schedules as operators write them: a crontab line in UTC (`0 6 * * *`) or `every <duration>`
(`every 15m`). Interval schedules are anchored to a fixed instant, so every replica (and the
next leader) computes the same slots: a slot is the unit that must never run twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.durations import parse_duration

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


def parse_schedule(text: str) -> BaseTrigger:
    """Raise ValueError naming the accepted forms when `text` is neither."""
    cleaned = text.strip()
    if cleaned.lower().startswith("every "):
        every = parse_duration(cleaned[6:])
        return IntervalTrigger(seconds=every.total_seconds(), start_date=ANCHOR, timezone=UTC)
    try:
        return CronTrigger.from_crontab(cleaned, timezone=UTC)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a schedule: use a crontab line in UTC such as '0 6 * * *', "
            f"or 'every 15m' ({exc})"
        ) from exc


def latest_slot(trigger: BaseTrigger, now: datetime, *, lookback: timedelta) -> datetime | None:
    """The last fire time at or before `now`, if one falls within `lookback`."""
    slot: datetime | None = None
    fire = trigger.get_next_fire_time(None, now - lookback)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return slot


def next_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    return trigger.get_next_fire_time(None, now)
