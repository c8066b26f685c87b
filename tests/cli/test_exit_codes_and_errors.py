"""What scripts rely on: `--json` is the API's JSON, exit codes mean one thing each (0 ok,
1 check or run failed, 2 usage, 3 the API refused, 4 server error or unreachable), and an
error is one line on stderr in the API's own words, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from app.embedded.ports import free_port
from tests.cli.conftest import Live
from tests.support.processes import clean_env


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("aurum: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_json_is_the_apis_own_body(live: Live) -> None:
    api = httpx.get(f"{live.url}/v1/admin/external/jobs", headers={"X-API-Key": live.operator_key})
    by_flag = live.json("jobs")
    per_command = json.loads(live.run("jobs", "--json").stdout)
    ids = [job["id"] for job in api.json()["jobs"]]
    assert [job["id"] for job in by_flag["jobs"]] == [job["id"] for job in per_command["jobs"]]
    assert [job["id"] for job in by_flag["jobs"]] == ids
    assert set(by_flag) == set(api.json()) == {"leader", "jobs"}


def test_people_get_a_table(live: Live) -> None:
    result = live.run("breakers")
    assert result.exit_code == 0
    assert "provider" in result.stdout and "worldbank" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_no_credential_is_401_with_the_apis_message(live: Live) -> None:
    result = live.run("jobs", AURUM_API_KEY=None)
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "HTTP 401" in line and "Authentication required" in line
    assert "no credential" in line


def test_a_wrong_key_is_401_and_never_printed(live: Live) -> None:
    result = live.run("jobs", AURUM_API_KEY="ak_wrong_secret_value_123")
    assert result.exit_code == 3
    assert "HTTP 401" in _one_line(result.stderr)
    assert "ak_wrong_secret_value_123" not in result.stderr + result.stdout


def test_a_viewer_changing_something_is_403(live: Live) -> None:
    result = live.run(
        "flags", "set", "external_read_cache", "--on", "--reason", "try",
        AURUM_API_KEY=None, AURUM_TOKEN=live.viewer_token,
    )  # fmt: skip
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "HTTP 403" in line and "needs the 'operator' role" in line
    assert live.run("jobs", AURUM_API_KEY=None, AURUM_TOKEN=live.viewer_token).exit_code == 0


def test_an_unknown_provider_is_404_listing_the_known_ones(live: Live) -> None:
    for args in (["health", "bloomberg"], ["breakers", "reset", "bloomberg"]):
        result = live.run(*args)
        assert result.exit_code == 3, args
        line = _one_line(result.stderr)
        assert "HTTP 404" in line and "eia, fred, noaa, worldbank" in line


def test_invalid_input_is_422_naming_the_field(live: Live) -> None:
    result = live.run("backfill", "fred", "--start", "2024-09-24", "--end", "2024-09-23")
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "HTTP 422" in line and "start: must not be after end" in line
    bad = live.run("ratelimits", "set", "fred", "--rps", "-1")
    assert bad.exit_code == 3 and "HTTP 422" in _one_line(bad.stderr)


def test_a_backfill_over_quota_is_refused_409_with_the_numbers(live: Live) -> None:
    live.json("ratelimits", "set", "fred", "--daily-quota", "5", "--reason", "drill")
    try:
        window = ["--start", "2024-01-01", "--end", "2024-09-30"]
        dry = live.run("backfill", "fred", *window, "--dry-run")
        assert dry.exit_code == 0 and "NO: needs 8 requests" in dry.stdout
        result = live.run("backfill", "fred", *window)
        assert result.exit_code == 3
        line = _one_line(result.stderr)
        assert "HTTP 409" in line and "needs 8 requests" in line and "force" in line
    finally:
        live.json("ratelimits", "set", "fred", "--daily-quota", "50000", "--reason", "drill over")


def test_usage_errors_exit_2(live: Live) -> None:
    missing = live.run("backfill", "fred", "--start", "2024-09-23")
    assert missing.exit_code == 2 and "--end" in missing.stderr
    bad_ttl = live.run("breakers", "force-open", "fred", "--ttl", "soon")
    assert bad_ttl.exit_code == 2 and "--ttl" in bad_ttl.stderr
    bad_url = live.run("jobs", AURUM_API_URL="localhost:8080")
    assert bad_url.exit_code == 2 and "http(s)://" in _one_line(bad_url.stderr)


def test_an_unreachable_service_exits_4(live: Live) -> None:
    result = live.run("status", AURUM_API_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 4
    assert "cannot reach the service" in _one_line(result.stderr)


def test_status_check_exits_1_while_a_provider_is_down(live: Live) -> None:
    assert live.run("status", "--check").exit_code == 0
    live.json("breakers", "force-open", "eia", "--ttl", "5m", "--reason", "drill")
    try:
        result = live.run("status", "--check")
        assert result.exit_code == 1
        assert "eia is down" in result.stdout
        body = json.loads(live.run("--json", "status", "--check").stdout)
        assert body["ok"] is False and "eia is down" in body["problems"]
    finally:
        live.json("breakers", "reset", "eia", "--reason", "drill over")
    assert live.run("status", "--check").exit_code == 0


def test_following_a_failed_run_exits_1(live: Live) -> None:
    queued = live.json("jobs", "trigger", "ingest.fred", "--datasets", "DEXUSEU")
    cancelled = live.run("runs", "cancel", str(queued["run"]["id"]), "--reason", "test")
    assert cancelled.exit_code in {0, 3}  # 409 when it had already finished
    result = live.run("runs", "follow", str(queued["run"]["id"]))
    run = live.json("runs", "show", str(queued["run"]["id"]))
    assert result.exit_code == (0 if run["status"] == "succeeded" else 1), run
    again = live.run("runs", "--follow", str(queued["run"]["id"]))
    assert again.exit_code == result.exit_code


def test_the_installed_entry_point_ends_errors_in_one_line(live: Live) -> None:
    """`python -m app` (the `aurum` script) as an operator runs it."""
    env = clean_env(AURUM_API_URL=live.url, AURUM_DATA_DIR=str(live.workdir / "none"))
    result = subprocess.run(
        [sys.executable, "-m", "app", "jobs", "pause", "ingest.fred"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3
    assert "HTTP 401" in _one_line(result.stderr)
    ok = subprocess.run(
        [sys.executable, "-m", "app", "--json", "health", "fred"],
        env=env | {"AURUM_API_KEY": live.operator_key}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["provider"] == "fred"
