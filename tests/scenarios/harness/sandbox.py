"""The provider sandbox as its own process (`python -m app.sandbox`), standing in for the four
live APIs, and its control API: faults, revisions, request counts and the truth."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx

from app.embedded.ports import free_port
from app.sandbox.control import BASE_PATHS
from tests.scenarios.harness.processes import Fatal, ManagedProcess, wait_until
from tests.support.processes import clean_env


class SandboxProcess:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: ManagedProcess | None = None
        self.http = httpx.Client(base_url=f"{self.url}/_sandbox", timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_urls(self) -> dict[str, str]:
        return {provider: self.url + path for provider, path in BASE_PATHS.items()}

    def start(self) -> SandboxProcess:
        self.proc = ManagedProcess(
            "sandbox",
            [sys.executable, "-m", "app.sandbox", "--port", str(self.port)],
            clean_env(),
            self.log_dir / "sandbox.log",
        )
        wait_until(self._up, timeout=30, what="the provider sandbox to answer")
        return self

    def _up(self) -> bool:
        if self.proc is None or not self.proc.alive:
            raise Fatal(f"the sandbox exited:\n{self.proc.log_tail() if self.proc else ''}")
        try:
            return self.http.get("/").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None:
            self.proc.kill()

    # --- the control API -------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, f"sandbox {method} {path}: {response.text}"
        return response.json()

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        fault: dict[str, Any] = self._call("POST", "/faults", rule)["fault"]
        return fault

    def fired(self, fault_id: int) -> int:
        """How many requests the rule has answered so far."""
        for rule in self._call("GET", "/faults")["faults"]:
            if rule["id"] == fault_id:
                return int(rule["fired"])
        raise LookupError(f"no fault {fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def advance(self, provider: str, keys: list[str]) -> dict[str, Any]:
        """Publish the next period of these series and revise their newest values."""
        result: dict[str, Any] = self._call("POST", "/advance", {"series": {provider: keys}})
        return result

    def truth(self, provider: str, key: str) -> list[dict[str, Any]]:
        observations: list[dict[str, Any]] = self._call("GET", f"/truth/{provider}/{key}")[
            "observations"
        ]
        return observations

    def frequency(self, provider: str, key: str) -> str:
        """The series' frequency as the sandbox generates it (daily, weekly, monthly...)."""
        return str(self._call("GET", f"/truth/{provider}/{key}")["frequency"])
