"""`aurum keys` and `aurum token` as an operator runs them, against the suite's database."""

from __future__ import annotations

import json
import subprocess
import sys

from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET
from tests.support.processes import clean_env


def _aurum(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(**env)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_create_list_revoke_with_the_command_line(
    settings: Settings, database_url: str
) -> None:
    created = _aurum(
        "keys",
        "create",
        "--name",
        "ops-laptop",
        "--role",
        "operator",
        "--expires-in",
        "7d",
        AURUM_DATABASE_URL=database_url,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["role"] == "operator" and key["key"].startswith("aur_")
    assert "not shown again" in created.stderr

    async with client_for(settings) as client:
        who = await client.get("/v1/admin/whoami", headers={"X-API-Key": key["key"]})
        assert who.json()["name"] == "ops-laptop"

    listed = _aurum("keys", "list", AURUM_DATABASE_URL=database_url)
    assert listed.returncode == 0
    assert key["id"] in listed.stdout and key["key"] not in listed.stdout

    revoked = _aurum("keys", "revoke", key["id"], AURUM_DATABASE_URL=database_url)
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
    async with client_for(settings) as client:
        refused = await client.get("/v1/admin/whoami", headers={"X-API-Key": key["key"]})
        assert refused.status_code == 401


def test_bad_arguments_are_one_line_errors(database_url: str) -> None:
    bad_expiry = _aurum(
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "viewer",
        "--expires-in",
        "soon",
        AURUM_DATABASE_URL=database_url,
    )
    assert bad_expiry.returncode == 1 and "--expires-in" in bad_expiry.stderr
    unknown = _aurum("keys", "revoke", "not-an-id", AURUM_DATABASE_URL=database_url)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


async def test_minted_tokens_are_accepted_by_the_service(settings: Settings) -> None:
    minted = _aurum(
        "token",
        "mint",
        "--sub",
        "oncall",
        "--role",
        "operator",
        "--ttl",
        "1h",
        AURUM_JWT_SECRET=TEST_JWT_SECRET,
    )
    assert minted.returncode == 0, minted.stderr
    async with client_for(settings) as client:
        who = await client.get(
            "/v1/admin/whoami", headers={"Authorization": f"Bearer {minted.stdout.strip()}"}
        )
    assert who.json() == {"id": "jwt:oncall", "name": "oncall", "role": "operator", "kind": "jwt"}
