"""The operator command line (`aurum`, i.e. `python -m app`) as on-call runs it against a
running service: a subprocess connected by AURUM_API_URL and AURUM_API_KEY only."""

from __future__ import annotations

import subprocess
import sys

from tests.scenarios.harness.service import ServiceProcess
from tests.support.processes import clean_env

# Plain, wide output: Rich neither colours nor wraps what the scenarios read.
PLAIN_TERMINAL = {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}


def run_cli(
    *args: str,
    service: ServiceProcess | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """`aurum *args`, its output captured. With `service`, connected to it with the bootstrap
    admin key; `env` adds settings. No other AURUM_* variable reaches the command."""
    connection: dict[str, str] = {}
    if service is not None:
        key = (service.data_dir / "bootstrap-admin-key").read_text().strip()
        connection = {"AURUM_API_URL": service.url, "AURUM_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=clean_env(**{**PLAIN_TERMINAL, **connection, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """What the command printed, for an assertion message."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
