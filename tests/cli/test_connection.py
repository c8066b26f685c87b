"""Where `aurum` finds the service and its credential: AURUM_API_URL with AURUM_API_KEY or
AURUM_TOKEN, a named profile of the config file, or, run in the project folder against the
embedded default, its bootstrap key; and `aurum redis-cli` reads the service's Redis."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.cli.ops.client import path
from app.cli.ops.connection import resolve
from app.embedded.ports import free_port
from tests.cli.conftest import Live


def _bootstrap_dir(live: Live, name: str, key: str) -> Path:
    directory = live.workdir / name
    directory.mkdir(exist_ok=True)
    (directory / "bootstrap-admin-key").write_text(key + "\n")
    return directory


def test_the_embedded_defaults_bootstrap_key_is_found_for_a_local_url(live: Live) -> None:
    data_dir = _bootstrap_dir(live, "data-with-key", live.admin_key)
    result = live.run("--json", "config", AURUM_API_KEY=None, AURUM_DATA_DIR=str(data_dir))
    assert result.exit_code == 0, result.stderr  # config is admin-only: the admin key was used
    assert set(json.loads(result.stdout)["providers"]) == {"eia", "fred", "noaa", "worldbank"}
    assert live.admin_key not in result.stdout + result.stderr


def test_the_bootstrap_key_named_in_a_401_when_it_is_stale(live: Live) -> None:
    data_dir = _bootstrap_dir(live, "data-stale", "ak_stale_key_from_an_old_data_dir")
    result = live.run("jobs", AURUM_API_KEY=None, AURUM_DATA_DIR=str(data_dir))
    assert result.exit_code == 3
    assert "bootstrap key in" in result.stderr and "ak_stale" not in result.stderr


def test_a_remote_url_never_gets_the_local_bootstrap_key(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _bootstrap_dir(live, "data-remote", live.admin_key)
    for name in ("AURUM_API_KEY", "AURUM_TOKEN", "AURUM_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AURUM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AURUM_API_URL", "https://aurum.example.com")
    remote = resolve(None)
    assert remote.headers() == {} and remote.source == "no credential"
    monkeypatch.setenv("AURUM_API_URL", "http://localhost:8080")
    assert resolve(None).headers() == {"X-API-Key": live.admin_key}


def test_the_api_key_wins_over_a_token_and_a_token_is_a_bearer(live: Live) -> None:
    token_only = live.run("--json", "jobs", AURUM_API_KEY=None, AURUM_TOKEN=live.viewer_token)
    assert token_only.exit_code == 0
    both = live.run("config", "reload", AURUM_API_KEY=live.admin_key, AURUM_TOKEN=live.viewer_token)
    assert both.exit_code == 0, both.stderr


def _config(live: Live, text: str) -> str:
    path = live.workdir / f"config-{free_port()}.toml"
    path.write_text(text)
    return str(path)


def test_a_named_profile_supplies_url_and_credential(live: Live) -> None:
    config = _config(
        live,
        f'[profiles.prod]\nurl = "{live.url}"\napi_key = "{live.operator_key}"\n\n'
        f'[profiles.readonly]\nurl = "{live.url}"\ntoken = "{live.viewer_token}"\n',
    )
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {"AURUM_CLI_CONFIG": config, "AURUM_API_URL": nowhere, "AURUM_API_KEY": None}
    paused = live.run("--profile", "prod", "--json", "jobs", "pause", "probe.noaa", **env)
    assert paused.exit_code == 0, paused.stderr
    assert json.loads(paused.stdout)["paused"] is True
    by_variable = live.run("jobs", "resume", "probe.noaa", AURUM_PROFILE="prod", **env)
    assert by_variable.exit_code == 0, by_variable.stderr
    viewer = live.run("--profile", "readonly", "jobs", "pause", "probe.noaa", **env)
    assert viewer.exit_code == 3 and "HTTP 403" in viewer.stderr
    assert live.run("jobs", **env).exit_code == 4  # no profile: AURUM_API_URL, unreachable


def test_an_unknown_profile_is_a_usage_error_listing_the_known_ones(live: Live) -> None:
    config = _config(live, f'[profiles.prod]\nurl = "{live.url}"\n')
    result = live.run("--profile", "staging", "status", AURUM_CLI_CONFIG=config)
    assert result.exit_code == 2
    assert "no profile 'staging'" in result.stderr and "prod" in result.stderr
    missing = live.run("--profile", "prod", "status", AURUM_CLI_CONFIG=config + ".missing")
    assert missing.exit_code == 2 and "no config file" in missing.stderr


def test_redis_cli_uses_aurum_redis_url_and_prints_like_redis_cli_raw(live: Live) -> None:
    url = live.settings.redis_url or ""
    assert live.run("redis-cli", "SET", "cli:test:key", "v1", AURUM_REDIS_URL=url).stdout == "OK\n"
    got = live.run("redis-cli", "--raw", "GET", "cli:test:key", AURUM_REDIS_URL=url)
    assert got.exit_code == 0 and got.stdout == "v1\n"
    nil = live.run("redis-cli", "GET", "cli:test:absent", AURUM_REDIS_URL=url)
    assert nil.exit_code == 0 and nil.stdout == "\n"
    live.run("redis-cli", "RPUSH", "cli:test:list", "a", "b", AURUM_REDIS_URL=url)
    listed = live.run("redis-cli", "LRANGE", "cli:test:list", "0", "-1", AURUM_REDIS_URL=url)
    assert listed.stdout == "a\nb\n"
    wrong = live.run("redis-cli", "NOSUCHCOMMAND", AURUM_REDIS_URL=url)
    assert wrong.exit_code == 3 and wrong.stderr.startswith("(error) ")
    live.run("redis-cli", "DEL", "cli:test:key", "cli:test:list", AURUM_REDIS_URL=url)


def test_redis_cli_without_a_url_reads_the_embedded_defaults_port(live: Live) -> None:
    """No AURUM_REDIS_URL: the embedded default's Redis (AURUM_EMBEDDED_REDIS_PORT, 6380 by
    default), not whatever listens on 6379. Here that port is the suite's Redis."""
    parts = urlsplit(live.settings.redis_url or "")
    database = parts.path.lstrip("/") or "0"
    env = {"AURUM_REDIS_URL": None, "AURUM_EMBEDDED_REDIS_PORT": str(parts.port)}
    live.json("health", "fred")
    result = live.run(
        "redis-cli", "--raw", "-n", database, "get", "external:provider_status:fred", **env
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"]
    closed = live.run("redis-cli", "PING", AURUM_REDIS_URL=None,
                      AURUM_EMBEDDED_REDIS_PORT=str(free_port()))  # fmt: skip
    assert closed.exit_code == 4
    assert "redis://127.0.0.1:" in closed.stderr and "Traceback" not in closed.stderr


def test_path_segments_are_encoded_one_each() -> None:
    """EIA series ids hold `/`: each value is one segment, never a path of its own."""
    assert path("/v1/x", "electricity/retail-sales:monthly", "run") == (
        "/v1/x/electricity%2Fretail-sales%3Amonthly/run"
    )
    assert path("/v1/admin/external/jobs", "ingest.eia", "pause") == (
        "/v1/admin/external/jobs/ingest.eia/pause"
    )
