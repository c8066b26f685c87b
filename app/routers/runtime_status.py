"""`GET /runtime-config/v1/status`: every live replica, the flag versions it applied and when,
against the versions PostgreSQL holds (viewer reads; attached in app.main)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from app.db.repositories import flags as repo
from app.db.session import SessionDep
from app.resources import Resources
from app.runtime_config.registry import FLAGS
from app.runtime_config.status import live_replicas

router = APIRouter(prefix="/runtime-config/v1", tags=["runtime config"])


@router.get("/status")
async def propagation_status(request: Request, session: SessionDep) -> dict[str, Any]:
    resources: Resources = request.app.state.resources
    settings = resources.settings
    truth = {name: 0 for name in FLAGS}
    stored = await repo.list_all(session)
    truth |= {flag.name: flag.version for flag in stored if flag.name in FLAGS}
    version = sum(truth.values())
    live = await live_replicas(
        resources.redis, resources.flags.keys, settings.flags_replica_ttl_seconds
    )
    now = time.time()
    return {
        "version": version,
        "flags": truth,
        "this_replica": settings.replica_id,
        "reconcile_seconds": settings.flags_reconcile_seconds,
        "liveness_seconds": settings.flags_replica_ttl_seconds,
        "replicas": [ack.view(now) | {"in_sync": ack.flags == truth} for ack in live],
        "in_sync": all(ack.flags == truth for ack in live),
    }
