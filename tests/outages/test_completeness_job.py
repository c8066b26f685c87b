"""`monitor.outage_completeness` in the running service: the job the leader runs every
minute finds the outage whose backfill succeeded, reads the provider where its collections
do (here the sandbox as EIA's live API), and stores the verdict; with nothing waiting it
does nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.auth.principal import Role
from app.db.models import ProviderOutage
from app.jobs import control
from app.jobs.context import RunContext
from app.jobs.outage_tasks import outage_completeness
from app.main import create_app
from app.outages.report import render_report
from app.outages.timeline import build_timeline
from app.sandbox.server import SandboxServer
from app.settings import ProviderMode, Settings
from tests.support.apps import running_app
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql

SERIES = "electricity/retail-sales:monthly:TX/ALL:price"


async def test_the_leader_job_checks_a_backfilled_outage(
    settings: Settings, database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        for name, section in data["providers"].items():
            section["enabled"] = name == "eia"
        eia = data["providers"]["eia"]
        eia["base_url"] = sandbox.base_urls()["eia"]
        eia["datasets"] = [d for d in eia["datasets"] if d["series_id"] == SERIES]

    tenant = f"t{uuid.uuid4().hex[:8]}"
    local = settings.model_copy(
        update={
            "tenant_id": tenant, "scheduler_enabled": True, "scheduler_sync_seconds": 0.2,
            "provider_mode": ProviderMode.LIVE, "eia_api_key": SecretStr("a" * 32),
            "provider_config_path": provider_file(tmp_path, edit),
        }
    )  # fmt: skip
    app = create_app(local)
    operator = bearer(local, Role.OPERATOR)
    start = date(datetime.now(UTC).year - 2, 1, 1)
    try:
        async with running_app(app) as client:
            resources = app.state.resources
            scheduler = resources.scheduler
            definition = control.definition_of(scheduler, "monitor.outage_completeness")
            assert definition.schedule == "every 60s" and not definition.records_runs

            def context() -> RunContext:
                return RunContext(resources, scheduler.targets, definition, None, "scheduled", {})

            assert (await outage_completeness(context())).progress == {"checked": []}

            queued = await client.post(
                "/v1/admin/external/jobs/ingest.eia/trigger", headers=operator,
                json={"start": start.isoformat(), "end": datetime.now(UTC).date().isoformat()},
            )  # fmt: skip
            assert queued.status_code == 202, queued.text
            run = await finished_run(client, queued.json()["run"]["id"], operator)
            assert run["status"] == "succeeded" and run["rows_new"] > 0
            outage_id = uuid.uuid4()
            sql(
                database_url,
                "INSERT INTO provider_outages (id, provider, status, reason, declared_by, "
                "declared_at, resolved_at, resolved_by, backfill_run_id, window_start, "
                "window_end, applied_actions) VALUES (%s, 'eia', 'resolved', 'EIA 5xx', "
                "'jwt:oncall', now() - interval '1 hour', now(), 'jwt:oncall', %s, %s, now(), "
                "'[]')",
                outage_id, run["id"], datetime.combine(start, datetime.min.time(), UTC),
            )  # fmt: skip

            counters = await outage_completeness(context())
            assert counters.progress == {"checked": [str(outage_id)]}
            async with resources.sessionmaker() as session:
                outage = await session.get(ProviderOutage, outage_id)
                assert outage is not None and outage.completeness is not None
                assert outage.completeness["complete"] is True
                assert outage.completeness["source"] == "live"
                timeline = await build_timeline(session, outage)
            assert [e["kind"] for e in timeline][-1] == "completeness"
            view = {"provider": "eia", "status": "resolved", "reason": "EIA 5xx",
                    "completeness": outage.completeness}  # fmt: skip
            assert "Complete: stored data matches" in render_report(view, timeline)
            assert (await outage_completeness(context())).progress == {"checked": []}
    finally:
        sql(database_url, "DELETE FROM provider_outages WHERE provider = 'eia'")
        sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.eia'")
        for table in ("external_timeseries_obs", "ingest_checkpoints"):
            sql(database_url, f"DELETE FROM {table} WHERE tenant_id = %s", tenant)
