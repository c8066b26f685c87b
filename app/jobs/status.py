"""Who leads the scheduler, as `/ready` and the health endpoint show it."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.db.repositories import jobs as job_repo
from app.jobs.leader import LEADER_NAME
from app.resources import Resources

# A leader that has not confirmed its lock for this long is presumed gone.
LEADER_SILENT_SECONDS = 15


async def leader_status(resources: Resources) -> dict[str, Any]:
    scheduler = resources.scheduler
    settings = resources.settings
    status: dict[str, Any] = {
        "enabled": settings.scheduler_enabled,
        "this_replica": settings.replica_id,
        "is_leader": bool(scheduler and scheduler.is_leader),
        "leader": None,
        "leader_epoch": None,
        "leader_since": None,
        "leader_heartbeat_at": None,
        "leader_alive": False,
    }
    with contextlib.suppress(SQLAlchemyError, OSError):
        async with resources.sessionmaker() as session:
            row = await job_repo.leader(session, LEADER_NAME)
        if row is not None:
            beat = row.heartbeat_at
            alive = beat is not None and (
                (datetime.now(UTC) - beat).total_seconds()
                < max(LEADER_SILENT_SECONDS, 3 * settings.leader_poll_seconds)
            )
            status |= {
                "leader": row.replica_id if alive else None,
                "leader_epoch": row.epoch,
                "leader_since": row.acquired_at,
                "leader_heartbeat_at": beat,
                "leader_alive": alive,
            }
    return status
