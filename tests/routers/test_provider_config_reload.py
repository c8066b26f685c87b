"""Reloading the provider file: admins only, audited, and a bad file changes nothing."""

from __future__ import annotations

from pathlib import Path

from app.auth.principal import Role
from app.providers.config import resolve_config_path
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer

URL = "/v1/admin/external/config"


async def test_an_edited_file_is_applied_and_a_broken_one_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    original = resolve_config_path(Path("config/external_providers.yml")).read_text()
    edited = tmp_path / "providers.yml"
    edited.write_text(original)
    local = settings.model_copy(update={"provider_config_path": edited})
    admin = bearer(local, Role.ADMIN)
    async with client_for(local) as client:
        noaa = "display_name: NOAA NCEI Climate Data Online (GHCND)\n    enabled: true"
        edited.write_text(original.replace(noaa, noaa.replace("true", "false"), 1))
        applied = await client.post(f"{URL}/reload", headers=admin)
        assert applied.status_code == 200, applied.text
        assert applied.json()["providers"]["noaa"]["enabled"] is False

        edited.write_text(original.replace("requests_per_second: 4,", "requests_per_second: -4,"))
        refused = await client.post(f"{URL}/reload", headers=admin)
        assert refused.status_code == 422
        message = refused.json()["message"]
        assert "providers.noaa.rate_limit.requests_per_second" in message
        assert "providers.yml:" in message  # the line
        current = (await client.get(URL, headers=admin)).json()["providers"]
        assert current["noaa"]["enabled"] is False  # the last good file is still in force
        assert current["noaa"]["requests_per_second"] == 4

        operator = await client.post(f"{URL}/reload", headers=bearer(local, Role.OPERATOR))
        assert operator.status_code == 403
