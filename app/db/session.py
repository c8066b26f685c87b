"""The request's unit of work: one session, committed after the route returns, rolled back on
any error. Services never commit; this dependency (and the job wrapper) does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.read_sessions import ReadSessions


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker = request.app.state.resources.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit happens before the response is sent, so a client never sees
# success for a change that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


async def read_sessions(request: Request) -> ReadSessions:
    """Where staleness-tolerant reads get their session (app/db/read_sessions.py). A route
    takes this instead of SessionDep when it writes nothing and may read a replica."""
    reads: ReadSessions = request.app.state.resources.reads
    return reads


ReadSessionsDep = Annotated[ReadSessions, Depends(read_sessions)]
