"""The read API's rows from the read replica while it is fit, else from the primary.

`ReadSessions` (app/db/read_sessions.py) keeps the verdict (reachable, lag within
AURUM_DATABASE_READ_MAX_LAG_SECONDS) for the SQLAlchemy reads of health and SLA; this gives
the read API's plain psycopg pools (app/db/read_pool.py) the same verdict. A fetch that fails
on the replica between two checks is asked of the primary at once, so a replica going down
costs a read one failed attempt, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from app.db.read_pool import UNAVAILABLE, ReadPool, Row
from app.db.read_sessions import Fallback, ReadSessions
from app.monitoring.metrics import DB_READ_FALLBACK

log = logging.getLogger(__name__)


class StandbyFirstRows:
    """A `RowSource`: `standby` (None without a replica) while `reads` says it is fit."""

    def __init__(self, primary: ReadPool, standby: ReadPool | None, reads: ReadSessions) -> None:
        self.primary = primary
        self.standby = standby
        self._reads = reads

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        if self.standby is not None and await self._reads.use_replica():
            try:
                return await self.standby.fetch(sql, params)
            except UNAVAILABLE as exc:
                DB_READ_FALLBACK.labels(Fallback.UNREACHABLE.value).inc()
                log.warning(
                    "a read page fell back to the primary: the replica did not answer",
                    extra={"detail": f"{type(exc).__name__}: {exc}".splitlines()[0]},
                )
        return await self.primary.fetch(sql, params)

    async def open(self) -> None:
        await self.primary.open()
        if self.standby is not None:
            await self.standby.open()

    async def close(self) -> None:
        await self.primary.close()
        if self.standby is not None:
            await self.standby.close()
