"""The request's unit of work: one session, committed after the route returns, rolled back on
any error. Services never commit; this dependency (and the job wrapper) does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


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
