"""One provider: per-dataset freshness, breaker transitions, quota through the day, cost against the
budget, recent runs and the latest validation; all from the API routes' handlers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.routers import external_health, external_limits, validation
from app.ui.web import Viewer, page, unit_of_work


def _epoch(hour: str) -> int:
    return int(datetime.fromisoformat(hour.replace("Z", "+00:00")).timestamp())


def _quota_chart(hours: list[dict[str, Any]], limit: int | None) -> dict[str, Any]:
    """The day's use, summed hour by hour, against the daily limit (a flat line)."""
    used, total = [], 0
    for hour in hours:
        total += hour["used"]
        used.append(total)
    series = [{"label": "used today", "values": used, "stroke": "#0969da"}]
    if limit is not None:
        series.append({"label": "daily limit", "values": [limit] * len(hours), "stroke": "#6e7781"})
    return {"x": [_epoch(h["hour"]) for h in hours], "series": series}


router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/providers/{provider}", response_class=HTMLResponse)
async def provider_page(request: Request, provider: str, session: Viewer) -> Response:
    answer = await external_health.provider_health(request, provider)  # 404 when unknown
    health: dict[str, Any] = json.loads(bytes(answer.body))
    costs = await external_limits.list_costs(request)
    limits = await external_limits.get_ratelimit(provider, request)
    quota_hours = limits["quota_by_hour"]
    async with unit_of_work(request) as db:
        quality = await validation.get_validation(provider, request, db, limit=5, before=None)
    hourly = health.get("hourly_calls") or []
    chart = {
        "x": [_epoch(h["hour"]) for h in hourly],
        "series": [
            {"label": "successes", "values": [h["success"] for h in hourly], "stroke": "#1a7f37"},
            {"label": "errors", "values": [h["failure"] for h in hourly], "stroke": "#cf222e"},
        ],
    }
    return page(
        request,
        "provider.html",
        session,
        {
            "name": provider,
            "p": health,
            "cost": costs["providers"].get(provider),
            "quality": quality,
            "hourly": hourly,
            "chart": json.dumps(chart),
            "quota_hours": quota_hours,
            "quota_chart": json.dumps(
                _quota_chart(quota_hours or [], limits["quota"]["windows"]["daily"]["limit"])
            ),
        },
    )
