"""The service's HTTP API as an operator drives it (curl with an API key), one method per
runbook command the scenarios use. Responses are returned as they came, unchecked, unless a
method says it waits for or asserts something."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

ADMIN = "/v1/admin/external"


class Api:
    def __init__(self, base_url: str, key: str, timeout: float = 10) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
        return response.json()

    # --- health, breakers, flags, jobs --------------------------------------------------

    def health(self, provider: str) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"{ADMIN}/health/{provider}"))
        return body

    def health_overview(self) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"{ADMIN}/health"))
        return body

    def ratelimits(self) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"{ADMIN}/ratelimits"))
        return body

    def breaker(self, provider: str) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"{ADMIN}/circuit-breakers/{provider}"))
        return body

    def reset_breaker(self, provider: str) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(
            self.post(f"{ADMIN}/circuit-breakers/{provider}/reset", {"reason": "scenario"})
        )
        return body

    def set_flag(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        written: dict[str, Any] = self._ok(
            self.post(f"/runtime-config/v1/features/{name}?wait=true", body)
        )
        return written

    def pause(self, job: str) -> None:
        self._ok(self.post(f"{ADMIN}/jobs/{job}/pause", {"reason": "scenario: provider outage"}))

    def resume(self, job: str, reason: str | None = None) -> None:
        self._ok(self.post(f"{ADMIN}/jobs/{job}/resume", {"reason": reason} if reason else None))

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every scheduler job by id (paused, pause, last run...)."""
        body = self._ok(self.get(f"{ADMIN}/jobs"))
        return {job["id"]: job for job in body["jobs"]}

    def flag(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"/runtime-config/v1/features/{name}"))
        return body

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        """Audit entries, newest first (since/until/principal/action/target as the API takes)."""
        items: list[dict[str, Any]] = self._ok(
            self.get("/v1/admin/audit", params={"limit": 1000, **filters})
        )["items"]
        return items

    def trigger(self, job: str, **body: Any) -> str:
        queued = self._ok(self.post(f"{ADMIN}/jobs/{job}/trigger", body or None))
        return str(queued["run"]["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self.get(f"{ADMIN}/runs/{run_id}"))
        return body

    def runs(self, **filters: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._ok(
            self.get(f"{ADMIN}/runs", params={"limit": 100, **filters})
        )["items"]
        return items

    def finished(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        """Poll the run until it leaves queued/running."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run["status"] not in {"queued", "running"}:
                return run
            assert time.monotonic() < deadline, f"run {run_id} did not finish: {run}"
            time.sleep(0.1)

    def backfill(self, provider: str, start: str, end: str) -> list[str]:
        """Queue a backfill of every configured series of `provider`; the run ids."""
        body = {
            "providers": [{"name": provider}],
            "start": start,
            "end": end,
            "reason": "scenario: after the outage",
        }
        queued = self._ok(self.post(f"{ADMIN}/backfill", body))
        return [str(run["id"]) for run in queued.get("runs", [])]

    # --- the read API -------------------------------------------------------------------

    def observations_page(
        self, provider: str, series_id: str, cursor: str | None = None
    ) -> httpx.Response:
        # The id as one path segment, "/" included: what a client library sends.
        path = f"/v1/external/series/{provider}/{quote(series_id, safe='')}/observations"
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        return self.get(path, params=params)

    def cache_hit(self, provider: str, series_id: str) -> bool:
        """The first page of the series came from the read cache (`X-Cache: HIT`)."""
        return self.observations_page(provider, series_id).headers.get("X-Cache") == "HIT"

    def read_series(self, provider: str, series_id: str) -> list[tuple[str, float | None]]:
        """Every observation through the read API, page after page, in the order served."""
        rows: list[tuple[str, float | None]] = []
        cursor: str | None = None
        while True:
            page = self._ok(self.observations_page(provider, series_id, cursor))
            rows.extend((o["date"], o["value"]) for o in page["observations"])
            cursor = page.get("next_cursor")
            if not cursor:
                return rows
