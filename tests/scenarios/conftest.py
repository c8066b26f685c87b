"""Scenario fixtures: a provider sandbox process per module, and on failure the tail of every
log of the processes the module started, attached to the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import processes
from tests.scenarios.harness.sandbox import SandboxProcess


@pytest.fixture(scope="module", autouse=True)
def _reap_module_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a module started is killed when it ends, whatever its fixtures did."""
    before = set(map(id, processes.LIVE))
    processes.OWNER = request.module.__name__
    yield
    processes.STARTED.pop(request.module.__name__, None)
    for proc in list(processes.LIVE):
        if id(proc) not in before:
            proc.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed:
        return
    module = getattr(item, "module", None)
    for proc in processes.STARTED.get(module.__name__ if module else "", []):
        report.sections.append(
            (f"log of {proc.name} ({proc.log_path})", proc.log_tail(80) or "(empty)")
        )


@pytest.fixture(scope="module")
def scenario_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def sandbox(scenario_dir: Path) -> Iterator[SandboxProcess]:
    """The provider sandbox in its own process, the live provider of the module's service."""
    proc = SandboxProcess(scenario_dir / "logs").start()
    yield proc
    proc.stop()
