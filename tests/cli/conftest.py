"""The operator CLI against a real running service: the test app served over a socket
(tests/support/live_app.py) on the suite's PostgreSQL and Redis, with its scheduler leading
(runs really run, against the provider sandbox), and credentials of each role."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.auth.principal import Role
from app.cli.main import cli
from app.settings import Environment, LogFormat, Settings
from tests.support.auth import TEST_JWT_SECRET, bearer, new_api_key
from tests.support.live_app import served
from tests.support.scheduling import provider_file


@dataclass
class Live:
    """The served app and how to run `aurum` against it."""

    url: str
    settings: Settings
    operator_key: str
    admin_key: str
    viewer_token: str
    workdir: Path

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        """No AURUM_* from the test process; the service's URL and the operator's key."""
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AURUM_")}
        env |= {
            "AURUM_API_URL": self.url,
            "AURUM_API_KEY": self.operator_key,
            "AURUM_DATA_DIR": str(self.workdir / "no-data-dir"),
            "AURUM_CLI_CONFIG": str(self.workdir / "no-config.toml"),
            "COLUMNS": "250",
        }
        return env | overrides

    def run(self, *args: str, **env: str | None) -> Result:
        """`aurum ARGS` in this process (stdout and stderr kept apart)."""
        return CliRunner().invoke(cli, list(args), env=self.env(**env), catch_exceptions=False)

    def json(self, *args: str, **env: str | None) -> Any:
        """`aurum --json ARGS`, exit code 0 asserted, stdout parsed."""
        result = self.run("--json", *args, **env)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def live(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("cli")
    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=None,
        log_format=LogFormat.JSON,
        replica_id=f"cli-{uuid.uuid4().hex[:6]}",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_default="100000/minute",
        rate_limit_key_prefix=f"aurum:rl:cli:{uuid.uuid4().hex[:8]}",
        sandbox_collect_interval_seconds=0,
        scheduler_enabled=True,
        scheduler_sync_seconds=0.2,
        provider_config_path=provider_file(workdir, lambda data: None),
        _env_file=None,  # type: ignore[call-arg]
    )
    operator_key, _ = asyncio.run(new_api_key(database_url, Role.OPERATOR, name="cli-operator"))
    admin_key, _ = asyncio.run(new_api_key(database_url, Role.ADMIN, name="cli-admin"))
    viewer = bearer(settings, Role.VIEWER, subject="cli-viewer")["Authorization"]
    with served(settings) as url:
        yield Live(
            url=url,
            settings=settings,
            operator_key=operator_key,
            admin_key=admin_key,
            viewer_token=viewer.removeprefix("Bearer "),
            workdir=workdir,
        )
