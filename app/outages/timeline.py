"""Placeholder: the outage's timeline from its row and its recorded events (the full
timeline, with runs and audit entries, replaces this)."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ProviderOutage
from app.db.repositories import outage_events


async def build_timeline(session: AsyncSession, outage: ProviderOutage) -> list[dict[str, Any]]:
    """TimelineEntry dicts ({at, kind, actor, summary, detail}), oldest first."""
    entries = [
        {
            "at": event.at,
            "kind": event.kind,
            "actor": event.actor,
            "summary": event.summary,
            "detail": event.detail,
        }
        for event in await outage_events.for_outage(session, outage.id)
    ]
    return list(to_jsonable_python(entries))
