"""Sampling a running service while a dependency is faulted: every answer's status and time,
and the rules it broke (a 5xx that is not allowed, an answer over the budget, no answer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

# The 5xx statuses each probe (by name) may answer with.
Allowed = dict[str, set[int]]


@dataclass
class Probe:
    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    budget_seconds: float = 2.0
    check: Callable[[httpx.Response], str | None] | None = None  # a complaint, or None


@dataclass
class Sample:
    probe: str
    status: int | None  # None: no answer within the client timeout
    seconds: float
    complaint: str | None = None


def _error_shape(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {"error", "message", "request_id"} <= body.keys()


def _call(http: httpx.Client, probe: Probe) -> tuple[Sample, httpx.Response | None, str]:
    started = time.monotonic()
    try:
        response = http.get(probe.path, params=probe.params)
    except httpx.HTTPError as exc:
        return Sample(probe.name, None, time.monotonic() - started), None, repr(exc)
    seconds = time.monotonic() - started
    complaint = probe.check(response) if probe.check else None
    return Sample(probe.name, response.status_code, seconds, complaint), response, ""


def sample(
    base_url: str,
    key: str,
    probes: list[Probe],
    *,
    duration: float,
    allowed: Allowed | None = None,
) -> tuple[list[Sample], list[str]]:
    """Call every probe at once, round after round, for `duration` seconds (two rounds at
    least); the samples and the violations: a 5xx not in `allowed`, over the probe's budget,
    no answer within budget + 1 s, or the probe's own check failing."""
    allowed = allowed or {}
    samples: list[Sample] = []
    violations: list[str] = []
    end = time.monotonic() + duration
    rounds = 0
    timeout = max(p.budget_seconds for p in probes) + 1
    headers = {"X-API-Key": key}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as http,
        ThreadPoolExecutor(max_workers=len(probes)) as pool,
    ):
        while rounds < 2 or time.monotonic() < end:
            rounds += 1
            for probe, (got, response, error) in zip(
                probes, pool.map(lambda p: _call(http, p), probes), strict=True
            ):
                samples.append(got)
                if response is None:
                    violations.append(f"{probe.name}: no answer in {got.seconds:.1f}s ({error})")
                    continue
                code = response.status_code
                if code >= 500 and code not in allowed.get(probe.name, set()):
                    violations.append(f"{probe.name}: {code} {response.text[:300]}")
                elif code >= 400 and not _error_shape(response):
                    violations.append(f"{probe.name}: {code} not in the error shape")
                if got.seconds > probe.budget_seconds:
                    violations.append(
                        f"{probe.name}: {got.seconds:.2f}s, over its {probe.budget_seconds}s budget"
                    )
                if got.complaint:
                    violations.append(f"{probe.name}: {got.complaint}")
    return samples, violations
