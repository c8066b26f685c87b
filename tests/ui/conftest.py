"""Browser tests of the ops dashboard (/ui): Debian's Chromium driven by Playwright against
the real app served over a real socket (tests/support/live_app.py), on the suite's
PostgreSQL and Redis, with its scheduler leading and every provider collected from the
provider sandbox as if it were its live API (so a sandbox fault reaches the cards)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.auth.principal import Role
from app.sandbox.server import SandboxServer
from app.settings import Environment, LogFormat, ProviderMode, Settings
from tests.support.auth import TEST_JWT_SECRET, new_api_key
from tests.support.live_app import served
from tests.support.scheduling import provider_file, sql
from tests.ui.browser import chromium_path, skip_reason

PROVIDERS = ("fred", "eia", "noaa", "worldbank")
CREDENTIALS = {"fred": "fred_api_key", "eia": "eia_api_key", "noaa": "noaa_token"}
# The provider the fault test breaks: one dataset, one attempt per call, and a breaker that
# opens at the second failed call, so one failed run is "degraded" and the next is "down".
FAULTY = "eia"
FAULTY_SERIES = "petroleum/pri/spt:weekly:RBRTE:value"
_SCREENSHOTS = pytest.StashKey[Path]()
_BROWSER_TESTS = pytest.StashKey[int]()


def _needs_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a browser, skip (loudly) the tests that drive one; the rest still run."""
    config.stash[_BROWSER_TESTS] = sum(1 for item in items if _needs_browser(item))
    if chromium_path() is not None:
        return
    skip = pytest.mark.skip(reason=skip_reason())
    for item in items:
        if _needs_browser(item):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print where the screenshots are, or shout that the browser tests did not run."""
    shots = config.stash.get(_SCREENSHOTS, None)
    if shots is not None:
        names = sorted(p.name for p in shots.glob("*.png"))
        terminalreporter.write_sep("=", "ops dashboard screenshots", bold=True)
        terminalreporter.write_line(f"{len(names)} screenshot(s) in {shots}")
        for name in names:
            terminalreporter.write_line(f"  {name}")
    elif config.stash.get(_BROWSER_TESTS, 0) and chromium_path() is None:
        terminalreporter.write_sep("!", skip_reason(), red=True, bold=True)


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (AURUM_SCREENSHOT_DIR, else the session's tmp dir); the path
    is printed at the end of the run for a reviewer."""
    chosen = os.environ.get("AURUM_SCREENSHOT_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    request.config.stash[_SCREENSHOTS] = path.resolve()
    return path


# Module scope: while Playwright's sync API is open it keeps an event loop running on the
# main thread, on which pytest-asyncio cannot run the async tests of the next module.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module (the system one: no browser is downloaded)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        pytest.skip(skip_reason())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


@dataclass
class Dashboard:
    """The served app, keys of each role, and the sandbox its providers talk to."""

    url: str
    settings: Settings
    database_url: str
    sandbox: SandboxServer
    viewer_key: str
    operator_key: str
    admin_key: str

    def api(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        """Call the public API as `key` (the operator's by default) and return the reply."""
        headers = {"X-API-Key": key or self.operator_key}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def fault(self, provider: str, status: int = 503) -> None:
        rule = {"kind": "status", "provider": provider, "status": status}
        self.sandbox.control("POST", "faults", rule)

    def lift(self) -> None:
        self.sandbox.control("DELETE", "faults")

    def wait_run(self, run_id: str, *, timeout: float = 60) -> dict[str, Any]:
        """Poll a run through the API until it has ended; its record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.api("GET", f"/v1/admin/external/runs/{run_id}").json()
            if run["status"] not in {"queued", "running"}:
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish within {timeout} s")

    def run_ingest(self, provider: str) -> dict[str, Any]:
        """Trigger ingest.<provider> through the API and wait for the run to end."""
        queued = self.api("POST", f"/v1/admin/external/jobs/ingest.{provider}/trigger", json={})
        assert queued.status_code == 202, queued.text
        return self.wait_run(queued.json()["run"]["id"])


def _config(sandbox: SandboxServer, data: dict[str, Any]) -> None:
    urls = sandbox.base_urls()
    for name, section in data["providers"].items():
        section["enabled"] = True
        section["base_url"] = urls[name]
        section["retry"] = {"attempts": 1, "base_delay_seconds": 0, "timeout_seconds": 5}
    faulty = data["providers"][FAULTY]
    faulty["datasets"] = [d for d in faulty["datasets"] if d["series_id"] == FAULTY_SERIES]
    faulty["circuit_breaker"] = {"failure_threshold": 2, "open_minutes": 60}


def _clean(database_url: str, redis_url: str) -> None:
    """Leave no pause, recovery, breaker or call log behind for the suite's other tests."""
    from redis import Redis

    from app.resilience import call_log
    from app.resilience.quota_windows import windows

    jobs = [f"ingest.{p}" for p in PROVIDERS]
    sql(database_url, "DELETE FROM job_pauses WHERE job_id = ANY(%s)", jobs)
    sql(database_url, "DELETE FROM provider_recoveries WHERE provider = ANY(%s)", list(PROVIDERS))
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        for provider in PROVIDERS:
            redis.delete(
                call_log.calls_key(provider),
                f"external:provider_status:{provider}",
                *(window.key for window in windows(provider)),
            )
    finally:
        redis.close()


@pytest.fixture(scope="package")
def ui_sandbox() -> Iterator[SandboxServer]:
    """The browser tests' own provider sandbox (the suite's is per module; the app is not)."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="package")
def dashboard(
    database_url: str,
    redis_url: str,
    ui_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Dashboard]:
    """The app served once for every browser test (its start is the slow part)."""
    if chromium_path() is None:
        pytest.skip(skip_reason())
    sandbox = ui_sandbox
    workdir = tmp_path_factory.mktemp("ui")
    tenant = f"t{uuid.uuid4().hex[:8]}"
    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=None,
        log_format=LogFormat.JSON,
        replica_id=f"ui-{uuid.uuid4().hex[:6]}",
        tenant_id=tenant,
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_default="100000/minute",
        rate_limit_key_prefix=f"aurum:rl:ui:{uuid.uuid4().hex[:8]}",
        sandbox_collect_interval_seconds=0,
        scheduler_enabled=True,
        scheduler_sync_seconds=0.2,
        job_auto_pause_failures=100,
        provider_mode=ProviderMode.LIVE,
        provider_config_path=provider_file(workdir, lambda data: _config(sandbox, data)),
        _env_file=None,  # type: ignore[call-arg]
        **{field: SecretStr("a" * 32) for field in CREDENTIALS.values()},
    )
    # In a thread of its own: once Playwright's sync API runs, this thread has an event loop.
    with ThreadPoolExecutor(1) as pool:
        keys = {
            role: pool.submit(
                asyncio.run, new_api_key(database_url, role, f"ui-{role.value}")
            ).result()[0]
            for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
        }
    sandbox.control("DELETE", "faults")
    _clean(database_url, redis_url)
    try:
        with served(settings) as url:
            yield Dashboard(
                url=url,
                settings=settings,
                database_url=database_url,
                sandbox=sandbox,
                viewer_key=keys[Role.VIEWER],
                operator_key=keys[Role.OPERATOR],
                admin_key=keys[Role.ADMIN],
            )
    finally:
        sandbox.control("DELETE", "faults")
        _clean(database_url, redis_url)
        for table in ("external_timeseries_obs", "ingest_checkpoints"):
            sql(database_url, f"DELETE FROM {table} WHERE tenant_id = %s", tenant)
        jobs = [f"ingest.{p}" for p in PROVIDERS]
        sql(database_url, "DELETE FROM job_runs WHERE job_id = ANY(%s)", jobs)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) at 1280 px for each test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def shot(screenshots: Path) -> Callable[[Any, str], Path]:
    """`shot(page, name)`: a full-page screenshot saved as <name>.png in the printed folder."""

    def take(page: Any, name: str) -> Path:
        path = screenshots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
