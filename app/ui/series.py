"""Series: pick one from the catalog and see its observations as a line chart, with the
data's freshness. Reads what the read API serves (app/read_api/pages.py), uncached."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import AurumError
from app.read_api import pages as read_pages
from app.routers import external_health
from app.ui.web import Viewer, failure_message, page, resources

router = APIRouter(prefix="/ui", include_in_schema=False)
CHART_YEARS = 5


@router.get("/series", response_class=HTMLResponse)
async def catalog(request: Request, session: Viewer, provider: str = "", q: str = "") -> Response:
    body = await read_pages.series_body(
        resources(request).read_rows, provider=provider.strip() or None, frequency=None,
        text=q.strip()[:200] or None, limit=200, cursor=None,
    )  # fmt: skip
    listing: dict[str, Any] = json.loads(body)
    providers = sorted(resources(request).providers.config.providers)
    context = {"series": listing["series"], "providers": providers, "provider": provider, "q": q}
    return page(request, "series.html", session, context)


@router.get("/series/{provider}/{series_id:path}", response_class=HTMLResponse)
async def one_series(
    request: Request, provider: str, series_id: str, session: Viewer, start: str = ""
) -> Response:
    try:
        since = date.fromisoformat(start) if start else None
    except ValueError:
        since = None
    since = since or (datetime.now(UTC).date() - timedelta(days=365 * CHART_YEARS))
    args = {
        "tenant_id": resources(request).settings.tenant_id,
        "provider": provider,
        "series_id": series_id,
        "start": since,
        "end": None,
    }
    context: dict[str, Any] = {"provider": provider, "series_id": series_id, "start": since}
    try:
        body = await read_pages.observations_body(
            resources(request).read_rows, args, limit=read_pages.MAX_LIMIT, cursor=None
        )
    except AurumError as exc:
        context["problem"] = failure_message(exc)
        return page(request, "series_one.html", session, context, status_code=exc.status_code)
    observations = json.loads(body)["observations"]
    shown = [o for o in observations if o["value"] is not None]
    days = [datetime.fromisoformat(o["date"]).replace(tzinfo=UTC) for o in shown]
    line = {"label": series_id, "values": [o["value"] for o in shown], "stroke": "#0969da"}
    chart = {"x": [int(day.timestamp()) for day in days], "series": [line]}
    health = json.loads(bytes((await external_health.provider_health(request, provider)).body))
    context |= {
        "observations": observations[-20:][::-1],
        "count": len(observations),
        "chart": json.dumps(chart),
        "freshness": (health.get("datasets") or {}).get(series_id),
    }
    return page(request, "series_one.html", session, context)
