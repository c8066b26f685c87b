"""The request's unit of work commits before the response and rolls back on error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select

from app.db.models import AuditLog
from app.db.session import SessionDep
from app.errors import Conflict
from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app


def _app(settings: Settings) -> Any:
    router = APIRouter()

    @router.post("/_test/audit/{target}")
    async def write(target: str, session: SessionDep, fail: bool = False) -> dict[str, str]:
        session.add(AuditLog(principal="test", role="admin", action="test.write", target=target))
        await session.flush()
        if fail:
            raise Conflict("refused after writing")
        return {"target": target}

    @router.get("/_test/audit/{target}")
    async def count(target: str, session: SessionDep) -> dict[str, int]:
        query = select(func.count()).select_from(AuditLog).where(AuditLog.target == target)
        return {"rows": (await session.execute(query)).scalar_one()}

    app = create_app(settings)
    app.include_router(router)
    return app


async def test_a_successful_request_is_committed_before_the_response(settings: Settings) -> None:
    async with running_app(_app(settings)) as client:
        assert (await client.post("/_test/audit/uow-ok")).status_code == 200
        assert (await client.get("/_test/audit/uow-ok")).json() == {"rows": 1}


async def test_a_failed_request_writes_nothing(settings: Settings) -> None:
    async with running_app(_app(settings)) as client:
        response = await client.post("/_test/audit/uow-fail", params={"fail": True})
        assert response.status_code == 409
        assert response.json()["error"] == "conflict"
        assert (await client.get("/_test/audit/uow-fail")).json() == {"rows": 0}
